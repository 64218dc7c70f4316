"""Plots and a markdown report for a training run, every number read from the run's own results.

The figures are the assignment's evidence: training and validation loss per epoch (with accuracy
beside it), the test confusion matrix, and a grid of misclassified test images.
"""


import matplotlib.pyplot as plt
import numpy as np

from smallcnn.data import atomic_write


def plot_curves(history, title=""):
    """Loss (left) and accuracy (right) per epoch, training and validation on the same axes."""
    epochs = [row["epoch"] for row in history]
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    for split, style in (("train", "-o"), ("val", "-s")):
        label = "training" if split == "train" else "validation"
        loss_ax.plot(epochs, [row[f"{split}_loss"] for row in history], style, ms=3, label=f"{label} loss")
        acc_ax.plot(epochs, [100 * row[f"{split}_accuracy"] for row in history], style, ms=3,
                    label=f"{label} accuracy")
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy loss", title="Loss")
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy")
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_confusion(matrix, classes):
    """Row-normalised confusion matrix; for many classes the labels are dropped to stay legible."""
    matrix = np.asarray(matrix, dtype=float)
    rates = matrix / matrix.sum(axis=1, keepdims=True).clip(min=1)
    many = len(classes) > 20
    fig, ax = plt.subplots(figsize=(8, 7) if many else (7, 6))
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, label="fraction of the true class")
    ax.set(xlabel="predicted class", ylabel="true class", title="Test confusion matrix")
    if not many:
        ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
        ax.set_yticks(range(len(classes)), classes)
        for (i, j), rate in np.ndenumerate(rates):
            if rate >= 0.01:
                ax.text(j, i, f"{rate:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if rate > 0.5 else "black")
    fig.tight_layout()
    return fig


def plot_misclassified(images, labels, predictions, classes, count=24):
    """The first `count` misclassified test images, titled 'true -> predicted'."""
    wrong = np.flatnonzero(np.asarray(labels) != np.asarray(predictions))[:count]
    cols = 8
    rows = max(1, -(-len(wrong) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.5, rows * 1.7))
    for ax in np.ravel(axes):
        ax.axis("off")
    for ax, i in zip(np.ravel(axes), wrong):
        image = images[i].transpose(1, 2, 0)  # (C,H,W) -> (H,W,C) for imshow
        ax.imshow(image.squeeze(), cmap="gray" if image.shape[2] == 1 else None)
        ax.set_title(f"{classes[labels[i]]}\n-> {classes[predictions[i]]}", fontsize=7)
    fig.suptitle("Misclassified test images (true -> predicted)")
    fig.tight_layout()
    return fig


def save_figure(fig, path):
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)


def run_report_markdown(result):
    """report.md: what was trained on what, how it went, and where the figures are."""
    m, c = result.metrics, result.config
    worst = sorted(m["per_class_accuracy"].items(), key=lambda item: item[1])[:3]
    lines = [
        f"# {m['dataset']} - {m['variant']} model",
        "",
        f"Data: {m['dataset_identity']}.",
        "",
        "| metric | value |", "|---|---|",
        f"| test accuracy | {m['test_accuracy']:.2%} |",
    ]
    if "test_accuracy_flip_tta" in m:
        lines.append(f"| test accuracy, flip averaging | {m['test_accuracy_flip_tta']:.2%} |")
    lines += [
        f"| best validation accuracy | {m['best_val_accuracy']:.2%} (epoch {m['best_epoch']} of {m['epochs']}) |",
        f"| parameters | {m['params']:,} |",
        f"| training time | {m['train_seconds']:.1f} s ({m['images_per_second']:,.0f} images/s) |",
        "",
        f"Recipe: SGD lr {c.lr} ({c.schedule}), momentum {c.momentum}{' Nesterov' if c.nesterov else ''}, "
        f"weight decay {c.weight_decay}, batch {c.batch_size}, augmentation {c.augment}, "
        f"label smoothing {c.label_smoothing}, seed {c.seed}.",
        "",
        "Hardest classes: " + ", ".join(f"{name} ({acc:.1%})" for name, acc in worst) + ".",
        "",
        "![loss curves](loss_curves.png)", "", "![confusion matrix](confusion_matrix.png)", "",
        "![misclassified](misclassified.png)", "",
    ]
    return "\n".join(lines)


def write_run_report(result):
    """All figures and report.md of a finished run, beside its metrics in result.out_dir."""
    out, ds = result.out_dir, result.dataset
    save_figure(plot_curves(result.history, f"{ds.name}, {result.config.variant} model"), out / "loss_curves.png")
    save_figure(plot_confusion(result.metrics["confusion_matrix"], ds.classes), out / "confusion_matrix.png")
    save_figure(plot_misclassified(ds.test_images, ds.test_labels, result.test_predictions.numpy(), ds.classes),
                out / "misclassified.png")
    text = run_report_markdown(result)
    atomic_write(out / "report.md", lambda f: f.write(text.encode()))
    return out / "report.md"


def plot_study(rows, title):
    """Test accuracy of every study entry that ran, with the spec-adapted model as a dashed line."""
    ran = [r for r in rows if r["test_accuracy"] is not None]
    fig, ax = plt.subplots(figsize=(8, 0.45 * max(len(ran), 2) + 1.5))
    names = [f"{r['entry']} ({r['params']:,} params)" for r in ran]
    ax.barh(names, [100 * r["test_accuracy"] for r in ran], color="tab:blue")
    base = next((r for r in ran if r["entry"] == "spec"), None)
    if base:
        ax.axvline(100 * base["test_accuracy"], color="black", linestyle="--", label="spec-adapted model")
        ax.legend(loc="best")
    skipped = len(rows) - len(ran)
    # Long titles (the not-official warning) break at their dash so that none of the warning is cut off.
    title = title.replace(" -- ", "\n") + (f"\n({skipped} entries skipped: see the table)" if skipped else "")
    ax.set(xlabel="test accuracy (%)", title=title)
    ax.invert_yaxis()  # study order top to bottom
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


# --- Part 1 comparison chart -----------------------------------------------------------------------

COMPARISON_COLOURS = {"published": "#9bb7d4", "measured": "#f0a04b", "cnn": "#c0392b"}


def plot_comparison(ranked, title="Fashion-MNIST test accuracy: CNN vs Table 3 (published) and baselines measured here"):
    """Horizontal bars, best at the top, coloured published / measured here / CNN run."""
    rows = list(reversed(ranked))  # barh draws bottom-up, so reverse to put rank 1 at the top
    kinds = ["cnn" if r["model"] == "cnn" else r["source"] for r in rows]
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(rows) + 1.6))
    bars = ax.barh(range(len(rows)), [100 * r["accuracy"] for r in rows],
                   color=[COMPARISON_COLOURS[k] for k in kinds])
    ax.set_yticks(range(len(rows)), [f"{r['name']} ({r['source']})" for r in rows], fontsize=8)
    for bar, r in zip(bars, rows):
        ax.text(bar.get_width() + 0.2, bar.get_y() + bar.get_height() / 2, f"{r['accuracy']:.1%}",
                va="center", fontsize=7)
    low = min(100 * r["accuracy"] for r in rows)
    ax.set_xlim(max(0, low - 5), 100)
    ax.set_xlabel("test accuracy (%)")
    ax.set_title(title, fontsize=10)
    handles = [plt.Rectangle((0, 0), 1, 1, color=COMPARISON_COLOURS[k]) for k in ("cnn", "measured", "published")]
    ax.legend(handles, ["CNN run (measured here)", "measured here", "published (Xiao et al. 2017)"],
              loc="lower right", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig
