"""What a finished run shows a reader: history.csv, its two figures and report.md."""

from pathlib import Path

import matplotlib.pyplot as plt

from smallcnn.core.plots import plot_confusion, plot_losses
from smallcnn.files import csv_text, save_figure, write_text

HISTORY_COLUMNS = {"train_losses": "train_loss", "train_accs": "train_accuracy", "val_losses": "val_loss",
                   "val_accs": "val_accuracy", "seconds": "seconds"}

# Which weights are tested, and why: written into every report.
POLICY = ("The weights tested are the last epoch's: the one-cycle schedule has annealed the learning rate to zero by "
          "then, and keeping the best-validation epoch instead did no better on held-out validation images over seeds "
          "and thread counts (benchmarks/policies.md).")


def write_history_csv(path, history: dict) -> None:
    """history.csv: one row per epoch."""
    rows = [{"epoch": epoch, **{column: history[key][epoch - 1] for key, column in HISTORY_COLUMNS.items()}}
            for epoch in range(1, len(history["train_losses"]) + 1)]
    write_text(path, csv_text(rows, ["epoch", *HISTORY_COLUMNS.values()]))


def loss_figure(history: dict, title: str) -> plt.Figure:
    """The notebook's loss plot of a run, as a figure of its own."""
    fig = plt.figure(figsize=(7, 4))
    plot_losses(history["train_losses"], history["val_losses"], title)
    plt.legend()
    plt.grid(True)
    return fig


def run_report_markdown(result) -> str:
    """report.md: what was trained on what, how it went, and where the figures are.

    `result` is the run's trainrun.RunResult."""
    m, c = result.metrics, result.config
    worst = sorted(m["per_class_accuracy"].items(), key=lambda item: item[1])[:3]
    return "\n".join([
        f"# {m['dataset']} - {m['variant']} model", "", f"Data: {m['dataset_identity']}.", "",
        "| metric | value |", "|---|---|",
        f"| test accuracy | {m['test_accuracy']:.2%} |",
        f"| validation accuracy | {m['val_accuracy']:.2%} (epoch {m['epochs']}, the weights tested) |",
        f"| best validation accuracy | {m['best_val_accuracy']:.2%} (epoch {m['best_epoch']} of {m['epochs']}) |",
        f"| parameters | {m['params']:,} |",
        f"| training time | {m['train_seconds']:.1f} s ({m['images_per_second']:,.0f} images/s, {m['device']}, "
        f"{m['threads']} threads) |", "",
        f"Recipe: SGD with peak lr {c.lr} (one-cycle schedule), momentum {c.momentum}"
        f"{' Nesterov' if c.nesterov else ''}, "
        f"weight decay {c.weight_decay}, batch {c.batch_size}, augmentation {c.augment}, "
        f"label smoothing {c.label_smoothing}, seed {c.seed}, {c.epochs} epochs.", "", POLICY, "",
        "Hardest classes: " + ", ".join(f"{name} ({acc:.1%})" for name, acc in worst) + ".", "",
        "![loss curves](loss_curves.png)", "", "![confusion matrix](confusion_matrix.png)", ""])


def write_run_report(result) -> Path:
    """The figures and report.md of a finished run (a trainrun.RunResult), beside its metrics in result.out_dir."""
    out, ds = result.out_dir, result.dataset
    save_figure(loss_figure(result.history, f"{ds.name}, {result.config.variant} model"), out / "loss_curves.png")
    save_figure(plot_confusion(result.metrics["confusion_matrix"], ds.classes), out / "confusion_matrix.png")
    write_text(out / "report.md", run_report_markdown(result))
    return out / "report.md"
