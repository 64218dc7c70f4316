"""The Part 1 comparison: Table 3 read from the published file, the baselines measured here, the ranking."""

import csv
import json
import warnings

import numpy as np
import pytest
import torch

from clierrors import UNWRITABLE, check_refused, no_data
from smallcnn import baselines
from smallcnn.baselines import BASELINES, QUICK_BASELINES, measure_baseline, pixel_features
from smallcnn.cli import main
from smallcnn.core.compare import rank, table3_rows
from smallcnn.notebook.answers import load_published


def load_table3():
    return load_published()["fashion_mnist_table3"]


# --- the published figures ----------------------------------------------------------------------------------

def test_table3_is_complete():
    table = load_table3()
    assert "Xiao" in table["citation"] and "1708.07747" in table["citation"] and "2017" in table["citation"]
    assert len(table["rows"]) == 13
    assert len({row["classifier"] for row in table["rows"]}) == 13
    for row in table["rows"]:
        assert 0.5 < row["fashion_mnist"] < 1 and 0.5 < row["mnist"] < 1
    svc = next(row for row in table["rows"] if row["classifier"] == "SVC")
    assert (svc["fashion_mnist"], svc["mnist"], svc["config"]) == (0.897, 0.973, {"C": 10, "kernel": "rbf"})


def test_table3_rows_are_the_published_files_figures():
    table = load_table3()
    rows = table3_rows({row["classifier"]: row["fashion_mnist"] for row in table["rows"]})
    assert [(r["name"], r["accuracy"]) for r in rows] == [(t["classifier"], t["fashion_mnist"]) for t in table["rows"]]
    assert all(r["source"] == "published" and r["train_images"] is None and "Table 3" in r["note"] for r in rows)
    # The rows carry whatever figures they are given: nothing is typed in.
    made_up = table3_rows({"SVC": 0.5, "GaussianNB": 0.25})
    assert [(r["name"], r["accuracy"]) for r in made_up] == [("SVC", 0.5), ("GaussianNB", 0.25)]


def test_cifar100_references_carry_their_citations():
    results = load_published()["cifar100_references"]["results"]
    names = " / ".join(r["name"] for r in results)
    assert "WRN-28-10" in names and "ResNet-164" in names
    for r in results:
        assert 0.5 < r["accuracy"] < 1 and "arXiv" in r["citation"] and isinstance(r["skip_connections"], bool)


# --- the baselines measured here ------------------------------------------------------------------------------

def test_measured_families_are_the_papers_in_its_best_configurations():
    published = {row["classifier"]: row["config"] for row in load_table3()["rows"]}
    assert set(BASELINES) <= set(published)
    expected = {"LogisticRegression", "KNeighborsClassifier", "RandomForestClassifier", "MLPClassifier", "SVC"}
    assert expected <= set(BASELINES)
    checked = 0
    for name, make in BASELINES.items():
        params = make(0).get_params()
        for key, value in published[name].items():
            if key in params:
                got = params[key]
                assert (list(got) if isinstance(got, tuple) else got) == value, (name, key)
                checked += 1
    assert checked >= 12  # SVC C/kernel, forest's three, KNN's three, tree's two, MLP's two, SGD's loss...


def test_randomised_families_take_the_seed():
    randomised = ("RandomForestClassifier", "MLPClassifier", "SGDClassifier", "DecisionTreeClassifier",
                  "Perceptron", "ExtraTreeClassifier")
    for name in randomised:
        assert BASELINES[name](7).get_params()["random_state"] == 7, name


def test_quick_mode_measures_only_fast_families_on_a_small_subsample():
    assert set(QUICK_BASELINES) < set(BASELINES)
    assert {"KNeighborsClassifier", "LogisticRegression"}.isdisjoint(QUICK_BASELINES)
    assert all(baselines.train_limit(name, "quick") == baselines.QUICK_TRAIN_IMAGES == 2000 for name in BASELINES)
    assert all(baselines.train_limit(name, "whole-split") == 0 for name in BASELINES)
    assert baselines.train_limit("SVC", "full") == 10000 and baselines.train_limit("GaussianNB", "full") == 0
    assert baselines.mode_name(True) == "quick" and baselines.mode_name(False) == "full"
    assert baselines.mode_name(False, whole_split=True) == "whole-split"
    assert "fastest" in baselines.mode_sentence("quick") and "2,000 images" in baselines.mode_sentence("quick")
    assert "Full mode" in baselines.mode_sentence("full")
    assert "Whole-split mode" in baselines.mode_sentence("whole-split")


