"""The lever study behind `smallcnn bench --levers`: which speed knobs pay for the spec model on this CPU.

Profile first: `profile_lines` shows where the shipped training step spends its time, operator by
operator. Then every lever is timed against the shipped setting, the two back to back in an order
that alternates from one repetition to the next, so a load change on the shared machine hits both
sides of each ratio alike. Levers that rewrite the computation (pool before ReLU, the one-channel
first convolution as a matrix product, two data-parallel processes) compute the same function;
tests/test_levers.py checks it.
"""

import contextlib
import os
import statistics
import tempfile
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn

from smallcnn.augment import augment_batch
from smallcnn.bench import measure, textbook_model
from smallcnn.evaluate import EVAL_BATCH
from smallcnn.models import build_model
from smallcnn.train import default_config, make_optimizer, train_step

SHIPPED = {"pool_first": True, "batch_size": 128, "channels_last": True, "threads": 2, "read_every_step": False,
           "first_conv": "oneDNN", "processes": 1}
SHIPPED_LABEL = ("pool then ReLU, batch 128, channels_last, 2 threads in one process, oneDNN convolutions, "
                 "loss read every 25 steps")
TRAIN_LEVERS = [
    ("max-pool order", "ReLU then pool (textbook)", {"pool_first": False}),
    *[("batch size", f"{b}", {"batch_size": b}) for b in (64, 256, 512)],
    ("memory layout", "contiguous", {"channels_last": False}),
    ("threads", "1", {"threads": 1}),
    ("processes", "2 x 1 thread, data-parallel", {"processes": 2, "threads": 1}),
    ("first conv", "im2col matrix product", {"first_conv": "im2col"}),
    ("loss read-back", ".item() every step", {"read_every_step": True}),
]
SHIPPED_EVAL = (EVAL_BATCH, "inference_mode")
EVAL_LEVERS = [(b, mode) for mode in ("inference_mode", "no_grad") for b in (64, 256, 1024, 2048, 10_000)
               if (b, mode) != SHIPPED_EVAL]


# --- where the time goes ---------------------------------------------------------------------------

def profile_lines(tensors, steps=40, top=8):
    """The operators that take the most CPU time in the shipped training step (train_step at the
    Fashion-MNIST defaults), as a share of the profiled total."""
    config = default_config("fashion-mnist")
    torch.manual_seed(0)
    model = build_model("spec").to(memory_format=torch.channels_last)
    optimizer, _ = make_optimizer(model, config, steps)
    generator = torch.Generator().manual_seed(0)
    batches = [slice(i * config.batch_size, (i + 1) * config.batch_size) for i in range(steps)]

    def run():
        for batch in batches:
            train_step(model, tensors.train_x[batch], tensors.train_y[batch], optimizer, config, generator)

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
        if conv.in_channels != 1 or conv.kernel_size != (3, 3):
            raise ValueError("only a 3x3 convolution of one input channel")
        self.weight, self.bias, self.padding = conv.weight, conv.bias, conv.padding[0]

    def forward(self, x):
        padded = F.pad(x[:, 0], (self.padding,) * 4)
        h, w = padded.shape[1] - 2, padded.shape[2] - 2
        columns = torch.stack([padded[:, i:i + h, j:j + w] for i in range(3) for j in range(3)], dim=-1)
        out = columns @ self.weight.view(self.weight.shape[0], 9).t() + self.bias
        return out.permute(0, 3, 1, 2)


def lever_model(settings, channels, side, seed=0):
    torch.manual_seed(seed)
    model = build_model("spec", channels, side, 10) if settings["pool_first"] else textbook_model(channels, side, 10)
    if settings["first_conv"] == "im2col":
        model.blocks[0].conv = Im2colFirstConv(model.blocks[0].conv)
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


