"""The benchmark scripts in benchmarks/: they time what they claim to time, and compute what they report.

No test asserts a speed (the machine is shared). They check that the pipelines compared see the same
images and start from the same weights, that the ratios and mean ± sd come from the measured values,
and that the time-to-accuracy table trains only what its cache lacks. benchmarks/ is on the import path
through pytest's `pythonpath` (pyproject.toml). Real Fashion-MNIST comes from conftest's `fashion` fixture.
"""

import ast
import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import bench
import levers
import study_jobs
import time_to_accuracy
from timing import mean_sd, median_ratio

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def imported_modules(path):
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_benchmark_code_is_outside_the_package_and_the_package_never_imports_it():
    scripts = {path.stem for path in (ROOT / "benchmarks").glob("*.py")}
    assert {"bench", "levers", "time_to_accuracy", "notebook_time", "study_jobs", "timing"} <= scripts
    for module in (ROOT / "src" / "smallcnn").rglob("*.py"):
        assert not imported_modules(module) & scripts, module
    assert not imported_modules(ROOT / "benchmarks" / "timing.py") & scripts


# --- bench.py: the two pipelines ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def work(fashion):
    return bench.workloads(512)


def test_both_pipelines_train_on_the_same_images_from_the_same_weights(work):
    for name, (train_ds, test_ds, recipe, shape) in work.items():
        starter = bench.Pipeline(name, train_ds, test_ds, recipe, shape, fast=False)
        fast = bench.Pipeline(name, train_ds, test_ds, recipe, shape, fast=True)
        seen = torch.stack([starter.train_loader.dataset[i][0] for i in range(len(train_ds))])
        torch.testing.assert_close(fast.train_loader.images, seen, rtol=0, atol=1e-6)  # the same normalised images
        assert starter.train_loader.batch_size == 64 and fast.train_loader.batch_size == recipe.batch_size
        x = seen[:8]
        with torch.no_grad():
            torch.testing.assert_close(fast.model(x.contiguous(memory_format=torch.channels_last)), starter.model(x),
                                       rtol=1e-5, atol=1e-5)
        assert type(train_ds.dataset.dataset).__module__.startswith("torchvision.datasets")


def test_every_lever_trains_an_epoch_and_validates(work, monkeypatch):
    train_ds, val_ds, _, _ = work["fashion-mnist"]
    judged = []

    def evaluate(model, loader, criterion, device, flips):
        judged.append((loader.batch_size, flips, torch.is_inference_mode_enabled()))
    evaluate.__wrapped__ = evaluate  # levers calls it so under inference_mode
    monkeypatch.setattr(levers, "evaluate", evaluate)
    for name, lever in levers.LEVERS.items():
        setting = levers.Setting(lever, train_ds, val_ds)
        assert setting.train() > 0 and setting.validate() > 0, name
        assert setting.train_loader.batch_size == lever[0]
        assert setting.model.features[3].weight.is_contiguous(memory_format=torch.channels_last) == lever[1]
    # each validated with its evaluation batch, flips and mode
    assert judged == [(lever[2], lever[4], lever[3] == "inference_mode") for lever in levers.LEVERS.values()]


def test_the_cifar_shaped_dataset_runs_torchvisions_own_per_image_path():
    dataset = bench.cifar_shaped(20)
    image, label = dataset[3]
    assert type(dataset).__name__ == "CIFAR100" and image.shape == (3, 32, 32) and label == dataset.targets[3]


def test_bench_rows_are_images_per_second_and_same_repetition_ratios(work, monkeypatch):
    times = iter([1.0, 0.5, 0.25, 0.1] * 10)  # starter train, starter eval, smallcnn train, smallcnn eval
    monkeypatch.setattr(bench, "timed", lambda call: next(times))
    row = bench.measure("fashion-mnist", work["fashion-mnist"], repeats=3)
    assert row["starter train"] == 512 / 1.0 and row["smallcnn train"] == 512 / 0.25
    assert row["train ratio"] == pytest.approx(4.0) and row["evaluate ratio"] == pytest.approx(5.0)
    assert "| fashion-mnist | 512 |" in bench.markdown([row], "python benchmarks/bench.py", "load")


