"""The `smallcnn` command line: one subcommand per stage of the pipeline.

Every expected failure (bad data, bad arguments, missing files) is a `SmallCNNError` and ends as a
one-line `error: ...` message with exit status 2 -- never a traceback.
"""

import argparse
import sys

from smallcnn import data
from smallcnn.data import SmallCNNError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smallcnn", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_data_commands(sub)
    return parser


def add_data_commands(sub) -> None:
    """`smallcnn data`: show what is found where; `smallcnn data fetch NAME`: download and verify."""
    parser = sub.add_parser("data", help="show where each dataset is found and whether it is official")
    parser.add_argument("--data-dir", help="look only in this directory")
    parser.set_defaults(handler=show_data)
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION")
    fetch = actions.add_parser("fetch", help="download and verify a dataset (no-op if already verified)")
    fetch.add_argument("name", help=f"one of {', '.join(data.DATASETS)}")
    # SUPPRESS keeps `smallcnn data --data-dir DIR fetch NAME` from being reset to None by the subparser.
    fetch.add_argument("--data-dir", default=argparse.SUPPRESS, help="download into this directory")
    fetch.add_argument("--base-url", help="mirror to download from instead of the official URL's directory")
    fetch.set_defaults(handler=fetch_data)


def show_data(args) -> int:
    """Report every dataset; a found one is fully parsed, so a broken file ends the command with exit 2."""
    first_error = None
    for name, spec in data.DATASETS.items():
        directory = data.find_dataset(name, args.data_dir)
        if directory is None:
            print(f"{spec['title']}: not found")
            continue
        try:
            dataset = data.load_dataset(name, directory, download=False)
            print(f"{spec['title']}: {directory} -- {len(dataset.train_labels)} train / "
                  f"{len(dataset.test_labels)} test, {len(dataset.classes)} classes; {dataset.identity}")
        except SmallCNNError as exc:
            print(f"{spec['title']}: {directory} -- unusable (see error below)")
            first_error = first_error or exc
        for fname, status in data.file_status(name, directory).items():
            print(f"  {fname:28} {status}")
    if first_error:
        raise first_error
    return 0


def fetch_data(args) -> int:
    directory = data.find_dataset(args.name, args.data_dir)
    verified = directory is not None and set(data.file_status(args.name, directory).values()) == {"official"}
    if not verified:
        directory = data.download_dataset(args.name, args.data_dir, args.base_url)
    dataset = data.load_dataset(args.name, directory, download=False)
    print(f"{dataset.location}: {dataset.identity}")
    return 0


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args) or 0
    except SmallCNNError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
