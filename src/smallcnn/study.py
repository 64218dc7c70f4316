"""The Part 2 architecture study: one change at a time against the spec-adapted model, under a time budget.

Every study entry is a model variant from models.VARIANTS plus TrainConfig overrides, and changes ONE
thing against the spec-adapted model (the Part 1 network with 3 input channels and 100 logits) -- except
"best", the documented combination recommended for Part 2. Each entry's cost is estimated from a few
timed training steps before it runs; entries that do not fit the remaining budget are skipped and
listed as skipped, never dropped silently. Every table, chart and answer carries the dataset's identity,
so a result on generated data is never shown as a CIFAR-100 result.

Imports only the standard library, numpy, torch, matplotlib and smallcnn: this code also runs in the notebook.
"""

import csv
import io
import math
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from smallcnn.data import DATASETS, SmallCNNError, atomic_write, dataset_shape, load_dataset
from smallcnn.models import build_model, count_parameters
from smallcnn.report import plot_study, save_figure, write_run_report
from smallcnn.train import default_config, prepare_tensors, run_training, train_step, write_json

BASELINE = "spec"
# CIFAR-100's training images less the validation split: the images of one training epoch.
CIFAR_TRAIN_IMAGES = round(DATASETS["cifar100"]["sizes"][0] * (1 - default_config("cifar100").val_fraction))


@dataclass(frozen=True)
class StudyEntry:
    name: str
    variant: str                  # a key of models.VARIANTS
    change: str                   # what differs from the spec-adapted model, in words
    overrides: dict = field(default_factory=dict)  # TrainConfig fields this entry sets
    epoch_factor: int = 1         # "more epochs" multiplies the study's epoch count


STUDY = (
    StudyEntry(BASELINE, "spec", "nothing: the spec-adapted model"),
    StudyEntry("wide2", "wide2", "every conv layer 2x wider"),
    StudyEntry("wide4", "wide4", "every conv layer 4x wider"),
    StudyEntry("wide8", "wide8", "every conv layer 8x wider"),
    StudyEntry("no-bottleneck", "no-bottleneck", "no 5-channel bottleneck (second conv has 16 channels)"),
    StudyEntry("batchnorm", "batchnorm", "BatchNorm after every conv"),
    StudyEntry("dropout", "dropout", "dropout 0.3 before the classifier"),
    StudyEntry("no-augment", "spec", "augmentation off (the recipe's crop + flip removed)", {"augment": "none"}),
    StudyEntry("label-smoothing", "spec", "label smoothing 0.1", {"label_smoothing": 0.1}),
    StudyEntry("more-epochs", "spec", "twice the epochs", epoch_factor=2),
    StudyEntry("gap", "gap", "global average pooling before the classifier"),
    StudyEntry("best", "best", "recommended: widths 32-64-128 with BatchNorm (several changes)"),
)
ENTRIES = {entry.name: entry for entry in STUDY}


def select_entries(names=None):
    """The named entries in study order (all of them when names is empty); unknown names are an error."""
    if not names:
        return list(STUDY)
    unknown = [n for n in names if n not in ENTRIES]
    if unknown:
        raise SmallCNNError(f"unknown study entries {', '.join(unknown)}; choose from: {', '.join(ENTRIES)}")
    return [entry for entry in STUDY if entry.name in names]


def entry_config(entry, base):
    """The TrainConfig of one entry: the study's base recipe with this entry's one change."""
    return replace(base, variant=entry.variant, epochs=base.epochs * entry.epoch_factor, **entry.overrides).check()


# --- measured cost -----------------------------------------------------------------------------------

def time_training_steps(model, images, labels, config, steps):
    """Wall and CPU seconds per image of real SGD steps (augmentation, forward, backward, update).

    One untimed step first: oneDNN picks its kernels on the first call, which would inflate the timing.
    CPU time is measured too because wall time on a shared machine mostly measures the other users.
    """
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=config.momentum)
    generator = torch.Generator().manual_seed(config.seed)
    model.train()

    def step(i):
        idx = torch.arange(i * config.batch_size, (i + 1) * config.batch_size) % labels.shape[0]
        train_step(model, images[idx], labels[idx], optimizer, config, generator)

    step(0)
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(1, steps + 1):
        step(i)
    seen = steps * config.batch_size
    return (time.perf_counter() - wall) / seen, (time.process_time() - cpu) / seen


