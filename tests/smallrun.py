"""The small training run the run tests share: its command line, and what a finished run holds."""

import csv
import json

import torch

# Dropout (the global RNG) and flips (the run's generator) make every random state matter on resume.
# On the CPU: bit-identical resumes are promised for the same machine and thread count, and CUDA kernels
# need not be deterministic.
RUN_ARGS = ["fashion-mnist", "--subset", "2000", "--epochs", "4", "--seed", "3", "--variant", "dropout",
            "--augment", "flip", "--batch-size", "128", "--device", "cpu"]
STEPS_PER_EPOCH = 16  # 2,000 images in batches of 128
TIMING = ("seconds", "images_per_second", "train_seconds")


def run_args(fashion, out, *extra):
    return ["train", *RUN_ARGS, "--data-dir", str(fashion.location), "--out", str(out), *extra]


def finished(out):
    """A finished run's metrics, history and weights, without the timings (which always differ)."""
    metrics = json.loads((out / "metrics.json").read_text())
    with (out / "history.csv").open() as f:
        history = [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(f)]
    weights = torch.load(out / "model.pt", weights_only=False)["state_dict"]
    return {k: v for k, v in metrics.items() if k not in TIMING}, history, {k: v.tolist() for k, v in weights.items()}
