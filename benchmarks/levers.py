"""The lever study behind `python benchmarks/bench.py --levers`, and the data-parallel runner behind its scaling line.

Profile first: `profile_lines` shows where the shipped training step spends its time, operator by
operator. Then every lever is timed against the shipped setting, the two back to back in an order
that alternates from one repetition to the next, so a load change on a shared machine hits both sides
of each ratio alike.

`lever_train_pass` is the shipped training epoch (smallcnn.core.train.train_epoch's loop: a seeded random
order, `augment`, `train_step`, a scheduler step per batch, the loss summed on the device) with knobs;
at the shipped settings it gives exactly train_epoch's weights. The levers that rewrite the computation
(the one-channel first convolution as a matrix product, two data-parallel processes) compute the same
function; tests/test_benchmarks.py checks all three.

This module imports smallcnn and timing.py, never bench.py: bench.py imports it.
"""

import contextlib
import datetime
import inspect
import math
import os
import statistics
import tempfile
import time
import traceback
from dataclasses import replace

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn

from smallcnn.core.models import build_model
from smallcnn.core.train import augment, evaluate, make_training, train_step
from timing import measure, median_ratio

MODEL = "spec"  # the Part 1 model, the one `smallcnn train fashion-mnist` trains by default
EVAL_BATCH = inspect.signature(evaluate).parameters["batch_size"].default  # smallcnn.core.train.evaluate's (256)
SHIPPED_EVAL = (EVAL_BATCH, "inference_mode")
EVAL_LEVERS = [(b, mode) for mode in ("inference_mode", "no_grad") for b in (64, 256, 1024, 2048, 10_000)
               if (b, mode) != SHIPPED_EVAL]


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


# --- where the time goes ---------------------------------------------------------------------------

