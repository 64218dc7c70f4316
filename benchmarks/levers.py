"""The lever study behind `python benchmarks/bench.py --levers`, and the training passes behind its scaling line.

Profile first: `profile_lines` shows where the shipped training step spends its time, operator by
operator. Then every lever is timed against the shipped setting, the two back to back in an order
that alternates from one repetition to the next, so a load change on a shared machine hits both sides
of each ratio alike.

Every training figure times smallcnn.core.train.train_epoch itself; there is no copy of its loop here.
`lever_pass` builds what it takes for one setting: the recipe at the setting's batch size, the seeded spec
model in the setting's memory layout, the training images in that layout. Two levers the loop has no knob
for go in as substitutes: the one-channel first convolution as a matrix product (a model layer) and a
`.item()` after every step (a criterion that reads its loss back). Several processes are the shipped code
under torchrun: benchmarks/ddp_pass.py, which wraps the model with smallcnn.distributed as `smallcnn train`
does. The evaluation levers time smallcnn.core.train.evaluate at other batch sizes, and its body under
no_grad instead of inference_mode.

This module imports smallcnn and timing.py, never bench.py: bench.py imports it.
"""

import contextlib
import dataclasses
import inspect
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import smallcnn
from smallcnn import distributed
from smallcnn.core.models import build_model
from smallcnn.core.train import evaluate, make_training, train_epoch
from timing import measure, median_ratio, with_fields

MODEL = "spec"  # the Part 1 model, the one `smallcnn train fashion-mnist` trains by default
EVAL_BATCH = inspect.signature(evaluate).parameters["batch_size"].default  # smallcnn.core.train.evaluate's (256)
SHIPPED_EVAL = (EVAL_BATCH, "inference_mode")
EVAL_LEVERS = [(b, mode) for mode in ("inference_mode", "no_grad") for b in (64, 256, 1024, 2048, 10_000)
               if (b, mode) != SHIPPED_EVAL]
DDP_PASS = Path(__file__).resolve().with_name("ddp_pass.py")  # the torchrun script of the multi-process lines


def shipped_settings(config):
    """The training step smallcnn ships, as lever settings: the recipe's batch size, channels_last
    (runs.run_training's layout), torch's own thread count, oneDNN convolutions, one process, and the
    loss summed on the device and read once per pass (train_epoch)."""
    return {"batch_size": config.batch_size, "channels_last": True, "threads": torch.get_num_threads(),
            "read_every_step": False, "first_conv": "oneDNN", "processes": 1}


def shipped_label(settings):
    threads = settings["threads"]
    return (f"batch {settings['batch_size']}, channels_last, {threads} torch thread{'s' * (threads != 1)} "
            f"(torch.get_num_threads()) in one process, oneDNN convolutions, loss summed on the device and "
            f"read once per pass")


def train_levers(shipped):
    """(lever, setting, changes to the shipped settings), one per row of the lever table."""
    levers = [*[("batch size", f"{b}", {"batch_size": b}) for b in (64, 256, 512) if b != shipped["batch_size"]],
              ("memory layout", "contiguous", {"channels_last": False})]
    if shipped["threads"] != 1:
        levers.append(("threads", "1", {"threads": 1}))
    return levers + [("processes", "2 x 1 thread, data-parallel", {"processes": 2, "threads": 1}),
                     ("first conv", "im2col matrix product", {"first_conv": "im2col"}),
                     ("loss read-back", ".item() every step", {"read_every_step": True})]


# --- the substitutes for what train_epoch has no knob for ------------------------------------------

class Im2colFirstConv(nn.Module):
    """A one-input-channel 3x3 convolution as one matrix product: the nine shifted copies of each
    image (im2col) times the (9 x out_channels) weights. The same function as the nn.Conv2d it
    borrows its parameters from; its output comes out in channels_last layout."""

    def __init__(self, conv):
        super().__init__()
        if conv.in_channels != 1 or conv.kernel_size != (3, 3) or conv.stride != (1, 1) or conv.bias is None:
            raise ValueError("only a 3x3, stride-1 convolution of one input channel, with a bias")
        self.weight, self.bias, self.padding = conv.weight, conv.bias, conv.padding[0]

    def forward(self, x):
        padded = F.pad(x[:, 0], (self.padding,) * 4)
        h, w = padded.shape[1] - 2, padded.shape[2] - 2
        columns = torch.stack([padded[:, i:i + h, j:j + w] for i in range(3) for j in range(3)], dim=-1)
        out = columns @ self.weight.view(self.weight.shape[0], 9).t() + self.bias
        return out.permute(0, 3, 1, 2)


