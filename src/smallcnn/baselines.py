"""`smallcnn compare`: the CNN run(s) ranked among Table 3 and the baselines measured here, as files.

The published rows and the ranking are the core's compare.py. The classifiers measured here are the
paper's families in their best configurations, fitted on the CNN's own training split (pixels
standardised on that split) and scored on the same test set. The modes bound the slow families: quick mode
measures only the fastest few on a small subsample; full mode bounds the slowest families to a seeded
subsample (each row says how many images it saw); --whole-split fits every family on the whole split,
as the paper did. Outputs: comparison.md (with the answers to 8a and 8b), comparison.csv, rows.json and
comparison.png.
"""

import csv
import inspect
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Perceptron, SGDClassifier
from sklearn.multiclass import OneVsRestClassifier
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier, ExtraTreeClassifier

from smallcnn import datastore
from smallcnn.core.compare import rank, table3_rows
from smallcnn.core.data import split_train_val
from smallcnn.core.metrics import mistakes
from smallcnn.core.models import build_model
from smallcnn.core.plots import plot_comparison
from smallcnn.datasets import canonical_name
from smallcnn.files import SmallCNNError, check_writable, csv_text, save_figure, write_text
from smallcnn.notebook.answers import answer_8a, answer_8b
from smallcnn.notebook.results import Part1
from smallcnn.published import load_published
from smallcnn.report import HISTORY_COLUMNS, write_run_report
from smallcnn.settings import resolve
from smallcnn.trainrun import run_training


def l1_logistic_regression():
    """One-vs-rest L1 logistic regression as in the paper (scikit-learn 1.8 renamed penalty='l1')."""
    renamed = inspect.signature(LogisticRegression).parameters["penalty"].default == "deprecated"
    l1 = {"l1_ratio": 1.0} if renamed else {"penalty": "l1"}
    return OneVsRestClassifier(LogisticRegression(C=1.0, solver="liblinear", **l1))


# The paper's best configuration of each family, as functions of the seed. SGD, the perceptron and the
# MLP stop after 50 passes: on standardised pixels they would run to their limit of 200-1,000 without
# meeting their stopping tolerance.
BASELINES = {
    "SVC": lambda seed: SVC(C=10, kernel="rbf"),
    "RandomForestClassifier": lambda seed: RandomForestClassifier(
        100, criterion="entropy", max_depth=100, n_jobs=2, random_state=seed),
    "SGDClassifier": lambda seed: SGDClassifier(loss="hinge", max_iter=50, random_state=seed),
    "DecisionTreeClassifier": lambda seed: DecisionTreeClassifier(criterion="entropy", max_depth=10,
                                                                  random_state=seed),
    "GaussianNB": lambda seed: GaussianNB(),
    "MLPClassifier": lambda seed: MLPClassifier((100,), max_iter=50, random_state=seed),
    "KNeighborsClassifier": lambda seed: KNeighborsClassifier(5, weights="distance", p=1, n_jobs=2),
    "LogisticRegression": lambda seed: l1_logistic_regression(),
    "Perceptron": lambda seed: Perceptron(penalty="l1", max_iter=50, random_state=seed),
    "ExtraTreeClassifier": lambda seed: ExtraTreeClassifier(max_depth=10, random_state=seed),
}


def pixel_features(train_images, test_images):
    """Flattened pixels, standardised with the training images' statistics only."""
    train = train_images.reshape(len(train_images), -1).numpy().astype(np.float32)
    test = test_images.reshape(len(test_images), -1).numpy().astype(np.float32)
    scaler = StandardScaler().fit(train)
    return scaler.transform(train), scaler.transform(test)


def measure_baseline(name, classifier, train_x, train_y, test_x, test_y, train_limit=0, seed=0):
    """Fit a classifier on (a seeded random subsample of) the training split; score it on the test set."""
    if train_limit and train_limit < len(train_y):
        keep = np.random.default_rng(seed).permutation(len(train_y))[:train_limit]
        train_x, train_y = train_x[keep], train_y[keep]
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        classifier.fit(train_x, train_y)
    accuracy = float((classifier.predict(test_x) == np.asarray(test_y)).mean())
    capped = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return {"name": name, "source": "measured here", "accuracy": accuracy, "train_images": len(train_y),
            "seconds": time.perf_counter() - start,
            "note": f"{len(train_y):,} training images" + ("; stopped at its iteration limit" if capped else "")}


