"""The `smallcnn` command line: one subcommand per stage of the pipeline.

Every expected failure (bad data, bad arguments, missing files) is a `SmallCNNError` and ends as a
one-line `error: ...` message with exit status 2 -- never a traceback.
"""

import argparse
import sys
import time
from dataclasses import fields

import torch

from smallcnn import datafiles, datastore, distributed
from smallcnn.core.data import AUGMENTATIONS
from smallcnn.core.models import VARIANTS, build_model, count_parameters
from smallcnn.core.train import MIN_EPOCHS
from smallcnn.datasets import DATASETS, canonical_name, dataset_shape
from smallcnn.files import SmallCNNError, check_writable
from smallcnn.notebook.check import add_check_command
from smallcnn.report import write_run_report
from smallcnn.runfolder import resolve_saved
from smallcnn.settings import RunConfig, pick_device, resolve
from smallcnn.studyrun import run_study_command
from smallcnn.trainrun import run_training

DEVICE_HELP = "auto (torch's accelerator when present: CUDA or Apple MPS; else the CPU), cpu, cuda, cuda:N or mps"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smallcnn", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_data_commands(sub)
    add_model_command(sub)
    add_train_command(sub)
    add_compare_command(sub)
    add_study_command(sub)
    add_notebook_command(sub)
    add_check_command(sub)
    return parser


def add_data_commands(sub) -> None:
    """`smallcnn data`: show what is found where; `smallcnn data fetch NAME`: download and verify."""
    parser = sub.add_parser("data", help="show where each dataset is found and whether it is official")
    parser.add_argument("--data-dir", help="look only in this directory")
    add_unofficial_flag(parser)
    parser.set_defaults(handler=data_command)
    actions = parser.add_subparsers(dest="data_action", metavar="ACTION")
    fetch = actions.add_parser("fetch", help="download and verify a dataset (no-op if already verified)")
    fetch.add_argument("name", help=f"one of {', '.join(DATASETS)}")
    # SUPPRESS keeps `smallcnn data --data-dir DIR fetch NAME` from being reset to None by the subparser.
    fetch.add_argument("--data-dir", default=argparse.SUPPRESS, help="download into this directory")
    fetch.add_argument("--base-url", help="mirror to download from instead of the official URL's directory")
    fetch.set_defaults(handler=fetch_command)


def data_command(args: argparse.Namespace) -> int:
    """Report every dataset; a found one is fully loaded, so a broken file ends the command with exit 2."""
    first_error = None
    for name, spec in DATASETS.items():
        try:
            source = datastore.find_source(name, args.data_dir, args.allow_unofficial_data)
            if source is None:
                print(f"{spec['title']}: not found")
                continue
            dataset = datastore.load_source(source)
            print(f"{spec['title']}: {source.location} -- {len(dataset.train_labels)} train / "
                  f"{len(dataset.test_labels)} test, {len(dataset.classes)} classes; {dataset.identity}")
        except SmallCNNError as exc:
            print(f"{spec['title']}: unusable (see error below)")
            first_error = first_error or exc
            continue
        if str(source.files_dir) != source.location:
            print(f"  read from the prepared copy {source.files_dir}")
        for fname, status in datafiles.file_status(name, source.files_dir).items():
            print(f"  {fname:28} {status}")
    if first_error:
        raise first_error
    return 0


def fetch_command(args: argparse.Namespace) -> int:
    source = datastore.fetch(args.name, args.data_dir, args.base_url)
    print(f"{source.location}: {source.identity}")
    return 0


def add_model_command(sub) -> None:
    p = sub.add_parser("model", help="print the layer table of a model: output shapes and parameters")
    p.add_argument("dataset", nargs="?", default="fashion-mnist", help="fashion-mnist, cifar10 or cifar100")
    p.add_argument("--variant", default="spec", choices=VARIANTS, metavar="NAME",
                   help=f"one of: {', '.join(VARIANTS)}")
    p.set_defaults(handler=model_command)


def model_command(args: argparse.Namespace) -> int:
    channels, side, classes = dataset_shape(args.dataset)
    model = build_model(args.variant, channels, side, classes)
    print(f"{args.variant} model for {canonical_name(args.dataset)}: input {channels}x{side}x{side}, "
          f"{classes} classes")
    print(f"{'layer':<32}{'output shape':<18}{'parameters':>10}")
    x = torch.zeros(1, channels, side, side)
    for name, layer in [*model.features.named_children(), ("fc", model.fc)]:
        x = layer(x.flatten(1) if layer is model.fc else x)
        params = sum(p.numel() for p in layer.parameters())
        print(f"{name + ' ' + type(layer).__name__:<32}{'x'.join(map(str, x.shape[1:])):<18}{params:>10,}")
    print(f"{'total':<50}{count_parameters(model):>10,}")
    return 0


