"""Training: the recipe, cross-entropy with torch.optim.SGD, the training loop, evaluation.

Each epoch visits the training split in a fresh seeded random order, one slice of the in-memory tensors
per batch; after it, the validation split is evaluated and the weights of the best epoch by validation
accuracy are kept: that model, and only that one, is tested at the end. `fit` calls `on_epoch_end`
after every epoch, which is where the command-line tool saves checkpoints and prints progress.
"""

import copy
import math
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import distributed, nn

MIN_EPOCHS = 15  # the assignment's minimum


@dataclass
class TrainConfig:
    """The recipe of a training run: every setting the training loop reads."""
    epochs: int = MIN_EPOCHS
    batch_size: int = 128
    lr: float = 0.1                 # the peak learning rate of the one-cycle schedule
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    label_smoothing: float = 0.0
    augment: str = "none"           # "none", "flip" or "crop-flip"
    val_fraction: float = 0.1
    seed: int = 0
    subset: int = 0                 # > 0: train on this many images only (quick runs)


# Per-dataset changes to the recipe. Fashion-MNIST keeps the defaults: benchmarks/recipes.md compares the
# candidates on validation accuracy. CIFAR-100 adds random crops and flips and a lower peak rate (0.1
# killed every ReLU of the spec model on generated 100-class data); untested on the real CIFAR-100.
# CIFAR-10 (trained by the command line only) gets CIFAR-100's crops and flips.
RECIPES = {
    "fashion-mnist": {},
    "cifar100": {"augment": "crop-flip", "lr": 0.05},
    "cifar10": {"augment": "crop-flip"},
}


def default_config(dataset: str, **changes) -> TrainConfig:
    """The recipe for a dataset, with any fields in `changes` replaced."""
    return TrainConfig(**{**RECIPES[dataset], **changes})


def lr_factor(step: int, total: int) -> float:
    """The multiple of the peak learning rate at optimizer step `step` of `total`: one cycle.

    A linear warm-up over the first quarter of the steps, but at least 300 (at most three quarters of
    them), then a linear decay to zero. The floor matters for short runs only: reaching the peak within a
    few dozen steps can kill every ReLU of the small network, which then predicts one class for ever.
    """
    warmup = max(1, min(max(round(0.25 * total), 300), round(0.75 * total)))
    return (step + 1) / warmup if step < warmup else max(0.0, (total - step) / (total - warmup + 1))


def make_training(model: nn.Module, config: TrainConfig, train_size: int):
    """The loss, the optimizer and the learning-rate schedule of the recipe, for this model.

    train_size is the number of training images: an epoch takes ceil(train_size / batch_size) steps.
    """
    steps_per_epoch = math.ceil(train_size / config.batch_size)
    criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                nesterov=config.nesterov and config.momentum > 0,
                                weight_decay=config.weight_decay)
    total = config.epochs * steps_per_epoch  # the scheduler sets the learning rate before every step
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, total))
    return criterion, optimizer, scheduler


def augment(images: torch.Tensor, kind: str, generator: torch.Generator) -> torch.Tensor:
    """Random crop (reflect-pad 4, cut back to size) and/or horizontal flip, one draw per image."""
    n, _, h, w = images.shape
    # The draws come from the run's one CPU generator; non_blocking copies them to a GPU without waiting for it.
    if kind == "crop-flip":
        padded = F.pad(images, (4, 4, 4, 4), mode="reflect")
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


def train_step(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, criterion: nn.Module,
               optimizer: torch.optim.Optimizer) -> tuple[torch.Tensor, torch.Tensor]:
    """One SGD step on one batch; returns the batch's loss and logits."""
    logits = model(images)
    loss = criterion(logits, labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss, logits


def train_epoch(model: nn.Module, splits, criterion: nn.Module, optimizer: torch.optim.Optimizer, scheduler,
                config: TrainConfig, generator: torch.Generator) -> tuple[float, float]:
    """One pass over the training split in a seeded random order; returns (mean loss, accuracy)."""
    model.train()
    n = len(splits.train_y)
    # Under torchrun, each of `world` processes trains on its share of every batch (one process: all of it).
    rank, world = (distributed.get_rank(), distributed.get_world_size()) if distributed.is_initialized() else (0, 1)
    order = torch.randperm(n, generator=generator).to(splits.train_y.device)
    # The summed loss and the correct predictions stay on the device, read once per epoch: no sync per batch.
    totals = torch.zeros(2, device=splits.train_y.device)
    for start in range(0, n, config.batch_size):
        idx = order[start:start + config.batch_size]
        images = augment(splits.train_x[idx], config.augment, generator)[rank::world]
        labels = splits.train_y[idx][rank::world]
        loss, logits = train_step(model, images, labels, criterion, optimizer)
        scheduler.step()
        totals += torch.stack([loss.detach() * len(labels), (logits.argmax(dim=1) == labels).sum()])
    if world > 1:  # the totals of all processes: every one returns the same figures and decision below
        distributed.all_reduce(totals)
    mean_loss = totals[0].item() / n
    if not math.isfinite(mean_loss):
        raise FloatingPointError(f"the training loss became {mean_loss}; lower the learning rate "
                                 f"(now {config.lr}) and start again")
    return mean_loss, totals[1].item() / n


@torch.inference_mode()
def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, criterion: nn.Module,
             batch_size: int = 256) -> tuple[float, float, torch.Tensor]:
    """(mean loss, accuracy, predicted classes) of the model on a whole split.

    Batches of 256 keep the activations in the CPU's cache; inference mode skips autograd entirely.
    """
    model.eval()
    logits = torch.cat([model(images[i:i + batch_size]) for i in range(0, len(labels), batch_size)])
    predictions = logits.argmax(dim=1)
    return criterion(logits, labels).item(), (predictions == labels).float().mean().item(), predictions


@dataclass
class TrainState:
    """Everything that changes while training, so that a run can also continue where it stopped."""
    generator: torch.Generator      # the source of every random batch order and augmentation
    history: list = field(default_factory=list)  # one dict of losses and accuracies per epoch
    best_epoch: int = 0
    best_val_accuracy: float = -1.0
    best_weights: dict = None       # a copy of the weights of the best epoch by validation accuracy


def fit(model: nn.Module, splits, criterion: nn.Module, optimizer: torch.optim.Optimizer, scheduler,
        config: TrainConfig, state: TrainState | None = None, on_epoch_end=None) -> TrainState:
    """Train until config.epochs, validating after every epoch; returns the TrainState.

    A given `state` continues a run after its last finished epoch; on_epoch_end(state) runs after each.
    """
    state = state or TrainState(torch.Generator().manual_seed(config.seed))
    for epoch in range(len(state.history) + 1, config.epochs + 1):
        start = time.perf_counter()
        train_loss, train_acc = train_epoch(model, splits, criterion, optimizer, scheduler, config, state.generator)
        train_seconds = time.perf_counter() - start
        val_loss, val_acc, _ = evaluate(model, splits.val_x, splits.val_y, criterion)
        state.history.append({
            "epoch": epoch, "train_loss": train_loss, "train_accuracy": train_acc, "val_loss": val_loss,
            "val_accuracy": val_acc, "lr": scheduler.get_last_lr()[0],
            "seconds": time.perf_counter() - start, "images_per_second": len(splits.train_y) / train_seconds})
        if val_acc > state.best_val_accuracy:
            state.best_epoch, state.best_val_accuracy = epoch, val_acc
            state.best_weights = copy.deepcopy(model.state_dict())
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
