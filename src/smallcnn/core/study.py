"""The Part 2 architecture study: one change at a time against the spec-adapted model.

Every entry trains with the Part 2 recipe on the same split and is judged on the validation split: the
study ranks by validation accuracy and never looks at the test set. The entries in ALWAYS train in full
whatever the budget; the others run in the order given while the time budget lasts: each one's cost is
first estimated from a few timed training steps, and an entry that would not fit is listed as skipped.
"""

import copy
import math
import time
from dataclasses import replace
from types import SimpleNamespace

import torch
from torch import nn

from smallcnn.core.models import build_model, count_parameters
from smallcnn.core.train import TrainConfig, fit, make_training, train_step

# name: (model variant, recipe changes, what differs from the spec-adapted model), in the order the budget
# goes to them: the combined candidate first, then the single changes, the slowest last.
STUDY = {
    "spec": ("spec", {}, "nothing: the spec-adapted model"),
    "wide-bn": ("wide-bn", {}, "widths 32-64-128 with BatchNorm (several changes at once)"),
    "no-bottleneck": ("no-bottleneck", {}, "no 5-channel bottleneck (the second conv has 16 channels)"),
    "batchnorm": ("batchnorm", {}, "BatchNorm after every conv"),
    "wide2": ("wide2", {}, "every conv layer 2x wider"),
    "no-augment": ("spec", {"augment": "none"}, "augmentation off (no random crops or flips)"),
    "dropout": ("dropout", {}, "dropout 0.3 before the classifier"),
    "label-smoothing": ("spec", {"label_smoothing": 0.1}, "label smoothing 0.1"),
    "gap": ("gap", {}, "global average pooling before the classifier"),
    "wide4": ("wide4", {}, "every conv layer 4x wider"),
    "wide8": ("wide8", {}, "every conv layer 8x wider"),
}


# Trained whatever the budget: a plain three-block CNN of the kind published results put well above 30% (see 7(b)).
ALWAYS = ("wide-bn",)


def wait_for(device: torch.device) -> None:
    """Wait until a GPU has finished its queued work: it runs kernels asynchronously, after the call returns."""
    if device.type != "cpu":  # torch.accelerator covers every GPU kind alike (CUDA, Apple's MPS)
        torch.accelerator.synchronize(device)


def estimate_seconds(model: nn.Module, splits: SimpleNamespace, config: TrainConfig, steps: int = 3) -> float:
    """Seconds a whole run of this model should take, from a few timed training steps on a copy of it (after
    an untimed first step); evaluating costs about a third of training on as many images (no backward pass)."""
    model = copy.deepcopy(model)  # the timed steps must not change the model that is trained
    images, labels = splits.train_x[:config.batch_size], splits.train_y[:config.batch_size]
    criterion, optimizer, _ = make_training(model, config, len(labels))  # one batch: one step per epoch
    train_step(model.train(), images, labels, criterion, optimizer)
    wait_for(images.device)
    start = time.perf_counter()
    for _ in range(steps):
        train_step(model, images, labels, criterion, optimizer)
    wait_for(images.device)
    per_image = (time.perf_counter() - start) / (steps * len(labels))
    return config.epochs * per_image * (len(splits.train_y) + len(splits.val_y) / 3)


def run_study(names: list[str], splits: SimpleNamespace, base: TrainConfig, shape: tuple, budget_seconds: float,
              trained: dict | None = None) -> tuple[list[dict], dict]:
    """Train every entry that fits the remaining budget; returns (table rows, {name: (model, state)}).

    Entries already in `trained` (such as the spec-adapted model trained before) are not trained again;
    the entries in ALWAYS are trained first and do not count against the budget.
    """
    trained = dict(trained or {})
    always = {name: study_entry(name, splits, base, shape, math.inf, trained) for name in names if name in ALWAYS}
    start = time.perf_counter()  # one entry after the other, each given the budget that is left when it starts
    rows = [always.get(name) or study_entry(name, splits, base, shape, budget_seconds - (time.perf_counter() - start),
                                            trained) for name in names]
    return compare_with_spec(rows), trained


def study_entry(name: str, splits, base: TrainConfig, shape: tuple, seconds_left: float, trained: dict) -> dict:
    """One entry's table row; trains it into `trained` unless it is there or would not fit in seconds_left."""
    variant, changes, change = STUDY[name]
    config = replace(base, **changes)
    torch.manual_seed(config.seed)  # every entry starts from the same random state
    model = build_model(variant, *shape).to(splits.train_x.device, memory_format=torch.channels_last)
    row = {"entry": name, "change": change, "params": count_parameters(model), "status": "ran",
           "val_accuracy": None, "seconds": None, "epochs": config.epochs}
    if name not in trained:
        estimate = estimate_seconds(model, splits, config)
        if estimate > seconds_left:
            return {**row, "status": f"skipped: needs about {estimate:.0f} s, {max(seconds_left, 0):.0f} s left"}
        trained[name] = (model, fit(model, splits, *make_training(model, config, len(splits.train_y)), config))
    history = trained[name][1].history  # judged, as in Part 1, by the last epoch's weights
    return {**row, "val_accuracy": history[-1]["val_accuracy"], "seconds": sum(row["seconds"] for row in history)}


def compare_with_spec(rows: list[dict]) -> list[dict]:
    """Adds each row's change in validation accuracy against the spec-adapted model, in points."""
    spec = next((r["val_accuracy"] for r in rows if r["entry"] == "spec"), None)
    for row in rows:
        row["val_delta_points"] = None if None in (row["val_accuracy"], spec) else 100 * (row["val_accuracy"] - spec)
    return rows


def chosen_entry(rows: list[dict]) -> str | None:
    """The entry with the highest validation accuracy: the one the study recommends (None if none ran)."""
    ran = [r for r in rows if r["val_accuracy"] is not None]
    return max(ran, key=lambda r: r["val_accuracy"])["entry"] if ran else None
