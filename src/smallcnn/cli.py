"""The `smallcnn` command line: one subcommand per stage of the pipeline.

Every expected failure (bad data, bad arguments, missing files) is a `SmallCNNError` and ends as a
one-line `error: ...` message with exit status 2 -- never a traceback.
"""

import argparse
import sys

from smallcnn.data import SmallCNNError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smallcnn", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_data_commands(sub)
    return parser


def add_data_commands(sub) -> None:
    """`smallcnn data`: show what is found where; `smallcnn data fetch NAME`: download and verify."""
    raise NotImplementedError  # filled in by the data layer


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