class ReadEveryStep(nn.Module):
    """The recipe's criterion, its loss read back to Python (`.item()`) at every step, as a notebook loop
    reads it: the synchronisation per batch that train_epoch avoids, with the same loss and gradients."""

    def __init__(self, criterion):
        super().__init__()
        self.criterion = criterion

    def forward(self, logits, labels):
        loss = self.criterion(logits, labels)
        loss.item()
        return loss


# --- one training pass at given settings -----------------------------------------------------------

def lever_model(settings, config, channels, side, classes):
    """The spec model, seeded as runs.run_training seeds it, in the lever's layout and first conv."""
    torch.manual_seed(config.seed)
    model = build_model(MODEL, channels, side, classes)
    if settings["first_conv"] == "im2col":
        model.features[0] = Im2colFirstConv(model.features[0])
    layout = torch.channels_last if settings["channels_last"] else torch.contiguous_format
    return model.to(memory_format=layout), layout


def lever_pass(settings, splits, config, classes, images):
    """The arguments of smallcnn.core.train.train_epoch for one pass over the first `images` training images
    at these settings, in runs.run_training's order: the recipe at the setting's batch size, the seeded model
    (inside DDP under torchrun: smallcnn.distributed.wrap), its criterion, optimizer and schedule, and a
    generator seeded as the run's. The thread count is the caller's to set."""
    config = dataclasses.replace(config, batch_size=settings["batch_size"])
    model, layout = lever_model(settings, config, splits.train_x.shape[1], splits.train_x.shape[2], classes)
    model = distributed.wrap(model, torch.device("cpu"))  # the model itself in one process
    part = with_fields(splits, train_x=splits.train_x[:images].contiguous(memory_format=layout),
                       train_y=splits.train_y[:images])
    criterion, optimizer, scheduler = make_training(model, config, images)
    if settings["read_every_step"]:
        criterion = ReadEveryStep(criterion)
    return model, part, criterion, optimizer, scheduler, config, torch.Generator().manual_seed(config.seed)


@contextlib.contextmanager
def threads(n):
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def torchrun_pass(settings, splits, config, classes, images, timeout=900):
    """{"seconds", "loss", ...} of one pass of train_epoch on settings["processes"] processes of
    settings["threads"] threads each, under torchrun (benchmarks/ddp_pass.py), timed between barriers
    after an untimed warm-up pass, so the processes' start-up is never counted."""
    with tempfile.TemporaryDirectory() as folder:
        data, result = Path(folder) / "data.pt", Path(folder) / "result.json"
        torch.save({"train_x": splits.train_x[:images].clone(), "train_y": splits.train_y[:images].clone(),
                    "config": dataclasses.asdict(config), "settings": settings, "classes": classes}, data)
        # The processes import the smallcnn this process imported, and start on the setting's thread count.
        source = str(Path(smallcnn.__file__).resolve().parents[1])
        env = {**os.environ, "OMP_NUM_THREADS": str(settings["threads"]),
               "PYTHONPATH": os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")]))}
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   "--nproc-per-node", str(settings["processes"]), str(DDP_PASS), str(data), str(result)]
        with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as run:
            try:
                output = run.communicate(timeout=timeout)[0]
            except subprocess.TimeoutExpired:
                run.send_signal(signal.SIGTERM)  # torchrun stops its processes on SIGTERM
                output = run.communicate(timeout=60)[0]
                raise RuntimeError(f"torchrun ran past {timeout} s:\n{output[-4000:]}") from None
        if run.returncode != 0 or not result.exists():
            raise RuntimeError(f"torchrun exited with status {run.returncode}:\n{output[-4000:]}")
        return json.loads(result.read_text())


def train_rate(settings, splits, config, classes, images):
    """Training images per second of train_epoch over the first `images` training images at these settings."""
    if settings["processes"] > 1:
        return images / torchrun_pass(settings, splits, config, classes, images)["seconds"]
    args = lever_pass(settings, splits, config, classes, images)
    with threads(settings["threads"]):
        seconds, _ = measure(lambda: train_epoch(*args))
    return images / seconds


