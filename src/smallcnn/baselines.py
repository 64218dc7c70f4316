"""Part 1's comparison: the CNN against Table 3 of the Fashion-MNIST paper and against baselines run here.

Published rows come from Table 3 of Xiao, Rasul, Vollgraf 2017, as stored in published.json (the
caller passes the table in). Measured rows are scikit-learn classifiers with the paper's best
configurations, fitted on the same training split and scored on the same test set as the CNN,
features standardised on that training split. The slow ones are bounded by training on a seeded
subsample, and every row says how many images it saw; quick mode measures only the fastest families.

The answers to questions 8a and 8b that these rows feed live in answers.py.
"""

import csv
import inspect
import io
import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
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

from smallcnn.answers import answer_8a, answer_8b, join_names, load_published, pct, points, rank_rows
from smallcnn.data import SmallCNNError, atomic_write, canonical_name, load_dataset, split_train_val

QUICK_TRAIN_IMAGES = 2000  # --quick: every classifier sees this many training images
# --quick measures only these: each fits and predicts in a few seconds on QUICK_TRAIN_IMAGES images
# (KNN's prediction, L1 logistic regression and the perceptron take longer).
QUICK_CLASSIFIERS = ("SVC", "RandomForestClassifier", "MLPClassifier", "SGDClassifier", "DecisionTreeClassifier",
                     "ExtraTreeClassifier", "GaussianNB")


# --- the published table ---------------------------------------------------------------------------

def format_config(config):
    return ", ".join(f"{key}={value}" for key, value in config.items()) or "defaults"


def published_rows(table):
    """Table 3's Fashion-MNIST column as comparison rows (sizes are not reported in the paper)."""
    return [{"name": row["classifier"], "source": "published", "model": "classical",
             "config": format_config(row["config"]), "accuracy": row["fashion_mnist"],
             "mnist_accuracy": row["mnist"], "params": None, "size_unit": "",
             "train_images": None, "fit_seconds": None, "predict_seconds": None,
             "note": "Xiao et al. 2017, Table 3"} for row in table["rows"]]


# --- the classifiers measured here -----------------------------------------------------------------

def l1_logistic_ovr(C):
    """One-vs-rest L1 logistic regression, as in the paper, on any scikit-learn >= 1.4.

    scikit-learn 1.8 deprecated `penalty` in favour of `l1_ratio`; older releases ignore l1_ratio
    unless penalty='elasticnet', so the spelling follows the installed version.
    """
    penalty_deprecated = inspect.signature(LogisticRegression).parameters["penalty"].default == "deprecated"
    l1 = {"l1_ratio": 1.0} if penalty_deprecated else {"penalty": "l1"}
    return OneVsRestClassifier(LogisticRegression(C=C, solver="liblinear", **l1))


@dataclass(frozen=True)
class ClassifierSpec:
    """A Table 3 family in its best configuration; train_limit bounds its training images in full mode."""
    name: str                   # the scikit-learn class name, as in Table 3
    config: str
    make: object                # seed -> unfitted estimator
    train_limit: int = 0        # 0: the whole training split