def test_median_ratio_of_two_repetitions_is_their_geometric_mean_and_symmetric():
    fast, slow = [1000, 6000], [500, 500]  # ratios 2 and 12: a burst of load in one repetition
    assert median_ratio(fast, slow) == pytest.approx(math.sqrt(2 * 12))  # not (2 + 12) / 2 = 7
    assert median_ratio(slow, fast) == pytest.approx(1 / median_ratio(fast, slow))
    with pytest.raises(ValueError):
        median_ratio([1, 2], [1])  # ratios are paired by repetition: the counts must match


# --- time_to_accuracy.py ---------------------------------------------------------------------------------------

def fake_run(seconds, accuracy):
    return {"seconds": seconds, "epochs": 15, "val_accuracy": accuracy + 0.01, "test_accuracy": accuracy}


def test_only_the_runs_the_cache_lacks_are_trained(tmp_path, monkeypatch):
    trained = []
    monkeypatch.setattr(time_to_accuracy.datastore, "load_dataset", lambda name: None)
    monkeypatch.setattr(time_to_accuracy.datastore, "find_source", lambda name: None)
    monkeypatch.setattr(time_to_accuracy, "link_data", lambda folder, sources: None)
    monkeypatch.setattr(time_to_accuracy, "plain_run", lambda seed, root: trained.append(("plain", seed)) or
                        fake_run(100.0 + seed, 0.83))
    monkeypatch.setattr(time_to_accuracy, "recipe_run", lambda recipe, seed, data: trained.append(("today", seed)) or
                        fake_run(50.0 + seed, 0.89 + seed / 1000))
    time_to_accuracy.run_missing(["plain", "today"], [0, 1], [1], tmp_path)
    assert trained == [("plain", 0), ("plain", 1), ("today", 0), ("today", 1)]
    time_to_accuracy.run_missing(["plain", "today"], [0, 1, 2], [1], tmp_path)
    assert trained[4:] == [("plain", 2), ("today", 2)]  # only the new seed
    runs = time_to_accuracy.load_runs(tmp_path / "runs.jsonl")
    rows = time_to_accuracy.summary(runs, ["plain", "today"], [0, 1, 2], [1])
    today = next(r for r in rows if r["recipe"] == "today")
    assert (today["seconds"], today["seconds_sd"]) == pytest.approx(mean_sd([50.0, 51.0, 52.0]))
    assert today["test_accuracy"] == pytest.approx(0.891) and today["lowest_test"] == pytest.approx(0.89)
    table = time_to_accuracy.table_markdown(rows, "python benchmarks/time_to_accuracy.py")
    assert "| today | 1 | 15 | 3 | 51.0 ± 1.0 | 90.10% ± 0.10 | 89.10% ± 0.10 | 89.00% |" in table
    time_to_accuracy.frontier_figure(rows).savefig(tmp_path / "frontier.png")
    assert (tmp_path / "frontier.png").read_bytes()[:4] == b"\x89PNG"


def test_a_changed_recipe_is_trained_again(tmp_path, monkeypatch):
    cache = tmp_path / "runs.jsonl"
    cache.write_text(json.dumps({"recipe": "today", "settings": {"epochs": 3}, "threads": 1, "seed": 0,
                                 **fake_run(1.0, 0.5)}) + "\n")
    rows = time_to_accuracy.summary(time_to_accuracy.load_runs(cache), ["today"], [0], [1])
    assert rows == []  # the cached run had other settings: it is not today's recipe