def estimate_minutes(config, seconds_per_image, n_train, n_val):
    """Minutes a run needs: every epoch trains on n_train images and evaluates n_val.

    Evaluation is a forward pass only, about a third of a training step's work per image.
    """
    per_epoch = seconds_per_image * (n_train + n_val / 3)
    return config.epochs * per_epoch / 60


def fits_budget(estimate, remaining):
    return estimate <= remaining


def measure_entry_cost(entry, base, tensors, num_classes, steps=3):
    """Estimated minutes of one entry on these tensors, from a few timed steps of its own model."""
    config = entry_config(entry, base)
    model = build_model(config.variant, tensors.train_x.shape[1], tensors.train_x.shape[2], num_classes)
    model = model.to(memory_format=torch.channels_last)
    wall, _ = time_training_steps(model, tensors.train_x, tensors.train_y, config, steps)
    return estimate_minutes(config, wall, len(tensors.train_y), len(tensors.val_y))


# --- the study ----------------------------------------------------------------------------------------

def run_study(out_dir, dataset="cifar100", entries=None, budget_minutes=20.0, epochs=None, data_dir=None,
              subset=0, seed=0, log=print):
    """Train each entry that fits the remaining budget; write runs, table, chart; return the rows."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    base = default_config(dataset, seed=seed, subset=subset, **({"epochs": epochs} if epochs else {}))
    data = load_dataset(base.dataset, data_dir)
    tensors = prepare_tensors(data, base)
    log(f"study on {data.identity}; budget {budget_minutes:g} minutes")
    # Fixed cost a step timing cannot see (loading data, checkpoints, figures): learnt from the last run.
    start, rows, overhead = time.perf_counter(), [], 0.0
    for entry in entries or STUDY:
        config = entry_config(entry, base)
        estimate = measure_entry_cost(entry, base, tensors, len(data.classes)) + overhead
        remaining = budget_minutes - (time.perf_counter() - start) / 60
        if not fits_budget(estimate, remaining):
            row = study_row(entry, config, data, estimate=estimate,
                            status=f"skipped: needs ~{estimate:.2f} min, {max(remaining, 0):.2f} min left")
            log(f"{entry.name}: {row['status']}")
            rows.append(row)
            continue
        log(f"{entry.name}: {entry.change} (estimated {estimate:.2f} min)")
        began = time.perf_counter()
        result = run_training(config, out / entry.name, data_dir=data_dir, overwrite=True, log=log)
        write_run_report(result)
        minutes = (time.perf_counter() - began) / 60
        overhead = max(0.0, minutes - (estimate - overhead))
        rows.append(study_row(entry, config, data, estimate=estimate, result=result, minutes=minutes))
    add_deltas(rows)
    write_study_outputs(out, rows, data)
    return rows


def study_row(entry, config, data, estimate, status="ran", result=None, minutes=None):
    """One line of the study table; a skipped entry keeps its estimate and why it was skipped."""
    model = build_model(config.variant, data.train_images.shape[1], data.train_images.shape[2], len(data.classes))
    return {
        "entry": entry.name, "variant": config.variant, "change": entry.change, "status": status,
        "test_accuracy": result.metrics["test_accuracy"] if result else None,
        "delta_points": None, "params": count_parameters(model),
        "conv_layers": sum(isinstance(m, torch.nn.Conv2d) for m in model.modules()), "augment": config.augment,
        "epochs": config.epochs,
        "minutes": minutes, "estimated_minutes": estimate,
        "dataset_identity": data.identity, "official": data.official,
    }


def add_deltas(rows):
    """Percentage-point change in test accuracy against the spec-adapted run (when it ran)."""
    base = next((r for r in rows if r["entry"] == BASELINE and r["test_accuracy"] is not None), None)
    for row in rows:
        if base and row["test_accuracy"] is not None:
            row["delta_points"] = 100 * (row["test_accuracy"] - base["test_accuracy"])


def best_study_row(rows):
    """The entry with the highest test accuracy among those that ran; None when none did."""
    return max((r for r in rows if r["test_accuracy"] is not None), key=lambda r: r["test_accuracy"], default=None)


def study_title(data):
    title = DATASETS[data.name]["title"]
    if data.official:
        return f"Architecture study on {title} (official files, checksums verified)"
    return f"Architecture study on NOT the official {title} -- generated test data / checksums differ"


def format_cell(value, kind):
    if value is None:
        return "-"
    return {"pct": f"{value:.2%}", "pts": f"{value:+.2f}", "min": f"{value:.2f}", "int": f"{value:,}"}[kind]


def study_markdown(rows, data):
    lines = [f"# {study_title(data)}", "", f"Data: {data.identity} ({data.location}).", "",
             "| entry | change | test accuracy | delta vs spec (points) | parameters | epochs | minutes | status |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['entry']} | {r['change']} | {format_cell(r['test_accuracy'], 'pct')} | "
                     f"{format_cell(r['delta_points'], 'pts')} | {format_cell(r['params'], 'int')} | {r['epochs']} | "
                     f"{format_cell(r['minutes'], 'min')} | {r['status']} |")
    lines += ["", "Single seeded runs: differences of about a point are within run-to-run noise.", "",
              "![study chart](study.png)", ""]
    return "\n".join(lines)


def study_csv(rows):
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue()


def write_study_outputs(out, rows, data):
    """study.md, study.csv, study.json and study.png, each written atomically."""
    markdown, table = study_markdown(rows, data), study_csv(rows)
    atomic_write(out / "study.md", lambda f: f.write(markdown.encode()))
    atomic_write(out / "study.csv", lambda f: f.write(table.encode()))
    write_json(out / "study.json", {"title": study_title(data), "dataset_identity": data.identity,
                                    "official": data.official, "rows": rows})
    save_figure(plot_study(rows, study_title(data)), out / "study.png")


# --- throughput on CIFAR-shaped input -------------------------------------------------------------------

def measure_throughput(entries=None, steps=6, n_images=CIFAR_TRAIN_IMAGES, seed=0):
    """Epochs per minute of each entry on random 3x32x32 images with 100 classes (timing only).

    Two figures per entry: measured wall-clock speed on this (possibly shared) machine, and a projection
    for a machine whose cores are ours alone, from CPU time. The projection is conservative: OpenMP
    threads spinning while they wait, and cache misses caused by other users, count as our CPU time.
    """
    torch.manual_seed(seed)
    base = default_config("cifar100", seed=seed)
    channels, side, classes = dataset_shape("cifar100")
    images = torch.randn(base.batch_size * 8, channels, side, side).contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, classes, (images.shape[0],))
    threads = torch.get_num_threads()
    rows = []
    for entry in entries or STUDY:
        config = entry_config(entry, base)
        model = build_model(config.variant, channels, side, classes).to(memory_format=torch.channels_last)
        wall, cpu = time_training_steps(model, images, labels, config, steps)
        single_cpu = single_thread_cpu_seconds(model, images, labels, config, steps)
        rows.append({"entry": entry.name, "params": count_parameters(model), "augment": config.augment,
                     "epochs": config.epochs,
                     "measured_epochs_per_minute": 60 / (wall * n_images),
                     "projected_epochs_per_minute": 60 * threads / (cpu * n_images),
                     "ideal_epochs_per_minute": 60 * threads / (single_cpu * n_images)})
    return rows


def single_thread_cpu_seconds(model, images, labels, config, steps):
    """CPU seconds per image on one thread: no OpenMP spin-waiting, so it is the work itself.

    Times that many threads is the best a machine with that many free cores could do (perfect scaling).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return time_training_steps(model, images, labels, config, steps)[1]
    finally:
        torch.set_num_threads(threads)


def throughput_markdown(rows, command, minutes=20, n_images=CIFAR_TRAIN_IMAGES):
    load = os.getloadavg()
    lines = [
        "# Training throughput on CIFAR-shaped input", "",
        f"Generated by `smallcnn.study.measure_throughput` with `{command}` on {time.strftime('%Y-%m-%d %H:%M')}.",
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


def epochs_within(minutes, epochs_per_minute, evaluation_share=1 / 3, val_fraction=1 / 9):
    """Whole epochs that fit `minutes`, leaving time for the per-epoch validation pass (forward only)."""
    return math.floor(minutes * epochs_per_minute / (1 + evaluation_share * val_fraction))


def write_throughput_benchmark(path, command, entries=None, steps=6):
    rows = measure_throughput(entries, steps)
    text = throughput_markdown(rows, command)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: f.write(text.encode()))
    return rows
