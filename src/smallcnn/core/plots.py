"""Plots: example images, loss curves, the confusion matrix, the Table 3 chart and the study chart.

Every function returns a matplotlib Figure and reads its numbers from the results it is given.
"""

import math

import matplotlib.pyplot as plt
import torch
from torch import Tensor


def show_examples(images: Tensor, labels: Tensor, classes: list, per_class: int = 8, max_classes=10) -> plt.Figure:
    """A grid of example images: one row per class (the first max_classes classes), per_class columns."""
    fig, axes = plt.subplots(min(len(classes), max_classes), per_class, figsize=(per_class * 0.9, max_classes))
    for c, row in enumerate(axes):
        for ax, i in zip(row, torch.nonzero(labels == c).flatten()[:per_class]):
            image = images[i].permute(1, 2, 0).squeeze().numpy()  # (C,H,W) -> (H,W,C); grey images lose C
            ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
        row[0].set_ylabel(classes[c], rotation=0, ha="right", va="center", fontsize=8)
    plt.setp(axes, xticks=[], yticks=[])
    fig.tight_layout()
    return fig


def plot_curves(history: list[dict], title: str = "") -> plt.Figure:
    """Training and validation loss (left) and accuracy (right) after every epoch."""
    epochs = [row["epoch"] for row in history]
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 3.6))
    # The training figures are averages over each epoch (while the weights changed); the validation
    # figures are measured after it, so early on validation can look better than training.
    for split, name in (("train", "training"), ("val", "validation")):
        loss_ax.plot(epochs, [row[f"{split}_loss"] for row in history], "o-", ms=3, label=name)
        acc_ax.plot(epochs, [100 * row[f"{split}_accuracy"] for row in history], "o-", ms=3, label=name)
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy loss", title="Loss")
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy")
    loss_ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def confusion_matrix(labels: Tensor, predictions: Tensor, num_classes: int) -> Tensor:
    """counts[true class, predicted class], from one bincount over the pairs."""
    pairs = labels.cpu() * num_classes + predictions.cpu()
    return torch.bincount(pairs, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def class_rates(matrix: Tensor) -> Tensor:
    """The confusion matrix with each row divided by its total: what each true class is predicted as."""
    return matrix.float() / matrix.sum(dim=1, keepdim=True).clamp(min=1)


def print_mistakes(matrix: Tensor, classes: list, count: int = 3) -> tuple[dict, list]:
    """Print the accuracy on each class, worst first, then the `count` most frequent mistakes; returns
    ({class: accuracy}, [[true class, predicted class, fraction of the true class], ...])."""
    rates = class_rates(matrix)
    for name, value in sorted(zip(classes, rates.diagonal().tolist()), key=lambda item: item[1]):
        print(f"{name:<14} {value:.2%}")
    largest = torch.topk((rates - torch.diag(rates.diagonal())).flatten(), count)  # right answers left out
    pairs = [[classes[i // len(classes)], classes[i % len(classes)], rate]
             for rate, i in zip(largest.values.tolist(), largest.indices.tolist())]
    for true, predicted, rate in pairs:
        print(f"{rate:.2%} of the {true} images are predicted as {predicted}")
    return dict(zip(classes, rates.diagonal().tolist())), pairs


def plot_confusion(matrix, classes: list) -> plt.Figure:
    """The confusion matrix with each row divided by its total: the fraction of each true class."""
    rates = class_rates(torch.as_tensor(matrix).cpu()).numpy()
    fig, ax = plt.subplots(figsize=(7, 6))
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, label="fraction of the true class")
    ax.set(xlabel="predicted class", ylabel="true class", title="Test confusion matrix")
    if len(classes) <= 20:  # with 100 classes, the names would be unreadable
        ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
        ax.set_yticks(range(len(classes)), classes)
    fig.tight_layout()
    return fig


def summarise_curves(history: list[dict]) -> None:
    """Print the numbers behind the curves: the last epoch (the weights that are tested) and the best one."""
    last, best = history[-1], max(history, key=lambda row: row["val_accuracy"])
    print(f"last epoch: training loss {last['train_loss']:.4f}, validation loss {last['val_loss']:.4f}; "
          f"training accuracy {last['train_accuracy']:.2%}, validation accuracy {last['val_accuracy']:.2%}")
    print(f"best validation accuracy {best['val_accuracy']:.2%} in epoch {best['epoch']}")


def plot_comparison(rows: list[dict], title: str, shown_points: float = 10) -> plt.Figure:
    """Bars of test accuracy, best at the top, each labelled with its value; the axis zooms in on the rows
    within shown_points of the best (and the CNN's), so that close results can be told apart, and names the others."""
    colours = {"published": "#9bb7d4", "measured here": "#f0a04b", "this CNN": "#c0392b"}
    best = max(100 * r["accuracy"] for r in rows)
    shown = [r for r in rows if 100 * r["accuracy"] >= best - shown_points or r["source"] == "this CNN"]
    hidden = [r for r in rows if r not in shown]
    values = [100 * r["accuracy"] for r in shown]
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(shown) + 1.8))
    names = [r["name"] + (" (measured here)" if r["source"] == "measured here" else "") for r in shown]
    bars = ax.barh(names, values, color=[colours[r["source"]] for r in shown])
    ax.bar_label(bars, labels=[f"{v:.2f}%" for v in values], padding=3, fontsize=8)
    ax.set_xlim(math.floor(min(values)) - 1, math.ceil(best) + 1)
    below = "; below the axis: " + ", ".join(f"{r['name']} {100 * r['accuracy']:.2f}%" for r in hidden)
    ax.set(xlabel="test accuracy (%)" + (below if hidden else ""), title=title)
    ax.invert_yaxis()  # the best at the top
    fig.tight_layout()
    return fig


def plot_study(rows: list[dict], title: str) -> plt.Figure:
    """Validation accuracy of every study entry that ran, the spec-adapted model as a dashed line."""
    ran = [r for r in rows if r["val_accuracy"] is not None]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(ran) + 1.5))
    ax.barh([f"{r['entry']} ({r['params']:,} params)" for r in ran], [100 * r["val_accuracy"] for r in ran])
    for spec in (r for r in ran if r["entry"] == "spec"):  # the baseline as a dashed line
        ax.axvline(100 * spec["val_accuracy"], color="black", linestyle="--")
    ax.set(xlabel="validation accuracy (%)", title=title)
    ax.invert_yaxis()  # keep the study's order from top to bottom
    fig.tight_layout()
    return fig