# Ordered as in Table 3. The bounds keep full mode near ten minutes on two shared cores: the SVC
# solver grows ~quadratically with its training set, KNN compares every test image with every stored
# one, L1 logistic regression converges slowly on standardised pixels, and the forest and the MLP
# (capped at 50 epochs rather than 200) are the next most expensive. SGD and the perceptron do not
# meet their stopping tolerance on standardised pixels and would run all 1,000 default epochs. GradientBoosting (1,000
# depth-10 trees) and the deprecated PassiveAggressiveClassifier are left to the published column.
CLASSIFIERS = (
    ClassifierSpec("SVC", "C=10, kernel=rbf", lambda seed: SVC(C=10, kernel="rbf"), train_limit=10000),
    ClassifierSpec("RandomForestClassifier", "n_estimators=100, criterion=entropy, max_depth=100",
                   lambda seed: RandomForestClassifier(100, criterion="entropy", max_depth=100, n_jobs=2,
                                                       random_state=seed), train_limit=30000),
    ClassifierSpec("MLPClassifier", "activation=relu, hidden_layer_sizes=[100], max_iter=50 (paper: 200)",
                   lambda seed: MLPClassifier((100,), activation="relu", max_iter=50, random_state=seed),
                   train_limit=20000),
    ClassifierSpec("KNeighborsClassifier", "weights=distance, n_neighbors=5, p=1",
                   lambda seed: KNeighborsClassifier(5, weights="distance", p=1, n_jobs=2), train_limit=10000),
    ClassifierSpec("LogisticRegression", "C=1, multi_class=ovr, penalty=l1", lambda seed: l1_logistic_ovr(1.0),
                   train_limit=5000),
    ClassifierSpec("SGDClassifier", "loss=hinge, penalty=l2, max_iter=50 (default 1000)",
                   lambda seed: SGDClassifier(loss="hinge", penalty="l2", max_iter=50, n_jobs=2, random_state=seed)),
    ClassifierSpec("DecisionTreeClassifier", "criterion=entropy, max_depth=10",
                   lambda seed: DecisionTreeClassifier(criterion="entropy", max_depth=10, random_state=seed)),
    ClassifierSpec("Perceptron", "penalty=l1, max_iter=50 (default 1000)",
                   lambda seed: Perceptron(penalty="l1", max_iter=50, n_jobs=2, random_state=seed)),
    ClassifierSpec("ExtraTreeClassifier", "criterion=gini, max_depth=10",
                   lambda seed: ExtraTreeClassifier(criterion="gini", max_depth=10, random_state=seed)),
    ClassifierSpec("GaussianNB", "defaults", lambda seed: GaussianNB()),
)


@dataclass
class Features:
    """Flattened, standardised pixels of the CNN's training split and of the test set."""
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray


def prepare_features(dataset, val_fraction, seed):
    """The CNN's training split (same val_fraction and seed), pixels standardised on that split only."""
    train_idx, _ = split_train_val(dataset.train_labels, val_fraction, seed)
    train = dataset.train_images[train_idx].reshape(len(train_idx), -1).astype(np.float32) / 255
    test = dataset.test_images.reshape(len(dataset.test_images), -1).astype(np.float32) / 255
    scaler = StandardScaler().fit(train)
    return Features(scaler.transform(train).astype(np.float32), dataset.train_labels[train_idx],
                    scaler.transform(test).astype(np.float32), dataset.test_labels)


def subsample(features, count, seed):
    """The first `count` images of a seeded shuffle of the training split (all of it if count is 0)."""
    if not count or count >= len(features.train_y):
        return features.train_x, features.train_y
    keep = np.sort(np.random.default_rng(seed).permutation(len(features.train_y))[:count])
    return features.train_x[keep], features.train_y[keep]


def model_size(estimator):
    """(count, unit): how many numbers a fitted model stores, so it can stand beside CNN parameters."""
    if isinstance(estimator, OneVsRestClassifier):
        return sum(model_size(e)[0] for e in estimator.estimators_), "weights"
    if isinstance(estimator, SVC):
        return estimator.support_vectors_.size + estimator.dual_coef_.size, "support-vector values"
    if isinstance(estimator, KNeighborsClassifier):
        return estimator.n_samples_fit_ * estimator.n_features_in_, "stored pixel values"
    if isinstance(estimator, RandomForestClassifier):
        return sum(tree.tree_.node_count for tree in estimator.estimators_), "tree nodes"
    if isinstance(estimator, (DecisionTreeClassifier, ExtraTreeClassifier)):
        return estimator.tree_.node_count, "tree nodes"
    if isinstance(estimator, MLPClassifier):
        return sum(w.size for w in estimator.coefs_ + estimator.intercepts_), "weights"
    if isinstance(estimator, GaussianNB):
        return estimator.theta_.size + estimator.var_.size + estimator.class_prior_.size, "means and variances"
    return estimator.coef_.size + estimator.intercept_.size, "weights"


def measure(spec, features, train_limit, seed=0):
    """Fit one classifier on (a subsample of) the training split, score it on the test set, time both."""
    x, y = subsample(features, train_limit, seed)
    estimator = spec.make(seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        start = time.perf_counter()
        estimator.fit(x, y)
        fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    predictions = estimator.predict(features.test_x)
    predict_seconds = time.perf_counter() - start
    size, unit = model_size(estimator)
    subsampled = len(y) < len(features.train_y)
    notes = [f"trained on {len(y):,} of {len(features.train_y):,} training images" if subsampled
             else "whole training split"]
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        notes.append("stopped at its iteration limit before converging")
    return {"name": spec.name, "source": "measured", "model": "classical", "config": spec.config,
            "accuracy": float((predictions == features.test_y).mean()), "params": int(size), "size_unit": unit,
            "train_images": len(y), "fit_seconds": fit_seconds, "predict_seconds": predict_seconds,
            "note": "; ".join(notes)}


def comparison_specs(quick):
    """The classifiers a comparison measures: the fast QUICK_CLASSIFIERS in quick mode, else all of them."""
    return [spec for spec in CLASSIFIERS if not quick or spec.name in QUICK_CLASSIFIERS]


def mode_name(quick, whole_split=False):
    return "whole-split" if whole_split else "quick" if quick else "full"


def mode_sentence(quick, whole_split=False):
    """What the measured rows of a quick, full or whole-split comparison are, in one sentence for the reader."""
    if whole_split:
        return ("Whole-split mode: every measured classifier was fitted on the CNN's whole training split, as "
                "close as this comparison gets to Table 3, whose classifiers saw the whole training set.")
    if quick:
        return (f"Quick mode: only the {len(QUICK_CLASSIFIERS)} fastest classifier families were measured, each "
                f"trained on {QUICK_TRAIN_IMAGES:,} images of the CNN's training split, so measured rows understate "
                f"what the full split gives.")
    return ("Full mode: measured classifiers use the CNN's whole training split except where the note says "
            "they were bounded to a seeded subsample to keep the run near ten minutes on two cores.")


def measure_all(features, quick=False, seed=0, specs=CLASSIFIERS, log=print, whole_split=False):
    """Measure every spec; quick mode trains each on at most QUICK_TRAIN_IMAGES images, whole-split mode
    lifts every spec's train_limit."""
    rows = []
    for spec in specs:
        if quick:
            limit = min(QUICK_TRAIN_IMAGES, spec.train_limit or QUICK_TRAIN_IMAGES)
        else:
            limit = 0 if whole_split else spec.train_limit
        row = measure(spec, features, limit, seed)
        log(f"{spec.name:<24} {row['accuracy']:.2%}  fit {row['fit_seconds']:.1f} s, "
            f"predict {row['predict_seconds']:.1f} s on {row['train_images']:,} training images")
        rows.append(row)
    return rows


def compare_with_table3(dataset, table, cnn_rows, val_fraction, seed, quick=False, log=print, whole_split=False):
    """(ranked rows, unmeasured families): Table 3, the baselines measured on the CNN's split, the CNN rows."""
    features = prepare_features(dataset, val_fraction, seed)
    log(f"{len(features.train_y):,} training images (val_fraction {val_fraction}, seed {seed}), "
        f"{len(features.test_y):,} test images; {mode_name(quick, whole_split)} mode")
    specs = comparison_specs(quick)
    measured = measure_all(features, quick, seed, specs, log=log, whole_split=whole_split)
    ranked = rank_rows(published_rows(table) + measured + list(cnn_rows))
    unmeasured = [r["classifier"] for r in table["rows"] if r["classifier"] not in {s.name for s in specs}]
    return ranked, unmeasured


# --- CNN runs --------------------------------------------------------------------------------------

def cnn_row(metrics, config, label):
    """A finished run (its metrics.json and the config inside config.json) as a comparison row."""
    return {"name": f"CNN {metrics['variant']}", "source": "measured", "model": "cnn",
            "config": f"{config.get('epochs', metrics['epochs'])} epochs, augmentation: {config.get('augment', '?')}",
            "accuracy": metrics["test_accuracy"], "params": metrics["params"], "size_unit": "parameters",
            "train_images": config.get("subset") or None, "fit_seconds": metrics["train_seconds"],
            "predict_seconds": None, "epochs": metrics["epochs"], "best_epoch": metrics["best_epoch"],
            "augment": config.get("augment"), "flip_tta_accuracy": metrics.get("test_accuracy_flip_tta"),
            "note": label}


# --- ranking and the comparison of measured with published -----------------------------------------

def published_gaps(rows, threshold=0.01):
    """(measured row, published row, difference) for each family whose two figures differ by > threshold."""
    published = {row["name"]: row for row in rows if row["source"] == "published"}
    return [(row, published[row["name"]], row["accuracy"] - published[row["name"]]["accuracy"])
            for row in rows if row["source"] == "measured" and row["name"] in published
            and abs(row["accuracy"] - published[row["name"]]["accuracy"]) > threshold]


def gap_sentence(measured, published, difference):
    direction = "above" if difference > 0 else "below"
    return (f"{measured['name']}: measured {pct(measured['accuracy'])} is {points(difference)} points {direction} "
            f"the published {pct(published['accuracy'])} ({measured['note']}; standardised pixels; this "
            f"scikit-learn release).")


# --- the comparison files --------------------------------------------------------------------------

CSV_COLUMNS = ("rank", "name", "source", "model", "accuracy", "params", "size_unit", "train_images",
               "fit_seconds", "predict_seconds", "config", "note")


def comparison_csv(ranked):
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(ranked)
    return text.getvalue()


def cell(value, fmt):
    return "" if value is None else format(value, fmt)


def markdown_table(ranked):
    lines = ["| rank | classifier | source | test accuracy | model size | training images | fit s | predict s "
             "| configuration | note |", "|---:|---|---|---:|---:|---:|---:|---:|---|---|"]
    for r in ranked:
        name = f"**{r['name']}**" if r["model"] == "cnn" else r["name"]
        size = f"{r['params']:,} {r['size_unit']}" if r["params"] else "not reported"
        lines.append(f"| {r['rank']} | {name} | {r['source']} | {pct(r['accuracy'])} | {size} "
                     f"| {cell(r['train_images'], ',')} | {cell(r['fit_seconds'], '.1f')} "
                     f"| {cell(r['predict_seconds'], '.1f')} | {r['config']} | {r['note']} |")
    return lines


def comparison_markdown(ranked, table, quick, unmeasured, whole_split=False):
    """comparison.md: the ranked table, measured-vs-published gaps, and the answers to 8a and 8b per run."""
    mode = mode_sentence(quick, whole_split)
    lines = ["# Part 1 comparison: the CNN against Table 3 of the Fashion-MNIST paper", "",
             f"Published: {table['citation']} {table['table']} ({table['url']})", "",
             "Measured here: scikit-learn classifiers in the paper's best configurations, fitted on the same "
             "training split as the CNN (pixels standardised on that split) and scored on the same test set.",
             "", mode, "",
             *markdown_table(ranked), "", "![comparison](comparison.png)", "", "## Measured against published", ""]
    gaps = published_gaps(ranked)
    lines += [f"- {gap_sentence(*gap)}" for gap in gaps] or ["All measured rows lie within one point of Table 3."]
    if unmeasured:
        lines += ["", f"Not measured here (published figures only): {join_names(unmeasured)}."]
    for cnn in (r for r in ranked if r["model"] == "cnn"):
        lines += ["", f"## Questions for {cnn['name']} ({cnn['note']})", "",
                  "**8a. Which techniques beat the CNN, which do worse, and why?**", "", answer_8a(cnn, ranked), "",
                  "**8b. How could the CNN be improved?**", "", answer_8b(cnn, ranked)]
    return "\n".join(lines) + "\n"


# --- the whole `smallcnn compare` ------------------------------------------------------------------

DEFAULT_RUN = Path("runs/fashion-mnist-spec")


def load_run(run_dir):
    """(metrics, config) of a finished run directory, or a SmallCNNError saying what is missing."""
    run_dir = Path(run_dir)
    if not (run_dir / "metrics.json").exists():
        raise SmallCNNError(f"{run_dir}: no metrics.json (not a finished run; train one with `smallcnn train`)")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    if metrics.get("dataset") != "fashion-mnist":
        raise SmallCNNError(f"{run_dir} is a {metrics.get('dataset')} run; Table 3 compares Fashion-MNIST only")
    config_path = run_dir / "config.json"
    config = json.loads(config_path.read_text())["config"] if config_path.exists() else {}
    return metrics, config


def ensure_default_run(data_dir, log):
    """Train the default Part 1 recipe into DEFAULT_RUN when no run is given and none is there yet."""
    if (DEFAULT_RUN / "metrics.json").exists():
        return
    from smallcnn.report import write_run_report
    from smallcnn.train import default_config, run_training
    log(f"no CNN run given and none in {DEFAULT_RUN}: training the default Part 1 recipe there first")
    write_run_report(run_training(default_config("fashion-mnist"), DEFAULT_RUN, data_dir=data_dir, log=log))


def split_settings(runs, log):
    """The first run's val_fraction and seed define the split; other runs on other splits are flagged."""
    settings = [(c.get("val_fraction", 0.1), c.get("seed", 0)) for _, c in runs]
    for (run_dir, _), other in zip(runs, settings):
        if other != settings[0]:
            log(f"warning: {run_dir} used val_fraction/seed {other}, not {settings[0]}; its training split differs")
    return settings[0]


def write_text(path, text):
    atomic_write(path, lambda f: f.write(text.encode()))


def run_compare(dataset_name, run_dirs=(), quick=False, out=None, data_dir=None, log=print, whole_split=False):
    """Measure the baselines, rank them with Table 3 and the CNN run(s), write md/csv/png/json to `out`."""
    from smallcnn.report import plot_comparison, save_figure

    if canonical_name(dataset_name) != "fashion-mnist":
        raise SmallCNNError("Table 3 of the Fashion-MNIST paper covers fashion-mnist only")
    if quick and whole_split:
        raise SmallCNNError("--quick and --whole-split contradict each other: choose one")
    if not run_dirs:
        ensure_default_run(data_dir, log)
        run_dirs = [DEFAULT_RUN]
    runs = [(Path(d), *load_run(d)) for d in run_dirs]
    val_fraction, seed = split_settings([(d, c) for d, _, c in runs], log)
    table = load_published()["fashion_mnist_table3"]
    ranked, unmeasured = compare_with_table3(load_dataset("fashion-mnist", data_dir), table,
                                             [cnn_row(m, c, str(d)) for d, m, c in runs], val_fraction, seed,
                                             quick, log, whole_split)
    mode = mode_name(quick, whole_split)
    out = Path(out or f"runs/compare-fashion-mnist{'' if mode == 'full' else '-' + mode}")
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "comparison.md", comparison_markdown(ranked, table, quick, unmeasured, whole_split))
    write_text(out / "comparison.csv", comparison_csv(ranked))
    write_text(out / "rows.json", json.dumps(ranked, indent=2))
    save_figure(plot_comparison(ranked), out / "comparison.png")
    return ranked, out
