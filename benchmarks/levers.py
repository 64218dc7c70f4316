"""Speed levers of Part 1's training, each measured alone against the baseline settings.

    python benchmarks/levers.py [--threads 1,2] [--repeats 3] [--out benchmarks/levers.md]

One epoch of training (54,000 Fashion-MNIST images, the core's train_one_epoch) and one validation pass
(6,000 images, the core's evaluate) are timed for the baseline settings and for each lever changed alone:
the batch size (the optimizer's work per image is the same; fewer, larger steps), the model's memory
layout, the evaluation batch size, evaluation under torch.inference_mode instead of no_grad, and test-time
flips (two forward passes per image). Settings run interleaved, repetition by repetition, after one
untimed pass each; every figure is the median over the repetitions. The recipe levers (epochs, flips,
schedules) are measured for accuracy in time_to_accuracy.py.
"""

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from smallcnn import datastore
from smallcnn.core.data import EVAL_BATCH_SIZE, TensorLoader, split_train_val
from smallcnn.core.models import SmallCNN
from smallcnn.core.train import RECIPES, evaluate, make_training, train_one_epoch
from timing import load_line, machine_lines

HERE = Path(__file__).resolve().parent
# name: (batch size, channels_last, evaluation batch size, evaluation mode, test-time flips)
LEVERS = {
    "baseline": (128, True, 1000, "no_grad", False),  # the settings before this table (evaluation by 1,000)
    "batch 256": (256, True, EVAL_BATCH_SIZE, "no_grad", False),
    "batch 512": (512, True, EVAL_BATCH_SIZE, "no_grad", False),
    "contiguous layout": (128, False, EVAL_BATCH_SIZE, "no_grad", False),
    "evaluation batch 256": (128, True, 256, "no_grad", False),  # pays: shipped since (EVAL_BATCH_SIZE)
    "inference_mode": (128, True, EVAL_BATCH_SIZE, "inference_mode", False),
    "test-time flips": (128, True, EVAL_BATCH_SIZE, "no_grad", True),
}


class Setting:
    """One lever's loaders, model and optimizer: a timed training epoch and a timed validation pass."""

    def __init__(self, lever: tuple, train_ds, val_ds):
        batch, channels_last, eval_batch, self.mode, self.flips = lever
        torch.manual_seed(0)
        self.model = SmallCNN()
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.train_loader = TensorLoader(train_ds, batch, "cpu", shuffle=True, seed=0)
        self.val_loader = TensorLoader(val_ds, eval_batch, "cpu")
        recipe = replace(RECIPES["fashion-mnist"], batch_size=batch)
        self.criterion, self.optimizer, self.scheduler = make_training(self.model, recipe, len(self.train_loader))

    def train(self) -> float:
        start = time.perf_counter()
        train_one_epoch(self.model, self.train_loader, self.optimizer, self.criterion, "cpu", self.scheduler)
        return time.perf_counter() - start

    def validate(self) -> float:
        start = time.perf_counter()
        if self.mode == "inference_mode":
            with torch.inference_mode():  # evaluate's body without its no_grad
                evaluate.__wrapped__(self.model, self.val_loader, self.criterion, "cpu", self.flips)
        else:
            evaluate(self.model, self.val_loader, self.criterion, "cpu", self.flips)
        return time.perf_counter() - start


def measure(threads: int, repeats: int) -> list[dict]:
    torch.set_num_threads(threads)
    recipe = RECIPES["fashion-mnist"]
    train_ds, val_ds = split_train_val(datastore.load_dataset("fashion-mnist").train, recipe.val_fraction, recipe.seed)
    settings = {name: Setting(lever, train_ds, val_ds) for name, lever in LEVERS.items()}
    for setting in settings.values():
        setting.train(), setting.validate()  # untimed: allocations, oneDNN's kernel choice
    times = {name: ([], []) for name in settings}
    for _ in range(repeats):
        for name, setting in settings.items():
            times[name][0].append(setting.train())
            times[name][1].append(setting.validate())
    shipped = [statistics.median(t) for t in times["baseline"]]
    rows = []
    for name, (train, val) in times.items():
        train, val = statistics.median(train), statistics.median(val)
        rows.append({"threads": threads, "lever": name, "train": train, "val": val,
                     "epoch": train + val, "change": (train + val) / sum(shipped) - 1})
    return rows


def markdown(rows: list[dict], command: str, before: str) -> str:
    lines = [f"Command: `{command}`", "", *(f"- {line}" for line in machine_lines()), f"- before: {before}",
             f"- after: {load_line()}", "",
             "| threads | lever | training epoch s | validation s | epoch s | against baseline |",
             "|---:|---|---:|---:|---:|---:|"]
    lines += [f"| {r['threads']} | {r['lever']} | {r['train']:.2f} | {r['val']:.3f} | {r['epoch']:.2f} | "
              f"{100 * r['change']:+.1f}% |" for r in rows]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(HERE / "levers.md"))
    args = parser.parse_args(argv)
    before = load_line()
    rows = [row for threads in map(int, args.threads.split(",")) for row in measure(threads, args.repeats)]
    command = "python benchmarks/levers.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = markdown(rows, command.strip(), before)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
