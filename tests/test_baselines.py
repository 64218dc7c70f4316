"""The Part 1 comparison: the published table, the measured path on real data, and text that follows the numbers."""

import itertools
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from smallcnn import baselines
from smallcnn.baselines import (ClassifierSpec, answer_8a, answer_8b, load_table3, measure_all, prepare_features,
                                published_rows, rank_rows)

FASHION = Path("/usr/share/datasets/fashion-mnist")


def test_table3_is_complete():
    table = load_table3()
    assert "Xiao" in table["citation"] and "1708.07747" in table["citation"] and "2017" in table["citation"]
    assert len(table["rows"]) == 13
    assert len({row["classifier"] for row in table["rows"]}) == 13
    for row in table["rows"]:
        assert 0.5 < row["fashion_mnist"] < 1 and 0.5 < row["mnist"] < 1
    svc = next(row for row in table["rows"] if row["classifier"] == "SVC")
    assert (svc["fashion_mnist"], svc["mnist"], svc["config"]) == (0.897, 0.973, {"C": 10, "kernel": "rbf"})


def test_table3_loads_from_an_explicit_path(tmp_path):
    copy = tmp_path / "t3.json"
    copy.write_text(baselines.TABLE3_PATH.read_text())
    assert load_table3(copy) == load_table3()


def test_measured_specs_use_the_papers_families():
    published = {row["classifier"] for row in load_table3()["rows"]}
    names = {spec.name for spec in baselines.CLASSIFIERS}
    assert names <= published
    assert {"LogisticRegression", "KNeighborsClassifier", "RandomForestClassifier", "MLPClassifier", "SVC"} <= names


@pytest.mark.skipif(not FASHION.is_dir(), reason=f"real Fashion-MNIST not found in {FASHION}")
def test_measured_path_runs_end_to_end_on_real_data():
    from smallcnn.data import load_dataset
    full = load_dataset("fashion-mnist")
    # A 6,000-image training set and 1,000 test images keep the test fast; the code path is the real one.
    dataset = SimpleNamespace(train_images=full.train_images[:6000], train_labels=full.train_labels[:6000],
                              test_images=full.test_images[:1000], test_labels=full.test_labels[:1000])
    features = prepare_features(dataset, 0.1, 0)
    assert 5000 < len(features.train_y) < 6000 and len(features.test_y) == 1000
    assert abs(features.train_x[:, 400].mean()) < 1e-3  # standardised on the training split
    quick = [spec for spec in baselines.CLASSIFIERS
             if spec.name in ("GaussianNB", "DecisionTreeClassifier", "KNeighborsClassifier")]
    rows = measure_all(features, specs=[ClassifierSpec(s.name, s.config, s.make, 2000) for s in quick],
                       log=lambda *_: None)
    assert [row["name"] for row in rows] == [s.name for s in quick]
    for row in rows:
        assert row["train_images"] == 2000 and "2,000 of" in row["note"]
        assert 0.4 < row["accuracy"] <= 1 and row["params"] > 0 and row["fit_seconds"] >= 0
    knn = next(row for row in rows if row["name"] == "KNeighborsClassifier")
    assert knn["params"] == 2000 * 784


def row(name, accuracy, source="measured", model="classical", params=None, **extra):
    return {"name": name, "source": source, "model": model, "config": "", "accuracy": accuracy, "params": params,
            "size_unit": "weights" if params else "", "train_images": 1000 if source == "measured" else None,
            "fit_seconds": 12.5 if source == "measured" else None, "predict_seconds": 1.25, "note": "", **extra}


def cnn(accuracy):
    return row("CNN spec", accuracy, model="cnn", params=2741, size_unit="parameters", fit_seconds=187.0,
               epochs=15, best_epoch=13, augment="flip", flip_tta_accuracy=None)


ROWS = [row("SVC", 0.897, "published"), row("SVC", 0.874, params=5_000_000),
        row("RandomForestClassifier", 0.873, "published"), row("MLPClassifier", 0.861, params=89_610),
        row("LogisticRegression", 0.842, "published"), row("GaussianNB", 0.511, "published"),
        row("DecisionTreeClassifier", 0.798, params=1_500)]


def test_rank_rows_orders_by_accuracy_and_numbers_ranks():
    ranked = rank_rows(ROWS + [cnn(0.85)])
    assert [r["accuracy"] for r in ranked] == sorted([r["accuracy"] for r in ranked], reverse=True)
    assert [r["rank"] for r in ranked] == list(range(1, len(ROWS) + 2))
    assert ranked[4]["name"] == "CNN spec"


def test_published_rows_carry_both_columns():
    rows = published_rows(load_table3())
    assert len(rows) == 13 and all(r["source"] == "published" and r["mnist_accuracy"] for r in rows)


def test_a_cnn_above_everything_is_beaten_by_none():
    text = answer_8a(cnn(0.95), ROWS)
    assert "None of the 7 classical results beats it" in text
    assert "SVC (published), is 5.3 points lower" in text
    assert "beat it:" not in text


def test_a_cnn_in_the_middle_names_exactly_those_above_with_margins():
    text = answer_8a(cnn(0.85), ROWS)
    assert "4 of the 7 classical results beat it" in text
    for name, margin in (("SVC (published)", "4.7"), ("SVC (measured)", "2.4"),
                         ("RandomForestClassifier (published)", "2.3"), ("MLPClassifier (measured)", "1.1")):
        assert f"{name} by {margin} points" in text
    beaten_part = text.split("beat it:")[1].split(".")[0]
    assert "LogisticRegression" not in beaten_part and "GaussianNB" not in beaten_part
    assert "The other 3 do worse" in text and "GaussianNB (published) (33.9 points lower)" in text


@pytest.mark.parametrize("accuracy", [0.95, 0.85, 0.80, 0.50])
def test_answers_are_long_enough_and_state_only_computed_numbers(accuracy):
    model = cnn(accuracy)
    rows = ROWS + [model]
    for text in (answer_8a(model, rows), answer_8b(model, rows)):
        assert len(re.findall(r"[.!?](?:\s|$)", text)) >= 4
        for token in re.findall(r"\d[\d,]*(?:\.\d+)?", text):
            assert is_derived(token, model, ROWS), f"{token!r} in: {text}"


def is_derived(token, model, rows):
    """True if the number equals, to its printed precision, a value computed from the inputs."""
    value = float(token.replace(",", ""))
    decimals = len(token.split(".")[1]) if "." in token else 0
    everyone = rows + [model]
    candidates = [100 * r["accuracy"] for r in everyone]
    candidates += [100 * abs(a["accuracy"] - b["accuracy"]) for a, b in itertools.combinations(everyone, 2)]
    sizes = [r["params"] for r in everyone if r["params"]]
    candidates += sizes + [s / model["params"] for s in sizes]
    candidates += [v for r in everyone for v in (r["fit_seconds"], r["predict_seconds"], r["train_images"],
                                                r.get("epochs"), r.get("best_epoch")) if v is not None]
    candidates += range(len(everyone) + 1)  # counts of rows
    return any(abs(value - c) <= 0.5 * 10 ** -decimals + 1e-9 for c in candidates)


def test_compare_refuses_other_datasets_and_unfinished_runs(tmp_path):
    from smallcnn.cli import main
    assert main(["compare", "cifar100", "--out", str(tmp_path)]) == 2
    assert main(["compare", "fashion-mnist", "--run", str(tmp_path / "missing"), "--out", str(tmp_path)]) == 2