class Recorder:
    """A classifier that remembers what it was fitted on and predicts class 0 for everything."""

    def fit(self, x, y):
        self.x, self.y = x.copy(), y.copy()
        return self

    def predict(self, x):
        return np.zeros(len(x), dtype=int)


def measured_sample(train_limit, seed, n=500):
    train_x = np.arange(n, dtype=np.float32)[:, None]  # each row's one feature is its index
    train_y = np.arange(n) % 3
    test_y = np.array([0, 0, 0, 1, 2, 1, 2, 0, 1, 2])  # 4 of 10 are class 0
    recorder = Recorder()
    row = measure_baseline("Recorder", recorder, train_x, train_y, np.zeros((10, 1)), test_y, train_limit, seed)
    return row, recorder.x[:, 0].astype(int).tolist(), recorder.y.tolist()


def test_measure_baseline_fits_a_seeded_random_subsample():
    row, taken, labels = measured_sample(train_limit=100, seed=0)
    assert row["train_images"] == 100 and row["note"] == "100 training images"
    assert len(taken) == len(set(taken)) == 100  # a sample without repeats...
    assert sorted(taken) != list(range(100))  # ...not the first 100 images...
    assert max(taken) > 400 and min(taken) < 100  # ...drawn from the whole split
    assert labels == [i % 3 for i in taken]  # the labels travel with their images
    assert measured_sample(train_limit=100, seed=0)[1] == taken  # the same seed, the same sample
    assert set(measured_sample(train_limit=100, seed=1)[1]) != set(taken)  # another seed, another sample
    whole, everything, _ = measured_sample(train_limit=0, seed=0)
    assert everything == list(range(500)) and whole["train_images"] == 500
    assert measured_sample(train_limit=800, seed=0)[1] == list(range(500))  # a limit above the split: all of it


def test_measure_baseline_scores_on_the_test_set():
    row, _, _ = measured_sample(train_limit=0, seed=0)
    assert row["accuracy"] == pytest.approx(0.4)  # class 0 predicted everywhere; 4 of 10 test labels are 0
    assert (row["name"], row["source"]) == ("Recorder", "measured here") and row["seconds"] >= 0


def test_a_real_family_learns_separable_features():
    rng = np.random.default_rng(0)
    labels = np.arange(600) % 3
    features = rng.normal(size=(600, 5)).astype(np.float32) + 4 * labels[:, None]
    row = measure_baseline("GaussianNB", BASELINES["GaussianNB"](0), features[:400], labels[:400], features[400:],
                           labels[400:], train_limit=200, seed=3)
    assert row["accuracy"] > 0.95 and row["train_images"] == 200


