"""Plots: example images, loss curves, the confusion matrix, the Table 3 chart and the study chart.

Every function returns a matplotlib Figure and reads its numbers from the results it is given.
"""

import matplotlib.pyplot as plt
import numpy as np
import torch


def show_examples(images, labels, classes, per_class=8, max_classes=10):
    """A grid of example images: one row per class (the first max_classes classes), per_class columns."""
    shown = range(min(len(classes), max_classes))
    fig, axes = plt.subplots(len(shown), per_class, figsize=(per_class * 0.9, len(shown) * 1.0))
    for row, c in zip(axes, shown):
        for ax, i in zip(row, torch.nonzero(labels == c).flatten()[:per_class]):
            image = images[i].permute(1, 2, 0).squeeze()  # (C,H,W) -> (H,W,C); grey images lose C
            ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
        row[0].set_ylabel(classes[c], rotation=0, ha="right", va="center", fontsize=8)
    plt.setp(axes, xticks=[], yticks=[])
    fig.tight_layout()
    return fig


def plot_curves(history, title=""):
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


def confusion_matrix(labels, predictions, num_classes):
    """counts[true class, predicted class], from one bincount over the pairs."""
    pairs = labels.cpu() * num_classes + predictions.cpu()
    return torch.bincount(pairs, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def per_class_accuracy(matrix, classes, show=True):
    """The accuracy on each class (the diagonal over the row totals), printed worst first when show is True."""
    accuracy = (matrix.diagonal() / matrix.sum(dim=1).clamp(min=1)).tolist()
    for name, value in sorted(zip(classes, accuracy), key=lambda item: item[1]) if show else ():
        print(f"{name:<14} {value:.2%}")
    return dict(zip(classes, accuracy))


def plot_confusion(matrix, classes):
    """The confusion matrix with each row divided by its total: the fraction of each true class."""
    rates = np.asarray(matrix, dtype=float)
    rates = rates / rates.sum(axis=1, keepdims=True).clip(min=1)
    fig, ax = plt.subplots(figsize=(7, 6))
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, label="fraction of the true class")
    ax.set(xlabel="predicted class", ylabel="true class", title="Test confusion matrix")
    if len(classes) <= 20:  # with 100 classes, the names would be unreadable
        ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
        ax.set_yticks(range(len(classes)), classes)
    fig.tight_layout()
    return fig


def summarise_curves(state):
    """Print the numbers behind the curves: the last epoch and the best one."""
    last = state.history[-1]
    print(f"last epoch: training loss {last['train_loss']:.4f}, validation loss {last['val_loss']:.4f}; "
          f"training accuracy {last['train_accuracy']:.2%}, validation accuracy {last['val_accuracy']:.2%}")
    print(f"best validation accuracy {state.best_val_accuracy:.2%} in epoch {state.best_epoch}")


def plot_comparison(rows, title):
    """Horizontal bars of test accuracy, best at the top, coloured by where each figure comes from."""
    colours = {"published": "#9bb7d4", "measured here": "#f0a04b", "this CNN": "#c0392b"}
    fig, ax = plt.subplots(figsize=(9, 0.3 * len(rows) + 1.6))
    names = [f"{r['name']} ({r['source']})" for r in rows]
    ax.barh(names, [100 * r["accuracy"] for r in rows], color=[colours[r["source"]] for r in rows])
    ax.set(xlabel="test accuracy (%)", title=title)
    ax.invert_yaxis()  # the best at the top
    fig.tight_layout()
    return fig


def plot_study(rows, title):
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