QUICK_TRAIN_IMAGES = 2000
# Each fits and predicts in seconds on QUICK_TRAIN_IMAGES images (KNN's prediction, the L1 logistic
# regression and the perceptron take longer).
QUICK_BASELINES = ("SVC", "RandomForestClassifier", "MLPClassifier", "SGDClassifier", "DecisionTreeClassifier",
                   "ExtraTreeClassifier", "GaussianNB")
# Full mode: the training images of the slow families (0: the whole split). The SVC solver grows about
# quadratically with its training set, KNN compares every test image with every stored one, and the L1
# logistic regression converges slowly on standardised pixels.
FULL_LIMITS = {"SVC": 10000, "RandomForestClassifier": 30000, "MLPClassifier": 20000,
               "KNeighborsClassifier": 10000, "LogisticRegression": 5000}
DEFAULT_RUN = Path("runs/fashion-mnist-spec")
CSV_COLUMNS = ("rank", "name", "source", "accuracy", "train_images", "seconds", "note")


def mode_name(quick, whole_split=False):
    return "whole-split" if whole_split else "quick" if quick else "full"


def mode_sentence(mode):
    """What the measured rows of a mode are, in one sentence for the reader."""
    return {
        "whole-split": "Whole-split mode: every measured classifier was fitted on the CNN's whole training split, "
                       "as Table 3's classifiers saw the whole training set.",
        "quick": f"Quick mode: only the {len(QUICK_BASELINES)} fastest families were measured, each trained on "
                 f"{QUICK_TRAIN_IMAGES:,} images of the CNN's training split, so measured rows understate what "
                 f"the whole split gives.",
        "full": "Full mode: measured classifiers use the CNN's whole training split except where the note says "
                "they were bounded to a seeded subsample.",
    }[mode]


def train_limit(name, mode):
    if mode == "quick":
        return QUICK_TRAIN_IMAGES
    return 0 if mode == "whole-split" else FULL_LIMITS.get(name, 0)


def load_run(run_dir):
    """(metrics, config) of a finished Fashion-MNIST run directory, or a SmallCNNError saying what is missing."""
    run_dir = Path(run_dir)
    if not (run_dir / "metrics.json").exists():
        raise SmallCNNError(f"{run_dir}: no metrics.json (not a finished run; train one with `smallcnn train`)")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    if metrics.get("dataset") != "fashion-mnist":
        raise SmallCNNError(f"{run_dir} is a {metrics.get('dataset')} run; Table 3 compares Fashion-MNIST only")
    return metrics, json.loads((run_dir / "config.json").read_text())["config"]


def cnn_row(metrics, run_dir):
    return {"name": f"CNN {metrics['variant']} ({metrics['params']:,} parameters)", "source": "this CNN",
            "accuracy": metrics["test_accuracy"], "train_images": None, "seconds": metrics["train_seconds"],
            "params": metrics["params"], "note": str(run_dir)}


def ensure_default_run(data_dir, log) -> None:
    """Train the default Part 1 recipe into DEFAULT_RUN when no run is given and none is there yet."""
    if not (DEFAULT_RUN / "metrics.json").exists():
        log(f"no CNN run given and none in {DEFAULT_RUN}: training the default Part 1 recipe there first")
        write_run_report(run_training(*resolve("fashion-mnist"), DEFAULT_RUN, data_dir=data_dir, log=log))