def add_train_command(sub) -> None:
    p = sub.add_parser("train", help="train a model and write metrics, plots and a report to --out")
    p.add_argument("dataset", nargs="?", help="fashion-mnist, cifar10 or cifar100 (not with --resume)")
    p.add_argument("--out", help="output directory (default runs/DATASET-VARIANT)")
    p.add_argument("--resume", metavar="DIR", help="continue the interrupted run in DIR")
    p.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    p.add_argument("--data-dir", help="directory holding the dataset (used as given, never replaced)")
    # Every recipe setting defaults to None, "not given": the dataset's recipe (core RECIPES) then decides.
    p.add_argument("--variant", metavar="NAME", help=f"one of: {', '.join(VARIANTS)} (default spec)")
    p.add_argument("--epochs", type=int, help=f"default: the dataset's recipe; fewer than {MIN_EPOCHS} with a warning")
    p.add_argument("--batch-size", type=int, help="default per dataset (see core/train.py RECIPES)")
    p.add_argument("--lr", type=float, help="peak learning rate (default per dataset)")
    p.add_argument("--momentum", type=float)
    p.add_argument("--no-nesterov", dest="nesterov", action="store_false", default=None)
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--label-smoothing", type=float)
    p.add_argument("--augment", metavar="NAME", help=f"one of: {', '.join(AUGMENTATIONS)} (default per dataset)")
    p.add_argument("--test-flips", action=argparse.BooleanOptionalAction, default=None,
                   help="evaluate each image and its mirror image, averaging the two (needs a flip augmentation)")
    p.add_argument("--val-fraction", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--subset", type=int, help="train on this many images only (quick checks)")
    p.add_argument("--device", default="auto", help=DEVICE_HELP + " (under torchrun: each process its own "
                                                                  "cuda:LOCAL_RANK)")
    p.add_argument("--amp", action="store_true", default=None,
                   help="bfloat16 autocast around the forward pass (CUDA only)")
    p.add_argument("--deterministic", action="store_true", default=None,
                   help="deterministic CUDA kernels, so that a CUDA run repeats and resumes bit for bit (slower)")
    add_unofficial_flag(p)
    p.set_defaults(handler=train_command)


def add_unofficial_flag(p) -> None:
    p.add_argument("--allow-unofficial-data", action="store_true",
                   help="load CIFAR files whose checksums differ from the official ones (only files you made "
                        "yourself: unpickling can run code); every result is then marked NOT official")


# Every setting of a run that the command line can give: the config's fields, and the device.
TRAIN_SETTINGS = (*(f.name for f in fields(RunConfig) if f.name != "dataset"), "device")


def warn_few_epochs(epochs: int) -> None:
    if epochs < MIN_EPOCHS and distributed.rank() == 0:
        print(f"warning: {epochs} epochs is below the assignment's minimum of {MIN_EPOCHS}", file=sys.stderr)


def train_command(args: argparse.Namespace) -> int:
    if args.resume:
        distributed.join()  # rank 0 reads the run's config.json and shares it
        out = args.resume
        config, device = resolve_saved(out)
    elif not args.dataset:
        raise SmallCNNError("name a dataset (fashion-mnist, cifar10, cifar100) or pass --resume DIR")
    else:
        config, device = resolve(canonical_name(args.dataset), {name: getattr(args, name) for name in TRAIN_SETTINGS})
        warn_few_epochs(config.epochs)
        out = args.out or f"runs/{config.dataset}-{config.variant}"
    # run_training checks the run folder (writable, not another run's) before it loads any data.
    result = run_training(config, device, out, data_dir=args.data_dir, overwrite=args.overwrite,
                          resume=bool(args.resume), allow_unofficial=args.allow_unofficial_data)
    if distributed.rank() == 0:  # under torchrun, rank 0 alone writes files and prints
        print(f"report: {write_run_report(result)}")
    return 0


def add_compare_command(sub) -> None:
    p = sub.add_parser("compare", help="rank CNN runs against Table 3 of the Fashion-MNIST paper and "
                                       "scikit-learn baselines measured on the same split")
    p.add_argument("dataset", help="fashion-mnist (the only dataset Table 3 covers)")
    p.add_argument("--run", action="append", default=[], metavar="DIR",
                   help="a finished CNN run (repeatable; default runs/fashion-mnist-spec, trained if missing)")
    p.add_argument("--quick", action="store_true",
                   help="measure only the fastest baselines, each on a small subsample (well under a minute)")
    p.add_argument("--whole-split", action="store_true",
                   help="fit every baseline on the whole training split, as the paper did (slow: most of an "
                        "hour on 2 cores, half of it the L1 logistic regression)")
    p.add_argument("--out", help="output directory (default runs/compare-fashion-mnist[-quick|-whole-split])")
    p.add_argument("--data-dir", help="directory holding the dataset (used as given, never replaced)")
    p.set_defaults(handler=compare_command)


def compare_command(args: argparse.Namespace) -> int:
    from smallcnn.baselines import run_compare  # scikit-learn loads only for this command

    start = time.perf_counter()
    ranked, out = run_compare(args.dataset, args.run, quick=args.quick, out=args.out, data_dir=args.data_dir,
                              whole_split=args.whole_split)
    for row in ranked:
        print(f"{row['rank']:>3}  {row['accuracy']:7.2%}  {row['source']:<10} {row['name']}")
    print(f"comparison: {out / 'comparison.md'} ({time.perf_counter() - start:.0f} s)")
    return 0


def add_study_command(sub) -> None:
    p = sub.add_parser("study", help="train the architecture-study entries under a time budget; write a table")
    p.add_argument("dataset", nargs="?", default="cifar100", help="the dataset (default cifar100)")
    p.add_argument("--budget-minutes", type=float, default=20.0, help="skip entries that would not fit (default 20)")
    p.add_argument("--variants", help="comma-separated study entries (default: all)")
    p.add_argument("--out", default="runs/study", help="output directory (default runs/study)")
    p.add_argument("--data-dir", help="directory holding the dataset (used as given, never replaced)")
    p.add_argument("--epochs", type=int, help="epochs per entry (default: the dataset's recipe)")
    p.add_argument("--subset", type=int, help="train on this many images only (quick checks)")
    p.add_argument("--seed", type=int, help="random seed (default: the recipe's, 0)")
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument("--jobs", type=int, default=1,
                   help="train this many entries at a time in worker processes, sharing the threads (default 1)")
    add_unofficial_flag(p)
    p.set_defaults(handler=study_command)


def study_command(args: argparse.Namespace) -> int:
    names = [n.strip() for n in args.variants.split(",") if n.strip()] if args.variants is not None else None
    if names == []:
        raise SmallCNNError("--variants names no study entry; leave it out to study them all")
    base, device = resolve(canonical_name(args.dataset), {"epochs": args.epochs, "subset": args.subset,
                                                          "seed": args.seed, "device": args.device})
    warn_few_epochs(base.epochs)
    rows, chosen = run_study_command(args.out, base, device, names, args.budget_minutes, args.data_dir,
                                     args.allow_unofficial_data, args.jobs)
    skipped = [r["entry"] for r in rows if r["status"] != "ran"]
    print(f"chosen on validation: {chosen}; table: {args.out}/study.md"
          + (f"; skipped (over budget): {', '.join(skipped)}" if skipped else ""))
    return 0


def add_notebook_command(sub) -> None:
    p = sub.add_parser("notebook", help="build and execute the deliverable: the course's starter notebook, completed")
    p.add_argument("--out", metavar="FILE", required=True, help="write the executed notebook here")
    p.add_argument("--quick", action="store_true",
                   help="a smoke test (5,000 images, 2 epochs), marked incomplete in its first cell")
    p.add_argument("--data-dir", help="directory holding the datasets (default: the data layer's usual places)")
    p.add_argument("--allow-incomplete", action="store_true",
                   help="exit 0 even if Part 2 could not run (no official CIFAR-100 here and no network)")
    p.add_argument("--html", action="store_true", help="also write FILE with .html")
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.set_defaults(handler=notebook_command)


def notebook_command(args: argparse.Namespace) -> int:
    from smallcnn.notebook.build import make_notebook  # nbformat/nbclient load only for this command

    device = args.device if args.device == "auto" else str(pick_device(args.device))  # a bad one: one line, now
    check_writable(args.out, directory=False)  # before the notebook is built and run
    make_notebook(args.out, quick=args.quick, data_dir=args.data_dir, device=device,
                  allow_incomplete=args.allow_incomplete, html=args.html)
    print(f"notebook: {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    together = False  # under torchrun: did every process end here alike? (see distributed.leave)
    try:
        status, together = args.handler(args) or 0, True
        return status
    except (SmallCNNError, FloatingPointError) as exc:
        # Under torchrun every process meets most errors alike (bad settings, a non-finite loss, Ctrl-C): rank 0
        # alone prints them. An error of one process's own (a PerProcessError) each prints; it, and an error
        # met out of step (an OutOfStepError: Ctrl-C), leave without waiting for the others (see distributed.py).
        alone = isinstance(exc, distributed.PerProcessError)
        together = not isinstance(exc, (distributed.PerProcessError, distributed.OutOfStepError))
        if distributed.rank() == 0 or alone:
            print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if distributed.rank() == 0:
            print("interrupted", file=sys.stderr)
        return 130
    finally:
        distributed.leave(together)