def test_the_targets_line_compares_the_shipped_recipe_with_todays_at_each_thread_count():
    def row(recipe, threads, seconds, test, lowest):
        return {"recipe": recipe, "threads": threads, "seconds": seconds, "test_accuracy": test, "lowest_test": lowest}
    shipped = "today-flip-tta"
    assert time_to_accuracy.shipped(shipped)  # the recipe RECIPES ships, by its settings
    lines = time_to_accuracy.targets([row("today", 1, 100.0, 0.897, 0.894), row(shipped, 1, 45.0, 0.901, 0.896),
                                      row("today", 2, 60.0, 0.897, 0.894), row(shipped, 2, 66.0, 0.899, 0.893)])
    assert lines == [
        "Targets at 1 thread, today-flip-tta: mean test 90.10% (at least 90.0%: met), lowest 89.60% "
        "(at least 89.5%: met), 0.45x today's training time (at most 0.5x: met).",
        "Targets at 2 threads, today-flip-tta: mean test 89.90% (at least 90.0%: missed), lowest 89.30% "
        "(at least 89.5%: missed), 1.10x today's training time (at most 0.5x: missed)."]
    assert time_to_accuracy.targets([row("today", 1, 100.0, 0.9, 0.9)]) == []  # nothing shipped in the table


@pytest.mark.slow
def test_the_plain_completion_runs_from_its_own_cells(fashion, tmp_path, monkeypatch):
    """One epoch of the fixture's Part 1, exactly as its cells are written but for the epoch count."""
    fixture = json.loads(time_to_accuracy.PLAIN.read_text())
    cell = fixture["cells"][time_to_accuracy.PLAIN_CELLS["train"]]
    cell["source"] = "".join(cell["source"]).replace("epochs = 15", "epochs = 1")
    short = tmp_path / "plain.ipynb"
    short.write_text(json.dumps(fixture))
    monkeypatch.setattr(time_to_accuracy, "PLAIN", short)
    folder = tmp_path / "run"
    time_to_accuracy.link_data(folder / "data", [time_to_accuracy.datastore.find_source("fashion-mnist")])
    result = time_to_accuracy.plain_run(0, folder)
    assert result["epochs"] == 1 and result["seconds"] > 0 and 0.5 < result["test_accuracy"] < 1


# --- the study with --jobs ------------------------------------------------------------------------------

def test_study_jobs_speed_ups_are_computed_from_the_measured_seconds():
    rows = [{"seconds": 30.0}, {"seconds": 50.5}, {"seconds": None}]  # the last one was skipped
    results = [("sequential, all threads", 100.0, {"jobs": 1, "threads_per_entry": 2, "rows": rows}),
               ("sequential, 1 thread", 150.0, {"jobs": 1, "threads_per_entry": 1, "rows": rows[:1]}),
               ("--jobs 2", 60.0, {"jobs": 2, "threads_per_entry": 1, "rows": rows[1:]})]
    text = study_jobs.report(results, SimpleNamespace(jobs=2, epochs=2, subset=20_000, entries="spec,gap"))
    assert "| sequential, all threads | 1 | 2 | 100.0 | 1.00x | 80.5 |" in text
    assert "| sequential, 1 thread | 1 | 1 | 150.0 | 0.67x | 30.0 |" in text
    assert "| --jobs 2 | 2 | 1 | 60.0 | 1.67x | 50.5 |" in text


@pytest.mark.slow
def test_study_jobs_runs_the_three_studies_with_their_threads(tmp_path):
    out = tmp_path / "study_jobs.md"
    study_jobs.main(["--epochs", "1", "--subset", "300", "--entries", "spec,gap", "--images", "1000",
                     "--out", str(out)])
    rows = [line for line in out.read_text().splitlines() if line.startswith("| ") and "x |" in line]
    cells = [row.strip("| ").split(" | ") for row in rows]
    every = int(cells[0][2])  # the threads a fresh torch process takes here
    expected = [["sequential, all threads", "1", str(every)], ["sequential, 1 thread", "1", "1"],
                ["--jobs 2", "2", str(max(1, every // 2))]]
    assert [cell[:3] for cell in cells] == expected
    assert all(float(cell[3]) > 0 for cell in cells)
