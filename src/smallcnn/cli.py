"""The `smallcnn` command line: one subcommand per stage of the pipeline.

Every expected failure (bad data, bad arguments, missing files) is a `SmallCNNError` and ends as a
one-line `error: ...` message with exit status 2 -- never a traceback.
"""

import argparse
import sys
import time

from smallcnn import data
from smallcnn.augment import AUGMENTATIONS
from smallcnn.data import SmallCNNError, canonical_name, dataset_shape
from smallcnn.models import VARIANTS, build_model, count_parameters, layer_table
from smallcnn.train import MIN_EPOCHS, SCHEDULES, TrainConfig, default_config, run_training


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smallcnn", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_data_commands(sub)
    add_model_command(sub)
    add_train_command(sub)
    add_compare_command(sub)
    add_study_command(sub)
    add_notebook_command(sub)
    add_bench_command(sub)
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


def add_model_command(sub) -> None:
    p = sub.add_parser("model", help="print the layer table of a model: output shapes and parameters")
    p.add_argument("dataset", nargs="?", default="fashion-mnist", help="fashion-mnist, cifar10 or cifar100")
    p.add_argument("--variant", default="spec", choices=VARIANTS, metavar="NAME",
                   help=f"one of: {', '.join(VARIANTS)}")
    p.set_defaults(handler=show_model)


def show_model(args) -> int:
    channels, side, classes = dataset_shape(args.dataset)
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
    p.add_argument("--lr", type=float, help=f"peak learning rate (default per dataset; {defaults.lr} for fashion-mnist)")
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
    p.add_argument("--quick", action="store_true",
                   help="measure only the fastest baselines, each on a small subsample (well under a minute)")
    p.add_argument("--whole-split", action="store_true",
                   help="fit every baseline on the whole training split, as the paper did (slow: most of an "
                        "hour on 2 cores, half of it the L1 logistic regression)")
    p.add_argument("--out", help="output directory (default runs/compare-fashion-mnist[-quick|-whole-split])")
    p.add_argument("--data-dir", help="directory holding the dataset (used as given, never replaced)")
    p.set_defaults(handler=compare_command)


def compare_command(args) -> int:
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
    p.add_argument("--epochs", type=int, help=f"epochs per entry (default {MIN_EPOCHS})")
    p.add_argument("--subset", type=int, default=0, help="train on this many images only (quick checks)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--throughput", metavar="FILE",
                   help="instead of training, measure epochs/minute of every entry on random CIFAR-shaped input "
                        "and write the table to FILE")
    p.set_defaults(handler=study_command)


def study_command(args) -> int:
    from smallcnn import study  # matplotlib and the study only load when asked for

    names = [n.strip() for n in args.variants.split(",") if n.strip()] if args.variants else None
    entries = study.select_entries(names)
    if args.throughput:
        command = f"smallcnn study {args.dataset} --throughput {args.throughput}" + (
            f" --variants {args.variants}" if args.variants else "")
        study.write_throughput_benchmark(args.throughput, command, entries)
        print(f"throughput: {args.throughput}")
        return 0
    if args.epochs is not None and args.epochs < MIN_EPOCHS:
        print(f"warning: {args.epochs} epochs is below the assignment's minimum of {MIN_EPOCHS}", file=sys.stderr)
    rows = study.run_study(args.out, canonical_name(args.dataset), entries, args.budget_minutes, args.epochs,
                           args.data_dir, args.subset, args.seed)
    skipped = [r["entry"] for r in rows if r["status"] != "ran"]
    print(f"table: {args.out}/study.md" + (f"; skipped (over budget): {', '.join(skipped)}" if skipped else ""))


def add_notebook_command(sub) -> None:
    p = sub.add_parser("notebook", help="build and execute the assignment notebook, or check one")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--out", metavar="FILE", help="build, execute, check and save the notebook here")
    mode.add_argument("--check", metavar="FILE", help="validate an executed notebook; exit 1 listing what is wrong")
    p.add_argument("--quick", action="store_true", help="a small fast version for tests (5,000 images, 2 epochs)")
    p.add_argument("--data-dir", help="directory holding the datasets (default: the data layer's usual places)")
    p.set_defaults(handler=notebook_command)


def notebook_command(args) -> int:
    from smallcnn.notebook import check_file, make_notebook  # nbformat/nbclient load only for this command

    if args.check and (args.quick or args.data_dir):
        raise SmallCNNError("--quick and --data-dir apply to building (--out), not to --check")
    if args.out:
        print(make_notebook(args.out, quick=args.quick, data_dir=args.data_dir))
        print(f"notebook: {args.out}")
        return 0
    problems, summary = check_file(args.check)
    if problems:
        print(f"{args.check}: {len(problems)} problem{'s' * (len(problems) != 1)}:", file=sys.stderr)
        print("\n".join(f"  - {problem}" for problem in problems), file=sys.stderr)
        return 1
    print(f"{args.check}: {summary}")
    return 0


def add_bench_command(sub) -> None:
    p = sub.add_parser("bench", help="time smallcnn's training and evaluation against the usual notebook pipeline")
    p.add_argument("--quick", action="store_true", help="a < 30 s version (2,000 images, 2 repetitions)")
    p.add_argument("--levers", action="store_true",
                   help="also profile the training step and measure each speed lever against the shipped setting")
    p.add_argument("--full-run", action="store_true", help="also time the whole default Fashion-MNIST run (~45 s)")
    p.add_argument("--seeds", default="0", help="comma-separated seeds of the full runs (default 0), e.g. 0,1,2")
    p.add_argument("--images", type=int, help="training images per measurement (default 20,000; 2,000 with --quick)")
    p.add_argument("--reps", type=int, help="interleaved repetitions (default 3; 2 with --quick)")
    p.add_argument("--threads", type=int, help="torch threads for both pipelines (default: torch's, one per core)")
    p.add_argument("--write-readme", nargs="?", const="benchmarks/README.md", metavar="PATH",
                   help="write the report into the generated section of PATH (default benchmarks/README.md)")
    p.set_defaults(handler=bench_command)


def bench_command(args) -> int:
    from smallcnn.bench import run_bench, write_readme

    try:
        seeds = [int(seed) for seed in args.seeds.split(",")]
    except ValueError:
        raise SmallCNNError(f"--seeds takes comma-separated integers, e.g. 0,1,2 (got {args.seeds!r})") from None
    lines = run_bench(quick=args.quick, full_run=args.full_run, levers=args.levers, images=args.images,
                      reps=args.reps, num_threads=args.threads, seeds=seeds)
    print("\n".join(lines))
    if args.write_readme:
        flags = [flag for flag, on in (("--quick", args.quick), ("--levers", args.levers),
                                       ("--full-run", args.full_run)) if on]
        flags += [f"--{name} {value}" for name, value in
                  (("images", args.images), ("reps", args.reps), ("threads", args.threads)) if value]
        if args.full_run:
            flags.append(f"--seeds {args.seeds}")
        write_readme(args.write_readme, " ".join(["smallcnn bench", *flags, "--write-readme"]), lines)
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