def lever_train_pass(settings, tensors, images, augment, seed=0, rank=0, world=1):
    """The shipped training step with the given knobs: train_epoch's body, minus its schedule and
    progress bar; returns the trained model. With world > 1 this process takes its share of every batch
    and the gradients are averaged across processes before each step -- the same update as one process
    on the whole batch."""
    model, layout = lever_model(settings, tensors.train_x.shape[1], tensors.train_x.shape[2], seed)
    x = tensors.train_x[:images].contiguous(memory_format=layout)
    y = tensors.train_y[:images]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(images, generator=generator)
    total = torch.zeros(())
    for start in range(0, images, settings["batch_size"]):
        idx = order[start:start + settings["batch_size"]].chunk(world)[rank]
        batch = augment_batch(x[idx], augment, generator).contiguous(memory_format=layout)
        loss = F.cross_entropy(model(batch), y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if world > 1:
            average_gradients(model, world)
        optimizer.step()
        if settings["read_every_step"]:
            total += loss.item()
        else:
            total += loss.detach()
    total.item()  # the final read-back that train_epoch does too
    return model


def data_parallel_worker(rank, world, folder, settings, tensors, images, augment):
    """One of `world` processes: a warm-up pass, then one timed pass between barriers. Rank 0 saves
    the seconds and the trained parameters into folder/result.pt."""
    torch.set_num_threads(settings["threads"])
    store = "file://" + os.path.join(folder, "store")
    dist.init_process_group("gloo", init_method=store, rank=rank, world_size=world)
    try:
        lever_train_pass(settings, tensors, min(images, 1024), augment, rank=rank, world=world)
        dist.barrier()
        start = time.perf_counter()
        model = lever_train_pass(settings, tensors, images, augment, rank=rank, world=world)
        dist.barrier()
        elapsed = time.perf_counter() - start
        if rank == 0:
            torch.save((elapsed, flat_parameters(model)), os.path.join(folder, "result.pt"))
    finally:
        dist.destroy_process_group()


def data_parallel_pass(settings, tensors, images, augment):
    """One pass split over settings['processes'] spawned processes (start-up not timed); returns
    (seconds, the trained parameters as one flat tensor)."""
    world = settings["processes"]
    context = mp.get_context("spawn")
    with tempfile.TemporaryDirectory() as folder:
        workers = [context.Process(target=data_parallel_worker,
                                   args=(rank, world, folder, settings, tensors, images, augment))
                   for rank in range(world)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        if any(worker.exitcode for worker in workers):
            raise RuntimeError(f"a data-parallel worker failed (exit codes {[w.exitcode for w in workers]})")
        return torch.load(os.path.join(folder, "result.pt"))


# --- timing ----------------------------------------------------------------------------------------

@contextlib.contextmanager
def threads(n):
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def lever_eval_pass(model, x, batch_size, mode):
    model.eval()
    context = torch.inference_mode() if mode == "inference_mode" else torch.no_grad()
    with context:
        return torch.cat([model(x[s:s + batch_size]).argmax(1) for s in range(0, len(x), batch_size)])


def train_rate(settings, tensors, images, augment):
    if settings["processes"] > 1:
        seconds, _ = data_parallel_pass(settings, tensors, images, augment)
        return images / seconds
    with threads(settings["threads"]):
        seconds, _ = measure(lambda: lever_train_pass(settings, tensors, images, augment))
    return images / seconds


def timed_pair(shipped, variant, rep):
    """(shipped, variant) img/s measured back to back, in alternating order from one repetition to the
    next, so a load change on the shared machine hits both sides of the ratio alike."""
    if rep % 2:
        variant_rate = variant()
        return shipped(), variant_rate
    return shipped(), variant()


def lever_study(tensors, augment, images, eval_images, reps, log):
    """Each lever setting against the shipped setting, measured as adjacent pairs, round-robin over levers."""
    model = build_model("spec").to(memory_format=torch.channels_last)
    test_x = tensors.test_x[:eval_images]

    def train(settings):
        return train_rate(settings, tensors, images, augment)

    def evaluate(batch_size, mode):
        seconds, _ = measure(lambda: lever_eval_pass(model, test_x, batch_size, mode))
        return len(test_x) / seconds

    train(SHIPPED)  # warm-up
    pairs = {key: [] for key in [*[(lever, label) for lever, label, _ in TRAIN_LEVERS], *EVAL_LEVERS]}
    for rep in range(reps):
        for lever, label, overrides in TRAIN_LEVERS:
            pairs[(lever, label)].append(timed_pair(lambda: train(SHIPPED), lambda: train({**SHIPPED, **overrides}),
                                                    rep))
        for batch_size, mode in EVAL_LEVERS:
            pairs[(batch_size, mode)].append(timed_pair(lambda: evaluate(*SHIPPED_EVAL),
                                                        lambda: evaluate(batch_size, mode), rep))
        log(f"  levers repetition {rep + 1}/{reps} done")
    return lever_table(pairs)


def lever_table(pairs):
    def row(lever, label, measured):
        shipped = statistics.median(s for s, _ in measured)
        variant = statistics.median(v for _, v in measured)
        gain = statistics.median(v / s for s, v in measured)
        return f"{lever:<16}{label:<30}{variant:>10,.0f}{shipped:>14,.0f}{gain:>12.2f}x"

    return [f"shipped training step: {SHIPPED_LABEL}; shipped evaluation: batch {SHIPPED_EVAL[0]}, {SHIPPED_EVAL[1]}",
            f"{'lever':<16}{'setting':<30}{'img/s':>10}{'shipped img/s':>14}{'vs shipped':>13}",
            *[row(lever, label, pairs[(lever, label)]) for lever, label, _ in TRAIN_LEVERS],
            *[row("evaluation", f"batch {b}, {mode}", pairs[(b, mode)]) for b, mode in EVAL_LEVERS]]
