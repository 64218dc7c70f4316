"""Part 2's architecture study: one change at a time against the adapted network, on validation.

Every entry trains in full with the Part 2 recipe on the same split, from the same random state, and
is judged by its last epoch's validation accuracy; the test set plays no part in the choice.
"""

import copy
from dataclasses import replace

import torch

from smallcnn.core.data import TensorLoader
from smallcnn.core.models import build_model, count_parameters
from smallcnn.core.train import TrainConfig, fit, make_training

# name: (model variant, recipe changes, what differs from the adapted network). I leave out the
# widest networks (4x, 8x): they would take hours to train on a laptop's CPU.
STUDY = {
    "spec": ("spec", {}, "nothing: the adapted network"),
    "wide-bn": ("wide-bn", {}, "widths 32-64-128 with BatchNorm (several changes at once)"),
    "no-bottleneck": ("no-bottleneck", {}, "no 5-channel bottleneck (the second conv has 16)"),
    "batchnorm": ("batchnorm", {}, "BatchNorm after every conv"),
    "wide2": ("wide2", {}, "every conv layer 2x wider"),
    "no-augment": ("spec", {"augment": "none"}, "augmentation off (no random crops or flips)"),
    "dropout": ("dropout", {}, "dropout 0.3 before the classifier"),
    "label-smoothing": ("spec", {"label_smoothing": 0.1}, "label smoothing 0.1"),
    "gap": ("gap", {}, "global average pooling before the classifier"),
}


def entry_loader(train_loader: TensorLoader, recipe: TrainConfig) -> TensorLoader:
    """The same training images in a fresh seeded order, with the entry's augmentation."""
    loader = copy.copy(train_loader)
    loader.augment, loader.generator = recipe.augment, torch.Generator().manual_seed(recipe.seed)
    return loader


def train_entry(name: str, train_loader, val_loader, recipe: TrainConfig, device,
                shape: tuple) -> tuple:
    """(model, history) of one study entry trained in full; shape: (channels, side, classes)."""
    variant, changes, _ = STUDY[name]
    recipe = replace(recipe, **changes)
    train_loader = entry_loader(train_loader, recipe)
    torch.manual_seed(recipe.seed)  # every entry starts from the same random state
    model = build_model(variant, *shape).to(device, memory_format=torch.channels_last)
    criterion, optimizer, scheduler = make_training(model, recipe, len(train_loader))
    history = fit(model, train_loader, val_loader, criterion, optimizer, scheduler, device,
                  recipe.epochs, recipe.test_flips)
    return model, history


def study_rows(results: dict) -> list[dict]:
    """One row per entry of {name: (model, history)}: its change, size and last-epoch validation
    accuracy, and that accuracy's difference from the adapted network's in points."""
    spec = results["spec"][1]["val_accs"][-1] if "spec" in results else None
    rows = []
    for name, (model, history) in results.items():
        accuracy = history["val_accs"][-1]
        rows.append({"entry": name, "change": STUDY[name][2], "params": count_parameters(model),
                     "val_accuracy": accuracy, "seconds": sum(history["seconds"]),
                     "val_delta_points": None if spec is None else 100 * (accuracy - spec)})
    return rows


def chosen_entry(rows: list[dict]) -> str:
    """The entry with the highest validation accuracy: my implementation for Part 2."""
    return max(rows, key=lambda row: row["val_accuracy"])["entry"]
