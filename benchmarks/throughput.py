"""Epochs per minute of every Part 2 study entry on CIFAR-shaped input: benchmarks/cifar_throughput.md.

    python benchmarks/throughput.py --out benchmarks/cifar_throughput.md [--entries spec,wide-bn] [--steps 6]

Timing only: random 3x32x32 images with 100 classes, the real SGD step of each entry (its model, its
augmentation, its label smoothing), batch 128. Two figures per entry besides the wall clock: a projection
for a machine whose cores are ours alone (from CPU time) and an ideal one (single-thread CPU time, perfect
scaling). Without --out the table is printed.
"""

import argparse
import dataclasses
import math
import os
import sys
import time
from pathlib import Path

import torch
from torch import nn

from smallcnn.core.models import build_model, count_parameters
from smallcnn.core.study import STUDY
from smallcnn.core.train import augment, default_config, train_step
from smallcnn.datastore import DATASETS, dataset_shape
from smallcnn.files import SmallCNNError, write_text

# CIFAR-100's training images less the validation split: the images of one training epoch.
CIFAR_TRAIN_IMAGES = round(DATASETS["cifar100"]["sizes"][0] * (1 - default_config("cifar100").val_fraction))


def entry_config(name, base):
    """(model variant, recipe) of one study entry: the base recipe with the entry's changes."""
    variant, changes, _ = STUDY[name]
    changes = dict(changes)
    epochs = base.epochs * changes.pop("epochs_factor", 1)
    return variant, dataclasses.replace(base, epochs=epochs, **changes)


def time_training_steps(model, images, labels, config, steps):
    """Wall and CPU seconds per image of real SGD steps (augmentation, forward, backward, update).

    One untimed step first: oneDNN picks its kernels on the first call, which would inflate the timing.
    CPU time is measured too because wall time on a shared machine mostly measures the other users.
    The learning rate is small and constant: the cost of a step does not depend on it, and random
    labels at the recipe's peak rate could diverge.
    """
    criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=config.momentum,
                                nesterov=config.nesterov and config.momentum > 0, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    model.train()

    def step(i):
        idx = torch.arange(i * config.batch_size, (i + 1) * config.batch_size) % labels.shape[0]
        train_step(model, augment(images[idx], config.augment, generator), labels[idx], criterion, optimizer)

    step(0)
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(1, steps + 1):
        step(i)
    seen = steps * config.batch_size
    return (time.perf_counter() - wall) / seen, (time.process_time() - cpu) / seen