def profile_lines(splits, config, classes=10, steps=40, top=8):
    """The operators that take the most CPU time in the shipped training step (train_step at `config`),
    as a share of the profiled total."""
    torch.manual_seed(config.seed)
    model = build_model(MODEL, splits.train_x.shape[1], splits.train_x.shape[2], classes)
    model = model.to(memory_format=torch.channels_last)
    criterion, optimizer, scheduler = make_training(model, config, steps)
    n = len(splits.train_y)
    batches = [torch.arange(i * config.batch_size, (i + 1) * config.batch_size) % n for i in range(steps)]

    def run():
        for idx in batches:
            train_step(model, splits.train_x[idx], splits.train_y[idx], criterion, optimizer)
            scheduler.step()

    run()  # warm-up: oneDNN picks its kernels on the first calls
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiler:
        run()
    events = sorted(profiler.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    lines = [f"profile of the shipped training step (batch {config.batch_size}, {steps} steps, torch.profiler, "
             f"self CPU time per operator):"]
    lines += [f"  {e.key:<44}{100 * e.self_cpu_time_total / total:>6.1f}%{e.self_cpu_time_total / steps:>9,.0f} us/step"
              for e in events[:top]]
    return lines


# --- the levers that rewrite the computation -------------------------------------------------------

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


def lever_model(settings, config, channels, side, classes):
    """The spec model, seeded as runs.run_training seeds it, in the lever's layout and first conv."""
    torch.manual_seed(config.seed)
    model = build_model(MODEL, channels, side, classes)
    if settings["first_conv"] == "im2col":
        model.features[0] = Im2colFirstConv(model.features[0])
    layout = torch.channels_last if settings["channels_last"] else torch.contiguous_format
    return model.to(memory_format=layout), layout


def flat_parameters(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def average_gradients(model, world):
    """All-reduce every gradient as one flat buffer (one message per step), then divide by the world size."""
    grads = [p.grad for p in model.parameters()]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world
    for grad, part in zip(grads, flat.split([g.numel() for g in grads])):
        grad.copy_(part.view(grad.shape))


def lever_train_pass(settings, x, y, config, classes, images=None, rank=0, world=1):
    """One training pass over the first `images` of (x, y) with the given knobs; returns the trained model.

    At the shipped settings this is smallcnn.core.train.train_epoch on those images: the same seeded model,
    order, augmentation draws, steps and schedule. With world > 1 this process takes its share of every
    batch and the gradients are averaged across processes before each optimizer step -- the same update
    as one process on the whole batch (for equal shares: a batch size divisible by the world size).
    """
    images = len(y) if images is None else images
    model, layout = lever_model(settings, config, x.shape[1], x.shape[2], classes)
    x, y = x[:images].contiguous(memory_format=layout), y[:images]
    config = replace(config, batch_size=settings["batch_size"])
    criterion, optimizer, scheduler = make_training(model, config, max(1, math.ceil(images / config.batch_size)))
    if world > 1:
        optimizer.register_step_pre_hook(lambda *_: average_gradients(model, world))
    model.train()
    generator = torch.Generator().manual_seed(config.seed)
    order = torch.randperm(images, generator=generator)
    total = torch.zeros(())
    for start in range(0, images, config.batch_size):
        idx = order[start:start + config.batch_size]
        if world > 1:
            idx = idx.chunk(world)[rank]
        batch = augment(x[idx], config.augment, generator)
        loss, _ = train_step(model, batch, y[idx], criterion, optimizer)
        scheduler.step()
        if settings["read_every_step"]:
            total += loss.item() * len(idx)
        else:
            total += loss.detach() * len(idx)
    total.item()  # the read-back that train_epoch does once per epoch
    return model


# --- data-parallel processes -----------------------------------------------------------------------

def _worker(rank, world, store, threads, conn):
    """One of `world` processes: joins the gloo group, then serves the parent's messages until None:
    ("load", x, y, classes) keeps the training data (shared memory, no copy); ("run", settings, config,
    images) trains one pass, timed between barriers, and rank 0 sends back the seconds and the weights."""
    torch.set_num_threads(threads)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(minutes=10))
    data = None
    try:
        while (message := conn.recv()) is not None:
            try:
                if message[0] == "load":
                    data = message[1:]
                    conn.send(("ok", None, None))
                    continue
                _, settings, config, images = message
                x, y, classes = data
                dist.barrier()
                start = time.perf_counter()
                model = lever_train_pass(settings, x, y, config, classes, images, rank, world)
                dist.barrier()
                seconds = time.perf_counter() - start
                conn.send(("ok", seconds, flat_parameters(model) if rank == 0 else None))
            except Exception:  # reported to the parent, which stops every worker
                conn.send(("error", traceback.format_exc(), None))
                raise
    finally:
        dist.destroy_process_group()


class DataParallel:
    """`world` spawned processes of `threads` torch threads each, joined in a gloo process group.

    Started once (the start-up, mostly importing torch, is never timed) and idle -- blocked on a pipe --
    while the parent measures; `load` hands them training data, `run` trains one pass across them, each
    process on its share of every batch. Use as a context manager, which stops them.
    """

    def __init__(self, world=2, threads=1, timeout=900):
        self.world, self.threads, self.timeout = world, threads, timeout
        self.workers, self.conns, self.folder, self.images = [], [], None, None

    def __enter__(self):
        context = mp.get_context("spawn")
        self.folder = tempfile.TemporaryDirectory()
        store = os.path.join(self.folder.name, "store")
        try:
            for rank in range(self.world):
                parent, child = context.Pipe()
                worker = context.Process(target=_worker, args=(rank, self.world, store, self.threads, child),
                                         daemon=True)
                worker.start()
                child.close()
                self.workers.append(worker)
                self.conns.append(parent)
        except BaseException:
            self.close()
            raise
        return self

    def _ask(self, message):
        for conn in self.conns:
            conn.send(message)
        replies = []
        for rank, conn in enumerate(self.conns):
            if not conn.poll(self.timeout):
                self.close()
                raise RuntimeError(f"data-parallel worker {rank} sent nothing in {self.timeout} s")
            try:
                replies.append(conn.recv())
            except (EOFError, OSError):  # the pipe closed: the worker is gone
                codes = [w.exitcode for w in self.workers]
                self.close()
                raise RuntimeError(f"data-parallel worker {rank} died (exit codes {codes})") from None
        for status, text, _ in replies:
            if status != "ok":
                self.close()
                raise RuntimeError(f"a data-parallel worker failed:\n{text}")
        return replies[0]

    def load(self, x, y, classes):
        """Give every worker the training images and labels (shared, not copied) and the class count."""
        self._ask(("load", x, y, classes))
        self.images = len(y)

    def run(self, settings, config, images=None):
        """(seconds of one training pass over the first `images` loaded images, the trained parameters
        as one flat tensor)."""
        if settings["threads"] != self.threads or settings["processes"] != self.world:
            raise ValueError(f"these workers are {self.world} processes of {self.threads} thread(s); "
                             f"the settings ask for {settings['processes']} of {settings['threads']}")
        if self.images is None:
            raise ValueError("no training data in the workers yet: call load(x, y, classes) first")
        _, seconds, parameters = self._ask(("run", settings, config, self.images if images is None else images))
        return seconds, parameters

    def close(self):
        for conn in self.conns:
            with contextlib.suppress(OSError, ValueError):
                conn.send(None)
        for worker in self.workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.terminate()
                worker.join()
        for conn in self.conns:
            conn.close()
        self.workers, self.conns = [], []
        if self.folder is not None:
            self.folder.cleanup()
            self.folder = None

    def __exit__(self, *exc):
        self.close()


# --- timing ----------------------------------------------------------------------------------------

@contextlib.contextmanager
def threads(n):
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_rate(settings, x, y, config, classes, images, pool=None):
    """Training images per second of one pass with these settings (in `pool`, which must hold the same
    (x, y), when processes > 1)."""
    if settings["processes"] > 1:
        if pool is None:
            raise ValueError("a data-parallel setting needs a DataParallel pool")
        seconds, _ = pool.run(settings, config, images)
        return images / seconds
    with threads(settings["threads"]):
        seconds, _ = measure(lambda: lever_train_pass(settings, x, y, config, classes, images))
    return images / seconds


def lever_eval_pass(model, x, batch_size, mode):
    model.eval()
    context = torch.inference_mode() if mode == "inference_mode" else torch.no_grad()
    with context:
        return torch.cat([model(x[s:s + batch_size]).argmax(1) for s in range(0, len(x), batch_size)])


def timed_pair(shipped, variant, rep):
    """(shipped, variant) measured back to back, the variant first in odd repetitions, so a load change on
    a shared machine hits both sides of the ratio alike and neither always runs on a warmer cache."""
    if rep % 2:
        variant_rate = variant()
        return shipped(), variant_rate
    shipped_rate = shipped()
    return shipped_rate, variant()


def lever_study(splits, config, images, eval_images, reps, log, pool=None, classes=10):
    """Each lever setting against the shipped setting, measured as adjacent pairs, round-robin over levers.

    The data-parallel lever needs `pool` (a DataParallel of 2 single-thread processes; the first `images`
    training images are loaded into it); without one it is left out of the table.
    """
    shipped = shipped_settings(config)
    levers = [lever for lever in train_levers(shipped) if pool is not None or lever[2].get("processes", 1) == 1]
    x, y = splits.train_x[:images], splits.train_y[:images]
    if pool is not None:
        pool.load(x, y, classes)
    model = build_model(MODEL, x.shape[1], x.shape[2], classes).to(memory_format=torch.channels_last)
    test_x = splits.test_x[:eval_images]

    def train(settings):
        return train_rate(settings, x, y, config, classes, images, pool)

    def evaluate_rate(batch_size, mode):
        seconds, _ = measure(lambda: lever_eval_pass(model, test_x, batch_size, mode))
        return len(test_x) / seconds

    train(shipped)  # warm-up
    pairs = {key: [] for key in [*[(lever, label) for lever, label, _ in levers], *EVAL_LEVERS]}
    for rep in range(reps):
        for lever, label, changes in levers:
            pairs[(lever, label)].append(timed_pair(lambda: train(shipped), lambda: train({**shipped, **changes}),
                                                    rep))
        for batch_size, mode in EVAL_LEVERS:
            pairs[(batch_size, mode)].append(timed_pair(lambda: evaluate_rate(*SHIPPED_EVAL),
                                                        lambda: evaluate_rate(batch_size, mode), rep))
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