def test_pixel_features_are_standardised_with_the_training_statistics_only():
    generator = torch.Generator().manual_seed(0)
    train = torch.randint(0, 120, (300, 1, 6, 6), generator=generator, dtype=torch.uint8)
    train[:, :, 0, 0] = 0  # a constant pixel, as Fashion-MNIST's corners are
    test = torch.randint(100, 256, (50, 1, 6, 6), generator=generator, dtype=torch.uint8)  # brighter than train
    train_x, test_x = pixel_features(train, test)
    assert train_x.shape == (300, 36) and test_x.shape == (50, 36) and train_x.dtype == np.float32
    assert np.isfinite(train_x).all() and np.isfinite(test_x).all()
    np.testing.assert_allclose(train_x[:, 1:].mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(train_x[:, 1:].std(axis=0), 1, atol=1e-4)
    # The test images are scaled with the training images' mean and spread, so their own mean stays well
    # above zero; standardising them on their own statistics would have forced it to zero.
    flat_train = train.reshape(300, -1).numpy().astype(np.float64)
    expected = (test.reshape(50, -1).numpy() - flat_train.mean(axis=0)) / flat_train.std(axis=0).clip(min=1e-12)
    np.testing.assert_allclose(test_x[:, 1:], expected[:, 1:], rtol=1e-4, atol=1e-4)
    assert test_x[:, 1:].mean() > 2


def test_rank_orders_by_accuracy_and_numbers_from_one():
    rows = [{"name": "a", "accuracy": 0.80}, {"name": "b", "accuracy": 0.91}, {"name": "c", "accuracy": 0.85},
            {"name": "d", "accuracy": 0.85}]
    ranked = rank(rows)
    assert [(r["rank"], r["name"]) for r in ranked] == [(1, "b"), (2, "c"), (3, "d"), (4, "a")]
    assert "rank" not in rows[0]  # the input rows are left alone


# --- the compare command ------------------------------------------------------------------------------------

def test_compare_refuses_other_datasets_contradictions_and_unfinished_runs(tmp_path, capsys):
    assert main(["compare", "cifar100", "--out", str(tmp_path)]) == 2
    assert "covers fashion-mnist only" in capsys.readouterr().err
    assert main(["compare", "fashion-mnist", "--quick", "--whole-split", "--out", str(tmp_path)]) == 2
    assert "contradict" in capsys.readouterr().err
    assert main(["compare", "fashion-mnist", "--run", str(tmp_path / "missing"), "--out", str(tmp_path)]) == 2
    assert "no metrics.json" in capsys.readouterr().err
    cifar_run = tmp_path / "cifar-run"
    cifar_run.mkdir()
    (cifar_run / "metrics.json").write_text(json.dumps({"dataset": "cifar100"}))
    assert main(["compare", "fashion-mnist", "--run", str(cifar_run), "--out", str(tmp_path)]) == 2
    assert "is a cifar100 run; Table 3 compares Fashion-MNIST only" in capsys.readouterr().err


@pytest.fixture(scope="module")
def cnn_run(fashion, tmp_path_factory):
    """A small finished Fashion-MNIST run to compare (trained on one thread: the cores are shared)."""
    from smallcnn.settings import resolve
    from smallcnn.trainrun import run_training

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return run_training(*resolve("fashion-mnist", {"subset": 1000, "epochs": 1}),
                            tmp_path_factory.mktemp("cnn") / "run", data_dir=fashion.location, log=lambda line: None)
    finally:
        torch.set_num_threads(threads)


def check_compare_outputs(out, run, families):
    ranked = json.loads((out / "rows.json").read_text())
    total = 13 + len(families) + 1  # published, measured, this CNN
    assert [r["rank"] for r in ranked] == list(range(1, total + 1))
    assert [r["accuracy"] for r in ranked] == sorted((r["accuracy"] for r in ranked), reverse=True)
    published = {r["name"]: r["accuracy"] for r in ranked if r["source"] == "published"}
    assert published == {row["classifier"]: row["fashion_mnist"] for row in load_table3()["rows"]}
    measured = [r for r in ranked if r["source"] == "measured here"]
    assert sorted(r["name"] for r in measured) == sorted(families)
    assert all(r["train_images"] == 2000 and 0.5 < r["accuracy"] < 1 for r in measured)
    cnn = [r for r in ranked if r["source"] == "this CNN"]
    assert len(cnn) == 1 and cnn[0]["accuracy"] == run.metrics["test_accuracy"]
    markdown = (out / "comparison.md").read_text()
    assert "Quick mode" in markdown and "### 8(a)" in markdown and "### 8(b)" in markdown
    with (out / "comparison.csv").open() as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == list(baselines.CSV_COLUMNS) and len(table) == total
    assert (out / "comparison.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def compare(fashion, run, out):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return main(["compare", "fashion-mnist", "--quick", "--run", str(run.out_dir), "--out", str(out),
                     "--data-dir", str(fashion.location)])


def test_compare_command_end_to_end_with_two_fast_families(fashion, cnn_run, tmp_path, capsys, monkeypatch):
    families = ("GaussianNB", "DecisionTreeClassifier")
    monkeypatch.setattr(baselines, "QUICK_BASELINES", families)
    out = tmp_path / "compare"
    assert compare(fashion, cnn_run, out) == 0
    assert f"comparison: {out / 'comparison.md'}" in capsys.readouterr().out
    check_compare_outputs(out, cnn_run, families)


@pytest.mark.slow
def test_quick_compare_end_to_end_on_real_data(fashion, cnn_run, tmp_path):
    out = tmp_path / "compare"
    assert compare(fashion, cnn_run, out) == 0
    check_compare_outputs(out, cnn_run, QUICK_BASELINES)


# --- outputs checked before any work ------------------------------------------------------------------------

@UNWRITABLE
def test_compare_checks_its_out_before_any_work(unwritable, monkeypatch, capsys):
    from smallcnn import baselines

    monkeypatch.setattr(baselines.datastore, "load_dataset", no_data)
    monkeypatch.setattr(baselines, "ensure_default_run", no_data)  # not even the default run is trained
    assert main(["compare", "fashion-mnist", "--quick", "--out", str(unwritable)]) == 2
    check_refused(capsys.readouterr().err, unwritable)