def eval_rate(model, x, y, criterion, batch_size, mode):
    """Images per second of smallcnn.core.train.evaluate at this batch size; with mode "no_grad", its body
    (evaluate.__wrapped__, without its inference_mode decorator) under torch.no_grad instead."""
    if mode == "inference_mode":
        seconds, _ = measure(lambda: evaluate(model, x, y, criterion, batch_size))
    else:
        with torch.no_grad():
            seconds, _ = measure(lambda: evaluate.__wrapped__(model, x, y, criterion, batch_size))
    return len(y) / seconds


# --- where the time goes ---------------------------------------------------------------------------

def profile_lines(splits, config, classes=10, steps=40, top=8):
    """The operators that take the most CPU time in the shipped training step (train_epoch at `config`,
    over `steps` batches), as a share of the profiled total."""
    shipped = shipped_settings(config)
    images = min(len(splits.train_y), steps * config.batch_size)
    steps = -(-images // config.batch_size)
    train_epoch(*lever_pass(shipped, splits, config, classes, images))  # warm-up: oneDNN picks its kernels
    args = lever_pass(shipped, splits, config, classes, images)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiler:
        train_epoch(*args)
    events = sorted(profiler.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    lines = [f"profile of the shipped training step (batch {config.batch_size}, {steps} steps, torch.profiler, "
             f"self CPU time per operator):"]
    lines += [f"  {e.key:<44}{100 * e.self_cpu_time_total / total:>6.1f}%{e.self_cpu_time_total / steps:>9,.0f} us/step"
              for e in events[:top]]
    return lines


# --- the study -------------------------------------------------------------------------------------

def timed_pair(shipped, variant, rep):
    """(shipped, variant) measured back to back, the variant first in odd repetitions, so a load change on
    a shared machine hits both sides of the ratio alike and neither always runs on a warmer cache."""
    if rep % 2:
        variant_rate = variant()
        return shipped(), variant_rate
    shipped_rate = shipped()
    return shipped_rate, variant()


def lever_study(splits, config, images, eval_images, reps, log, classes=10):
    """Each lever setting against the shipped setting, measured as adjacent pairs, round-robin over levers;
    the data-parallel lever runs under torchrun."""
    shipped = shipped_settings(config)
    levers = train_levers(shipped)
    model = build_model(MODEL, splits.train_x.shape[1], splits.train_x.shape[2], classes)
    model = model.to(memory_format=torch.channels_last)
    criterion = make_training(model, config, images)[0]
    test_x, test_y = splits.test_x[:eval_images], splits.test_y[:eval_images]

    def train(settings):
        return train_rate(settings, splits, config, classes, images)

    def evaluate_rate(batch_size, mode):
        return eval_rate(model, test_x, test_y, criterion, batch_size, mode)

    train(shipped)  # warm-up
    pairs = {key: [] for key in [*[(lever, label) for lever, label, _ in levers], *EVAL_LEVERS]}
    for rep in range(reps):
        for lever, label, changes in levers:
            pairs[(lever, label)].append(timed_pair(partial(train, shipped), partial(train, {**shipped, **changes}),
                                                    rep))
        for batch_size, mode in EVAL_LEVERS:
            pairs[(batch_size, mode)].append(timed_pair(partial(evaluate_rate, *SHIPPED_EVAL),
                                                        partial(evaluate_rate, batch_size, mode), rep))
        log(f"  levers repetition {rep + 1}/{reps} done")
    return lever_table(pairs, shipped, levers)


def lever_table(pairs, shipped, levers):
    """The table's lines from the measured (shipped, variant) pairs: medians, and the median pair ratio."""
    def row(lever, label, measured):
        shipped_rate = statistics.median(s for s, _ in measured)
        variant_rate = statistics.median(v for _, v in measured)
        gain = median_ratio([v for _, v in measured], [s for s, _ in measured])
        return f"{lever:<16}{label:<30}{variant_rate:>10,.0f}{shipped_rate:>14,.0f}{gain:>12.2f}x"

    return [f"shipped training step: {shipped_label(shipped)}; shipped evaluation: smallcnn.core.train.evaluate, "
            f"batch {SHIPPED_EVAL[0]}, {SHIPPED_EVAL[1]}",
            f"{'lever':<16}{'setting':<30}{'img/s':>10}{'shipped img/s':>14}{'vs shipped':>13}",
            *[row(lever, label, pairs[(lever, label)]) for lever, label, _ in levers],
            *[row("evaluation", f"batch {b}, {mode}", pairs[(b, mode)]) for b, mode in EVAL_LEVERS]]
