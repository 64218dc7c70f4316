"""Training: the recipe, cross-entropy with torch.optim.SGD, the training loop, evaluation.

Each epoch visits the training split in a fresh seeded random order, one slice of the in-memory tensors
per batch; after it, the validation split is evaluated. The weights after the last epoch are the model
that is tested, once, at the end. `fit` calls `on_epoch_end` after every epoch: to print progress, or to
save a checkpoint.
"""

import math
import time
from dataclasses import dataclass, field
from types import SimpleNamespace

import torch
from torch import Tensor, nn

MIN_EPOCHS = 15  # the assignment's minimum


@dataclass
class TrainConfig:
    """The recipe of a training run: every setting the training loop reads."""
    epochs: int = 25                # chosen on validation (at least MIN_EPOCHS, the assignment's minimum)
    batch_size: int = 128
    lr: float = 0.05                # the peak learning rate of the one-cycle schedule, chosen on validation
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    label_smoothing: float = 0.0
    augment: str = "none"           # "none", "flip" or "crop-flip"
    val_fraction: float = 0.1
    seed: int = 0
    subset: int = 0                 # > 0: train on this many images only (quick runs)


# Per-dataset changes to the recipe: the CIFAR datasets add random crops and flips (colour photos of objects
# seen from many positions) and keep to the minimum of epochs, since their wider variants train far slower.
RECIPES = {
    "fashion-mnist": {},
    "cifar100": {"augment": "crop-flip", "epochs": MIN_EPOCHS},
    "cifar10": {"augment": "crop-flip", "epochs": MIN_EPOCHS},
}


def default_config(dataset: str, **changes) -> TrainConfig:
    """The recipe for a dataset, with any fields in `changes` replaced."""
    return TrainConfig(**{**RECIPES[dataset], **changes})


def lr_factor(step: int, total: int) -> float:
    """The multiple of the peak learning rate at step `step` of `total`: a linear warm-up, then a linear decay
    to zero. (Reaching the peak within a few dozen steps can kill every ReLU of the small network.)"""
    warmup = warmup_steps(total)
    return (step + 1) / warmup if step < warmup else max(0.0, (total - step) / (total - warmup + 1))


def warmup_steps(total: int) -> int:
    """The warm-up's length: a quarter of the `total` steps, at least 300, at most three quarters."""
    return max(1, min(max(round(0.25 * total), 300), round(0.75 * total)))


def make_training(model: nn.Module, config: TrainConfig, train_size: int) -> tuple:
    """The loss, the optimizer and the learning-rate schedule of the recipe, for this model and training split."""
    criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                nesterov=config.nesterov and config.momentum > 0,
                                weight_decay=config.weight_decay)
    total = config.epochs * math.ceil(train_size / config.batch_size)  # one scheduler step per batch
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, total))
    return criterion, optimizer, scheduler


def describe_recipe(config: TrainConfig, train_size: int) -> str:
    """The recipe in words, with the schedule's step counts: what the optimizer is about to do."""
    total = config.epochs * (steps := math.ceil(train_size / config.batch_size))
    return (f"SGD: momentum {config.momentum}{' (Nesterov)' if config.nesterov else ''}, weight decay "
            f"{config.weight_decay}, batch size {config.batch_size} ({steps} steps per epoch).\n"
            f"Learning rate: from 0 up to the peak {config.lr} over the first {warmup_steps(total):,} steps, then "
            f"down to 0 at step {total:,}, the end of epoch {config.epochs}.\nAugmentation: {config.augment}.")


def augment(images: Tensor, kind: str, generator: torch.Generator) -> Tensor:
    """Random crop (reflect-pad 4, cut back to size) and/or horizontal flip, one draw per image."""
    n, _, h, w = images.shape
    if kind == "crop-flip":
        padded = nn.functional.pad(images, (4, 4, 4, 4), mode="reflect")
        dy, dx = (torch.randint(0, 9, (n,), generator=generator).to(images.device, non_blocking=True)
                  for _ in range(2))
        # One gather for the whole batch: each image's rows and columns start at its own offset.
        rows = (dy[:, None] + torch.arange(h, device=images.device))[:, :, None]
        cols = (dx[:, None] + torch.arange(w, device=images.device))[:, None, :]
        batch = torch.arange(n, device=images.device)[:, None, None]
        images = padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)
    if kind in ("flip", "crop-flip"):
        flip = (torch.rand(n, generator=generator) < 0.5).to(images.device, non_blocking=True)
        images = torch.where(flip[:, None, None, None], images.flip(-1), images)
    return images