def single_thread_cpu_seconds(model, images, labels, config, steps):
    """CPU seconds per image on one thread: no OpenMP spin-waiting, so it is the work itself."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return time_training_steps(model, images, labels, config, steps)[1]
    finally:
        torch.set_num_threads(threads)


def throughput_row(name, config, params, wall, cpu, single_cpu, threads, n_images=CIFAR_TRAIN_IMAGES):
    """One table row from seconds per image: measured, projected (CPU time) and ideal epochs per minute."""
    return {"entry": name, "params": params, "augment": config.augment, "epochs": config.epochs,
            "measured_epochs_per_minute": 60 / (wall * n_images),
            "projected_epochs_per_minute": 60 * threads / (cpu * n_images),
            "ideal_epochs_per_minute": 60 * threads / (single_cpu * n_images)}


def measure_throughput(entries=None, steps=6, n_images=CIFAR_TRAIN_IMAGES, seed=0):
    """Epochs per minute of each study entry (smallcnn.core.study.STUDY) on random CIFAR-100-shaped images."""
    torch.manual_seed(seed)
    base = default_config("cifar100", seed=seed)
    channels, side, classes = dataset_shape("cifar100")
    images = torch.randn(base.batch_size * 8, channels, side, side).contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, classes, (images.shape[0],))
    threads = torch.get_num_threads()
    rows = []
    for name in entries or STUDY:
        variant, config = entry_config(name, base)
        model = build_model(variant, channels, side, classes).to(memory_format=torch.channels_last)
        wall, cpu = time_training_steps(model, images, labels, config, steps)
        single_cpu = single_thread_cpu_seconds(model, images, labels, config, steps)
        rows.append(throughput_row(name, config, count_parameters(model), wall, cpu, single_cpu, threads, n_images))
    return rows


def epochs_within(minutes, epochs_per_minute, evaluation_share=1 / 3, val_fraction=1 / 9):
    """Whole epochs that fit `minutes`, leaving time for the per-epoch validation pass (forward only):
    the validation split is val_fraction of the training images, at evaluation_share of the cost each."""
    return math.floor(minutes * epochs_per_minute / (1 + evaluation_share * val_fraction))


def throughput_markdown(rows, command, minutes=20, n_images=CIFAR_TRAIN_IMAGES):
    load = os.getloadavg()
    lines = [
        "# Training throughput on CIFAR-shaped input", "",
        f"Generated by `benchmarks/throughput.py` with `{command}` on {time.strftime('%Y-%m-%d %H:%M')}.",
        f"Random 3x32x32 images, 100 classes, batch {default_config('cifar100').batch_size}, each entry's own "
        f"augmentation; one epoch = {n_images:,} training images. torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} / "
        f"{load[2]:.1f} (1 / 5 / 15 min) at the end.", "",
        "*Measured* is wall clock on this shared machine, which mostly measures the other users. *Projected* "
        "assumes the cores are ours alone and divides by the CPU time of the same steps; OpenMP threads "
        "spinning while the other users hold a core count as CPU time, so it is a lower bound on speed. "
        "*Ideal* divides by single-thread CPU time (no spinning) and assumes perfect scaling over the threads: "
        "an upper bound. Budgets below use the conservative *projected* figure.", "",
        f"| entry | parameters | augmentation | measured epochs/min | projected epochs/min | ideal epochs/min | "
        f"projected epochs in {minutes} min |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['entry']} | {r['params']:,} | {r['augment']} | {r['measured_epochs_per_minute']:.3f} | "
                     f"{r['projected_epochs_per_minute']:.3f} | {r['ideal_epochs_per_minute']:.3f} | "
                     f"{epochs_within(minutes, r['projected_epochs_per_minute'])} |")
    fitting = [r["entry"] for r in rows if epochs_within(minutes, r["projected_epochs_per_minute"]) >= r["epochs"]]
    lines += ["", f"Entries whose own epoch count ({', '.join(sorted({str(r['epochs']) for r in rows}))}) is "
                  f"projected to fit {minutes} minutes: {', '.join(fitting) or 'none'}.", ""]
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python benchmarks/throughput.py", description=__doc__.splitlines()[0])
    p.add_argument("--out", metavar="FILE", help="write the table here (e.g. benchmarks/cifar_throughput.md)")
    p.add_argument("--entries", help=f"comma-separated study entries (default all: {', '.join(STUDY)})")
    p.add_argument("--steps", type=int, default=6, help="timed SGD steps per entry (default 6)")
    args = p.parse_args(argv)
    entries = args.entries.split(",") if args.entries else None
    unknown = [name for name in entries or () if name not in STUDY]
    if unknown or args.steps < 1:
        problem = (f"unknown study entries {', '.join(unknown)}; choose from: {', '.join(STUDY)}" if unknown
                   else f"--steps must be >= 1 (got {args.steps})")
        print(f"error: {problem}", file=sys.stderr)
        return 2
    command = " ".join(["python benchmarks/throughput.py", *(argv if argv is not None else sys.argv[1:])])
    text = throughput_markdown(measure_throughput(entries, args.steps), command)
    if args.out:
        try:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            write_text(args.out, text)
        except (OSError, SmallCNNError) as exc:
            print(f"error: {args.out}: cannot write it ({exc})", file=sys.stderr)
            return 2
        print(f"throughput: {args.out}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
