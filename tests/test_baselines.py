"""The Part 1 comparison: the published table, the measured path on real data, and text that follows the numbers."""

from pathlib import Path
from types import SimpleNamespace

import pytest

from smallcnn import baselines
from smallcnn.answers import load_published
from smallcnn.baselines import ClassifierSpec, measure_all, prepare_features, published_rows

FASHION = Path("/usr/share/datasets/fashion-mnist")


def load_table3():
    return load_published()["fashion_mnist_table3"]


def test_table3_is_complete():
    table = load_table3()
    assert "Xiao" in table["citation"] and "1708.07747" in table["citation"] and "2017" in table["citation"]
    assert len(table["rows"]) == 13
    assert len({row["classifier"] for row in table["rows"]}) == 13
    for row in table["rows"]:
        assert 0.5 < row["fashion_mnist"] < 1 and 0.5 < row["mnist"] < 1
    svc = next(row for row in table["rows"] if row["classifier"] == "SVC")
    assert (svc["fashion_mnist"], svc["mnist"], svc["config"]) == (0.897, 0.973, {"C": 10, "kernel": "rbf"})


def test_published_figures_load_from_an_explicit_path(tmp_path):
    from smallcnn import answers
    copy = tmp_path / "published.json"
    copy.write_text((Path(answers.__file__).parent / answers.PUBLISHED_FILE).read_text())
    assert load_published(copy) == load_published()


def test_cifar100_references_carry_their_citations():
    results = load_published()["cifar100_references"]["results"]
    assert {r["name"] for r in results} >= {"WRN-28-10", "pre-activation ResNet-164"}
    for r in results:
        assert 0.5 < r["accuracy"] < 1 and "arXiv" in r["citation"] and isinstance(r["skip_connections"], bool)


def test_quick_mode_measures_only_the_fast_families():
    quick = baselines.comparison_specs(True)
    assert {s.name for s in quick} == set(baselines.QUICK_CLASSIFIERS) and len(quick) < len(baselines.CLASSIFIERS)
    assert baselines.comparison_specs(False) == list(baselines.CLASSIFIERS)
    assert "fastest" in baselines.mode_sentence(True) and "Full mode" in baselines.mode_sentence(False)


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
    naive_bayes = next(spec for spec in quick if spec.name == "GaussianNB")
    whole = measure_all(features, specs=[ClassifierSpec(naive_bayes.name, "", naive_bayes.make, 2000)],
                        log=lambda *_: None, whole_split=True)
    assert whole[0]["train_images"] == len(features.train_y) and whole[0]["note"] == "whole training split"


def test_whole_split_mode_says_so_and_excludes_quick(tmp_path):
    from smallcnn.cli import main
    assert "Whole-split mode" in baselines.mode_sentence(False, whole_split=True)
    assert main(["compare", "fashion-mnist", "--quick", "--whole-split", "--out", str(tmp_path)]) == 2


def test_published_rows_carry_both_columns():
    rows = published_rows(load_table3())
    assert len(rows) == 13 and all(r["source"] == "published" and r["mnist_accuracy"] for r in rows)


def test_compare_refuses_other_datasets_and_unfinished_runs(tmp_path):
    from smallcnn.cli import main
    assert main(["compare", "cifar100", "--out", str(tmp_path)]) == 2
    assert main(["compare", "fashion-mnist", "--run", str(tmp_path / "missing"), "--out", str(tmp_path)]) == 2
