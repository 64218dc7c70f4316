"""The `smallcnn` command line: one subcommand per stage of the pipeline.

Every expected failure (bad data, bad arguments, missing files) is a `SmallCNNError` and ends as a
one-line `error: ...` message with exit status 2 -- never a traceback.
"""

import argparse
import sys
import time

from smallcnn.data import SmallCNNError, canonical_name
from smallcnn.models import VARIANTS, build_model, count_parameters, layer_table
from smallcnn.train import MIN_EPOCHS, SCHEDULES, TrainConfig, default_config, run_training
from smallcnn.augment import AUGMENTATIONS

DATASET_SHAPES = {"fashion-mnist": (1, 28, 10), "cifar10": (3, 32, 10), "cifar100": (3, 32, 100)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smallcnn", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_data_commands(sub)
    add_model_command(sub)
    add_train_command(sub)
    add_compare_command(sub)
    return parser


def add_data_commands(sub) -> None:
    """`smallcnn data`: show what is found where; `smallcnn data fetch NAME`: download and verify."""
    return None  # the data layer (branch `data`) registers these


def add_model_command(sub) -> None:
    p = sub.add_parser("model", help="print the layer table of a model: output shapes and parameters")
    p.add_argument("dataset", nargs="?", default="fashion-mnist", help="fashion-mnist, cifar10 or cifar100")
    p.add_argument("--variant", default="spec", choices=VARIANTS, metavar="NAME",
                   help=f"one of: {', '.join(VARIANTS)}")
    p.set_defaults(handler=show_model)


def show_model(args) -> int:
    channels, side, classes = DATASET_SHAPES[canonical_name(args.dataset)]
    model = build_model(args.variant, channels, side, classes)
    print(f"{args.variant} model for {canonical_name(args.dataset)}: input {channels}x{side}x{side}, "
          f"{classes} classes")
    print(f"{'layer':<28}{'output shape':<18}{'parameters':>10}")
    for name, shape, params in layer_table(model, (channels, side, side)):
        print(f"{name:<28}{'x'.join(map(str, shape)):<18}{params:>10,}")
    print(f"{'total':<46}{count_parameters(model):>10,}")
    return 0


def add_train_command(sub) -> None:
    p = sub.add_parser("train", help="train a model and write metrics, plots and a report to --out")
    p.add_argument("dataset", nargs="?", help="fashion-mnist, cifar10 or cifar100 (not with --resume)")
    p.add_argument("--out", help="output directory (default runs/DATASET-VARIANT)")
    p.add_argument("--resume", metavar="DIR", help="continue the interrupted run in DIR")
    p.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    p.add_argument("--data-dir", help="directory holding the dataset (used as given, never replaced)")
    defaults = TrainConfig()
    p.add_argument("--variant", default=defaults.variant, metavar="NAME", help=f"one of: {', '.join(VARIANTS)}")
    p.add_argument("--epochs", type=int, help=f"default {MIN_EPOCHS}; fewer only with a warning")
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--lr", type=float, default=defaults.lr, help="peak learning rate")
    p.add_argument("--momentum", type=float, default=defaults.momentum)
    p.add_argument("--no-nesterov", dest="nesterov", action="store_false")
    p.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    p.add_argument("--schedule", default=defaults.schedule, metavar="NAME", help=f"one of: {', '.join(SCHEDULES)}")
    p.add_argument("--label-smoothing", type=float, default=defaults.label_smoothing)
    p.add_argument("--augment", metavar="NAME", help=f"one of: {', '.join(AUGMENTATIONS)} (default per dataset)")
    p.add_argument("--val-fraction", type=float, default=defaults.val_fraction)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--tta", action="store_true", help="also report test accuracy with flip averaging")
    p.add_argument("--subset", type=int, default=0, help="train on this many images only (quick checks)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.set_defaults(handler=train_command)


def train_config_from_args(args) -> TrainConfig:
    overrides = {name: getattr(args, name) for name in (
        "variant", "epochs", "batch_size", "lr", "momentum", "nesterov", "weight_decay", "schedule",
        "label_smoothing", "augment", "val_fraction", "seed", "tta", "subset", "device")
        if getattr(args, name) is not None}
    return default_config(canonical_name(args.dataset), **overrides).check()


def train_command(args) -> int:
    from smallcnn.report import write_run_report  # matplotlib is only needed once a run has finished

    if args.resume:
        config, out = None, args.resume
    elif not args.dataset:
        raise SmallCNNError("name a dataset (fashion-mnist, cifar10, cifar100) or pass --resume DIR")
    else:
        config = train_config_from_args(args)
        if config.epochs < MIN_EPOCHS:
            print(f"warning: {config.epochs} epochs is below the assignment's minimum of {MIN_EPOCHS}",
                  file=sys.stderr)
        out = args.out or f"runs/{config.dataset}-{config.variant}"
    result = run_training(config, out, data_dir=args.data_dir, overwrite=args.overwrite, resume=bool(args.resume))
    print(f"report: {write_run_report(result)}")
    return 0


def add_compare_command(sub) -> None:
    p = sub.add_parser("compare", help="rank CNN runs against Table 3 of the Fashion-MNIST paper and "
                                       "scikit-learn baselines measured on the same split")
    p.add_argument("dataset", help="fashion-mnist (the only dataset Table 3 covers)")
    p.add_argument("--run", action="append", default=[], metavar="DIR",
                   help="a finished CNN run (repeatable; default runs/fashion-mnist-spec, trained if missing)")
    p.add_argument("--quick", action="store_true", help="train every baseline on a small subsample (~2 minutes)")
    p.add_argument("--out", help="output directory (default runs/compare-fashion-mnist[-quick])")
    p.add_argument("--data-dir", help="directory holding the dataset (used as given, never replaced)")
    p.set_defaults(handler=compare_command)


def compare_command(args) -> int:
    from smallcnn.baselines import run_compare  # scikit-learn loads only for this command

    start = time.perf_counter()
    ranked, out = run_compare(args.dataset, args.run, quick=args.quick, out=args.out, data_dir=args.data_dir)
    for row in ranked:
        print(f"{row['rank']:>3}  {row['accuracy']:7.2%}  {row['source']:<10} {row['name']}")
    print(f"comparison: {out / 'comparison.md'} ({time.perf_counter() - start:.0f} s)")
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