def train_step(model: nn.Module, images: Tensor, labels: Tensor, criterion: nn.Module, optimizer) -> Tensor:
    """One SGD step on one batch; returns the batch's summed loss and number of right predictions."""
    logits = model(images)
    loss = criterion(logits, labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    # The batch's summed loss and number of right predictions, kept on the device (no waiting for a GPU).
    return torch.stack([loss.detach() * len(labels), (logits.argmax(dim=1) == labels).sum()])


def train_epoch(model: nn.Module, splits: SimpleNamespace, criterion: nn.Module, optimizer, scheduler,
                config: TrainConfig, generator: torch.Generator, step=None) -> tuple[float, float]:
    """One pass over the training split in a seeded random order; returns (mean loss, accuracy).
    `step` (train_step when None) trains on one batch and returns its totals."""
    model.train()
    n = len(splits.train_y)
    order = torch.randperm(n, generator=generator).to(splits.train_y.device)
    totals = torch.zeros(2, device=splits.train_y.device)  # summed loss, right predictions: read once per epoch
    for start in range(0, n, config.batch_size):
        idx = order[start:start + config.batch_size]
        images = augment(splits.train_x[idx], config.augment, generator)
        totals += (step or train_step)(model, images, splits.train_y[idx], criterion, optimizer)
        scheduler.step()
    mean_loss = totals[0].item() / n
    if not math.isfinite(mean_loss):
        raise FloatingPointError(f"the training loss became {mean_loss}; lower the learning rate "
                                 f"(now {config.lr}) and start again")
    return mean_loss, totals[1].item() / n


@torch.inference_mode()
def evaluate(model: nn.Module, images: Tensor, labels: Tensor, criterion: nn.Module, batch_size: int = 256) -> tuple:
    """(mean loss, accuracy, predicted classes) of the model on a whole split, in batches of 256 images."""
    model.eval()
    logits = torch.cat([model(images[i:i + batch_size]) for i in range(0, len(labels), batch_size)])
    predictions = logits.argmax(dim=1)
    return criterion(logits, labels).item(), (predictions == labels).float().mean().item(), predictions


@dataclass
class TrainState:
    """Everything that changes while training, so that a run can also continue where it stopped."""
    generator: torch.Generator      # the source of every random batch order and augmentation
    history: list = field(default_factory=list)  # one dict of losses and accuracies per epoch


def fit(model, splits, criterion, optimizer, scheduler, config, state=None, on_epoch_end=None, step=None) -> TrainState:
    """Train until config.epochs, validating after every epoch; returns the TrainState.

    A given `state` continues a run after its last finished epoch; on_epoch_end(state) runs after each;
    `step` replaces train_step when given. The weights at the end are the ones to test.
    """
    state = state or TrainState(torch.Generator().manual_seed(config.seed))
    for epoch in range(len(state.history) + 1, config.epochs + 1):
        start = time.perf_counter()
        train_loss, train_acc = train_epoch(model, splits, criterion, optimizer, scheduler, config,
                                            state.generator, step)
        train_seconds = time.perf_counter() - start
        val_loss, val_acc, _ = evaluate(model, splits.val_x, splits.val_y, criterion)
        state.history.append({
            "epoch": epoch, "train_loss": train_loss, "train_accuracy": train_acc, "val_loss": val_loss,
            "val_accuracy": val_acc, "lr": scheduler.get_last_lr()[0],
            "seconds": time.perf_counter() - start, "images_per_second": len(splits.train_y) / train_seconds})
        if on_epoch_end:
            on_epoch_end(state)
    return state


def format_epoch(row: dict, epochs: int | None = None) -> str:
    """One epoch of the history as one line (numbered "n/epochs" when the number of epochs is given)."""
    number = f"{row['epoch']:>3}/{epochs}" if epochs else f"{row['epoch']:>2}"
    return (f"epoch {number}: training loss {row['train_loss']:.4f}, accuracy {row['train_accuracy']:.2%}; "
            f"validation loss {row['val_loss']:.4f}, accuracy {row['val_accuracy']:.2%} ({row['seconds']:.1f} s)")


def print_epoch(state: TrainState) -> None:
    """Print one line per finished epoch (use it as fit's on_epoch_end)."""
    print(format_epoch(state.history[-1]))
