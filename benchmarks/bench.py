"""Throughput: the shipped pipeline against the starter's own, a torchvision DataLoader, side by side.

    python benchmarks/bench.py [--images 12800] [--repeats 5] [--out benchmarks/bench.md]

Both train the spec network with the core's train_one_epoch and evaluate with its evaluate, on the same
training images, from the same initial weights, with the same SGD settings:

- starter: the starter's given loaders, DataLoader(batch_size=64, shuffle=True) over the torchvision
  dataset with its ToTensor + Normalize transform (every image through PIL, every epoch), the model in
  the default memory layout;
- smallcnn: TensorLoader at the recipe's batch size (the images converted once, kept as one tensor),
  the model in channels_last, evaluation in batches of EVAL_BATCH_SIZE.

The two run interleaved, repetition by repetition, in one process with the same threads, so load from
elsewhere hits both alike; a ratio is the median of the ratios measured in the same repetition.
Fashion-MNIST is the real dataset; CIFAR-100 is random images of its shape in a torchvision CIFAR100
object (the same per-image work as the real files), since the real files cannot be had here.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torchvision
from torch.utils.data import DataLoader, Subset

from smallcnn import datasets, datastore
from smallcnn.core.data import EVAL_BATCH_SIZE, TensorLoader, split_train_val
from smallcnn.core.models import SmallCNN
from smallcnn.core.train import RECIPES, evaluate, make_training, train_one_epoch
from timing import load_line, machine_lines, median_ratio

HERE = Path(__file__).resolve().parent
STARTER_BATCH = 64  # the starter's batch_size


def cifar_shaped(images: int, seed: int = 0) -> torchvision.datasets.CIFAR100:
    """A torchvision CIFAR100 object holding random images of CIFAR-100's shape, with the starter's transform
    (built without files: its constructor would only read the same kind of arrays from disk)."""
    dataset = torchvision.datasets.CIFAR100.__new__(torchvision.datasets.CIFAR100)
    torchvision.datasets.VisionDataset.__init__(dataset, root=None, transform=datasets.starter_transform("cifar100"))
    generator = torch.Generator().manual_seed(seed)
    dataset.data = torch.randint(0, 256, (images, 32, 32, 3), dtype=torch.uint8, generator=generator).numpy()
    dataset.targets = torch.randint(0, 100, (images,), generator=generator).tolist()
    dataset.classes = [f"class {c}" for c in range(100)]
    return dataset


def workloads(images: int) -> dict:
    """{name: (training part, test part, recipe, model shape)}: `images` training images of each dataset."""
    fashion = datastore.load_dataset("fashion-mnist")
    cifar = cifar_shaped(round(images / 0.9) + 1000)
    found = {}
    for name, train_full, test_ds, shape in (("fashion-mnist", fashion.train, fashion.test, (1, 28, 10)),
                                             ("cifar100", cifar, cifar, (3, 32, 100))):
        recipe = RECIPES[name]
        train_ds, _ = split_train_val(train_full, recipe.val_fraction, recipe.seed)
        found[name] = (Subset(train_ds, range(images)), Subset(test_ds, range(1000)), recipe, shape)
    return found


class Pipeline:
    """One pipeline's loaders, model and optimizer, ready to time an epoch or an evaluation."""

    def __init__(self, name: str, train_ds, test_ds, recipe, shape, fast: bool):
        torch.manual_seed(0)
        channels, side, classes = shape
        self.model = SmallCNN(channels, side, classes)
        if fast:
            self.model = self.model.to(memory_format=torch.channels_last)
            self.train_loader = TensorLoader(train_ds, recipe.batch_size, "cpu", shuffle=True, seed=0)
            self.test_loader = TensorLoader(test_ds, EVAL_BATCH_SIZE, "cpu")
        else:
            self.train_loader = DataLoader(train_ds, batch_size=STARTER_BATCH, shuffle=True, num_workers=0)
            self.test_loader = DataLoader(test_ds, batch_size=STARTER_BATCH, shuffle=False, num_workers=0)
        self.criterion, self.optimizer, self.scheduler = make_training(self.model, recipe, len(self.train_loader))

    def train(self) -> None:
        train_one_epoch(self.model, self.train_loader, self.optimizer, self.criterion, "cpu", self.scheduler)

    def evaluate(self) -> None:
        evaluate(self.model, self.test_loader, self.criterion, "cpu")


def timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def measure(name: str, work: tuple, repeats: int) -> dict:
    """Images per second of each pipeline, training and evaluating, and the smallcnn/starter ratios."""
    train_ds, test_ds, recipe, shape = work
    pipelines = {"starter": Pipeline(name, train_ds, test_ds, recipe, shape, fast=False),
                 "smallcnn": Pipeline(name, train_ds, test_ds, recipe, shape, fast=True)}
    for pipeline in pipelines.values():  # one untimed pass each: allocations, oneDNN's kernel choice
        pipeline.train()
        pipeline.evaluate()
    seconds = {(kind, job): [] for kind in pipelines for job in ("train", "evaluate")}
    for _ in range(repeats):
        for kind, pipeline in pipelines.items():
            seconds[kind, "train"].append(timed(pipeline.train))
            seconds[kind, "evaluate"].append(timed(pipeline.evaluate))
    row = {"dataset": name, "images": len(train_ds)}
    for job, count in (("train", len(train_ds)), ("evaluate", len(test_ds))):
        for kind in pipelines:
            row[f"{kind} {job}"] = count / statistics.median(seconds[kind, job])
        row[f"{job} ratio"] = median_ratio(seconds["starter", job], seconds["smallcnn", job])
    return row


def markdown(rows: list[dict], command: str, load_before: str) -> str:
    lines = [f"Command: `{command}`", "", *(f"- {line}" for line in machine_lines()), f"- before: {load_before}",
             f"- after: {load_line()}", "",
             "| dataset | training images | starter train img/s | smallcnn train img/s | train ratio | "
             "starter eval img/s | smallcnn eval img/s | eval ratio |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['dataset']} | {r['images']:,} | {r['starter train']:,.0f} | {r['smallcnn train']:,.0f} | "
                     f"{r['train ratio']:.2f}x | {r['starter evaluate']:,.0f} | {r['smallcnn evaluate']:,.0f} | "
                     f"{r['evaluate ratio']:.2f}x |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=12800, help="training images per timed epoch")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(HERE / "bench.md"))
    args = parser.parse_args(argv)
    before = load_line()
    rows = [measure(name, work, args.repeats) for name, work in workloads(args.images).items()]
    command = "python benchmarks/bench.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = markdown(rows, command.strip(), before)
    Path(args.out).write_text(text)
    print(text)
    return rows


if __name__ == "__main__":
    main()