def comparison_csv(ranked):
    return csv_text(ranked, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")


def part1_results(run_dir, metrics, others, cnn) -> Part1:
    """The record answers 8a and 8b read, for one finished run: its files, and its place among `others`."""
    with open(Path(run_dir) / "history.csv", newline="") as f:
        history = list(csv.DictReader(f))
    config = json.loads((Path(run_dir) / "config.json").read_text())["config"]
    column = {key: [float(row[name]) for row in history] for key, name in HISTORY_COLUMNS.items()}
    classes = list(metrics["per_class_accuracy"])
    per_class, confusions = mistakes(torch.tensor(metrics["confusion_matrix"]), classes)
    model = build_model(metrics["variant"])
    return Part1(recipe=config, train_losses=column["train_losses"], val_losses=column["val_losses"],
                 train_accs=column["train_accs"], val_accs=column["val_accs"], epoch_seconds=column["seconds"],
                 test_loss=metrics["test_loss"], test_acc=metrics["test_accuracy"], per_class=per_class,
                 confusions=confusions, ranked=rank(others + [cnn]), params=metrics["params"],
                 fc_inputs=model.fc.in_features, bottleneck=min(m.out_channels for m in model.modules()
                                                                 if isinstance(m, torch.nn.Conv2d)),
                 train_images=metrics["train_images"], val_images=metrics["val_images"],
                 num_classes=len(classes))


def comparison_markdown(ranked, table, mode, runs):
    """comparison.md: the ranked table, then the answers to 8a and 8b for every CNN run."""
    lines = ["# Part 1 comparison: the CNN against Table 3 of the Fashion-MNIST paper", "",
             f"Published: {table['citation']} {table['table']} ({table['url']})", "",
             "Measured here: scikit-learn classifiers in the paper's best configurations, fitted on the same "
             "training split as the CNN (pixels standardised on that split) and scored on the same test set.",
             "", mode_sentence(mode), "",
             "| rank | classifier | source | test accuracy | training images | seconds | note |",
             "|---:|---|---|---:|---:|---:|---|"]
    for r in ranked:
        images = f"{r['train_images']:,}" if r["train_images"] else ""
        seconds = f"{r['seconds']:.1f}" if r.get("seconds") is not None else ""
        lines.append(f"| {r['rank']} | {r['name']} | {r['source']} | {r['accuracy']:.2%} | {images} | {seconds} | "
                     f"{r['note']} |")
    lines += ["", "![comparison](comparison.png)", ""]
    others = [r for r in ranked if r["source"] != "this CNN"]
    for run_dir, metrics, cnn in runs:
        part1 = part1_results(run_dir, metrics, others, cnn)
        lines += [f"## {cnn['name']} ({run_dir})", "", "### 8(a)", "", answer_8a(part1), "", "### 8(b)", "",
                  answer_8b(part1), ""]
    return "\n".join(lines)


def run_compare(dataset_name, run_dirs=(), quick=False, out=None, data_dir=None, log=print, whole_split=False):
    """Measure the baselines, rank them with Table 3 and the CNN run(s), write md/csv/json/png to `out`."""
    if canonical_name(dataset_name) != "fashion-mnist":
        raise SmallCNNError("Table 3 of the Fashion-MNIST paper covers fashion-mnist only")
    if quick and whole_split:
        raise SmallCNNError("--quick and --whole-split contradict each other: choose one")
    mode = mode_name(quick, whole_split)
    out = check_writable(out or f"runs/compare-fashion-mnist{'' if mode == 'full' else '-' + mode}")  # before any work
    if not run_dirs:
        ensure_default_run(data_dir, log)
        run_dirs = [DEFAULT_RUN]
    runs = [(Path(d), *load_run(d)) for d in run_dirs]
    config = runs[0][2]  # the first run's split is the one every baseline trains on
    data = datastore.load_dataset("fashion-mnist", data_dir)
    train_idx = split_train_val(data.train, config["val_fraction"], config["seed"])[0].indices
    train_x, test_x = pixel_features(data.train_images[train_idx], data.test_images)
    train_y, test_y = data.train_labels[train_idx].numpy(), data.test_labels.numpy()
    measured = []
    for name in (QUICK_BASELINES if quick else BASELINES):
        row = measure_baseline(name, BASELINES[name](config["seed"]), train_x, train_y, test_x, test_y,
                               train_limit(name, mode), config["seed"])
        log(f"{name:<24} {row['accuracy']:.2%}  {row['seconds']:.1f} s on {row['train_images']:,} training images")
        measured.append(row)
    table = load_published()["fashion_mnist_table3"]
    cnns = [cnn_row(m, d) for d, m, _ in runs]
    ranked = rank(table3_rows({r["classifier"]: r["fashion_mnist"] for r in table["rows"]}) + measured + cnns)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "comparison.md", comparison_markdown(ranked, table, mode, [(d, m, c) for (d, m, _), c in
                                                                                zip(runs, cnns)]))
    write_text(out / "comparison.csv", comparison_csv(ranked))
    write_text(out / "rows.json", json.dumps(ranked, indent=2))
    save_figure(plot_comparison(ranked, "Fashion-MNIST test accuracy: the CNN, Table 3 and baselines measured here"),
                out / "comparison.png")
    return ranked, out
