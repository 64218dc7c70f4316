"""Plots: example images, loss curves, the confusion matrix, the Table 3 chart and the study chart.

Each reads its numbers from the results it is given. plot_losses draws on the current figure, so
that the notebook's own plt.legend(), plt.grid() and plt.show() finish it; the others return one.
"""

import math

import matplotlib.pyplot as plt
import torch
from matplotlib.ticker import MaxNLocator

from smallcnn.core.metrics import class_rates


def show_examples(dataset, per_class: int = 8, max_classes: int = 10) -> plt.Figure:
    """A grid of a torchvision dataset's images as stored: one row per class (the first max_classes
    classes), per_class columns."""
    images = torch.as_tensor(dataset.data)  # uint8: N x H x W (grey) or N x H x W x 3 (colour)
    labels = torch.as_tensor(dataset.targets)
    rows = min(len(dataset.classes), max_classes)
    fig, axes = plt.subplots(rows, per_class, figsize=(per_class * 0.9, rows))
    for c, row in enumerate(axes):
        for ax, i in zip(row, torch.nonzero(labels == c).flatten()[:per_class]):
            ax.imshow(images[i].numpy(), cmap="gray" if images.ndim == 3 else None)
        row[0].set_ylabel(dataset.classes[c], rotation=0, ha="right", va="center", fontsize=8)
    plt.setp(axes, xticks=[], yticks=[])
    fig.tight_layout()
    return fig


def plot_losses(train_losses: list, val_losses: list, title: str = "") -> None:
    """Training and validation loss after every epoch, on the current figure. The first epoch's
    loss, far above the rest, would squash the later epochs: the axis stops just above those."""
    epochs = range(1, len(train_losses) + 1)
    # The training loss is the mean over each epoch, while the weights changed; the validation loss
    # is measured after it, so early on the validation loss can be the lower one.
    plt.plot(epochs, train_losses, "o-", ms=3, label="training loss")
    plt.plot(epochs, val_losses, "o-", ms=3, label="validation loss")
    later = [*train_losses[1:], *val_losses[1:]] or [*train_losses, *val_losses]
    top, bottom = max(later), min(later)
    plt.ylim(bottom - 0.1 * (top - bottom), top + 0.15 * (top - bottom))
    first = {"training": train_losses[0], "validation": val_losses[0]}
    clipped = [f"{name} {loss:.2f}" for name, loss in first.items() if loss > plt.ylim()[1]]
    if clipped:  # name the points above the axis with their values
        plt.annotate(f"epoch 1, above the axis: {', '.join(clipped)}", (1, plt.ylim()[1]),
                     xytext=(8, -12), textcoords="offset points", fontsize=8)
    plt.gca().xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs
    plt.xlabel("epoch")
    plt.ylabel("cross-entropy loss")
    plt.title(title)


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


def plot_comparison(rows: list[dict], title: str, shown_points: float = 10) -> plt.Figure:
    """Bars of test accuracy, best at the top, each labelled with its value; the axis zooms in on
    the rows within shown_points of the best (and the CNN's), so that close results can be told
    apart, and names the others."""
    colours = {"published": "#9bb7d4", "measured here": "#f0a04b", "this CNN": "#c0392b"}
    best = max(100 * r["accuracy"] for r in rows)
    shown = [r for r in rows
             if 100 * r["accuracy"] >= best - shown_points or r["source"] == "this CNN"]
    hidden = [r for r in rows if r not in shown]
    values = [100 * r["accuracy"] for r in shown]
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(shown) + 1.8))
    names = [r["name"] + (" (measured here)" if r["source"] == "measured here" else "")
             for r in shown]
    bars = ax.barh(names, values, color=[colours[r["source"]] for r in shown])
    ax.bar_label(bars, labels=[f"{v:.2f}%" for v in values], padding=3, fontsize=8)
    ax.set_xlim(math.floor(min(values)) - 1, math.ceil(best) + 1)
    below = "\nbelow the axis: " + ", ".join(f"{r['name']} {100 * r['accuracy']:.2f}%"
                                             for r in hidden)
    ax.set(xlabel="test accuracy (%)" + (below if hidden else ""), title=title)
    ax.invert_yaxis()  # the best at the top
    fig.tight_layout()
    return fig


def plot_study(rows: list[dict], title: str) -> plt.Figure:
    """Validation accuracy of every study entry, the adapted network's as a dashed line."""
    ran = [r for r in rows if r["val_accuracy"] is not None]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(ran) + 1.5))
    ax.barh([f"{r['entry']} ({r['params']:,} params)" for r in ran],
            [100 * r["val_accuracy"] for r in ran])
    for spec in (r for r in ran if r["entry"] == "spec"):  # the baseline as a dashed line
        ax.axvline(100 * spec["val_accuracy"], color="black", linestyle="--")
    ax.set(xlabel="validation accuracy (%)", title=title)
    ax.invert_yaxis()  # keep the study's order from top to bottom
    fig.tight_layout()
    return fig
