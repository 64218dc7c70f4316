import csv
import json

import pytest
import torch

from smallcnn import data, train
from smallcnn.report import plot_curves, write_run_report
from smallcnn.train import TrainConfig, default_config, fit, prepare_tensors, run_training
from smallcnn.models import build_model

TIMING = ("seconds", "images_per_second")


def without_timing(history):
    return [{k: v for k, v in row.items() if k not in TIMING} for row in history]


def quick_config(**overrides):
    return default_config("fashion-mnist", **{"subset": 3000, "epochs": 2, "batch_size": 128, **overrides})


def test_one_epoch_on_ten_thousand_real_images_clearly_beats_chance(fashion, tmp_path):
    result = run_training(quick_config(subset=10000, epochs=1, batch_size=64, lr=0.05), tmp_path / "run", data_dir=fashion.location,
                          log=lambda line: None)
    assert result.metrics["test_accuracy"] > 0.70  # chance is 0.10


def test_same_seed_gives_the_same_history(fashion):
    histories = []
    for _ in range(2):
        config = quick_config(seed=7)
        torch.manual_seed(config.seed)
        history, _ = fit(build_model(), prepare_tensors(fashion, config), config, log=lambda line: None)
        histories.append(without_timing(history))
    assert histories[0] == histories[1]


def test_a_run_writes_every_output_and_they_parse(fashion, tmp_path):
    config = quick_config(tta=True)
    result = run_training(config, tmp_path / "run", data_dir=fashion.location, log=lambda line: None)
    write_run_report(result)
    out = tmp_path / "run"
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("test_accuracy", "best_val_accuracy", "best_epoch", "epochs", "params", "train_seconds",
                "images_per_second", "per_class_accuracy", "test_accuracy_flip_tta"):
        assert key in metrics
    assert metrics["params"] == 2741 and metrics["epochs"] == 2 and metrics["official_data"] is True
    assert set(metrics["per_class_accuracy"]) == set(fashion.classes)
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    saved = json.loads((out / "config.json").read_text())
    assert TrainConfig.from_dict(saved["config"]) == config and "torch" in saved["versions"]
    model = torch.load(out / "model.pt", weights_only=False)
    assert set(model) >= {"state_dict", "config", "mean", "std", "classes"}
    for png in ("loss_curves.png", "confusion_matrix.png", "misclassified.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "test accuracy" in (out / "report.md").read_text()
    assert not (out / "checkpoint.pt").exists()
    assert not list(out.glob(".*"))  # no temporary files left behind


def test_loss_plot_has_training_and_validation_curves():
    history = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.1 / e, "train_accuracy": 0.5, "val_accuracy": 0.4}
               for e in (1, 2, 3)]
    loss_ax = plot_curves(history).axes[0]
    assert [line.get_label() for line in loss_ax.get_lines()] == ["training loss", "validation loss"]
    assert list(loss_ax.get_lines()[1].get_ydata()) == [1.1, 0.55, 1.1 / 3]


def test_best_validation_epoch_is_the_one_tested(fashion, tmp_path):
    result = run_training(quick_config(epochs=3), tmp_path / "run", data_dir=fashion.location, log=lambda line: None)
    best = max(result.history, key=lambda row: row["val_accuracy"])
    assert result.metrics["best_epoch"] == best["epoch"]
    assert result.metrics["best_val_accuracy"] == best["val_accuracy"]


@pytest.mark.parametrize("schedule", train.SCHEDULES)
def test_every_schedule_trains(fashion, schedule):
    config = quick_config(schedule=schedule, epochs=1, subset=1000)
    history, _ = fit(build_model(), prepare_tensors(fashion, config), config, log=lambda line: None)
    assert history[0]["train_loss"] < 2.3  # below the loss of a uniform guess over 10 classes


@pytest.mark.parametrize("total", [1, 2, 4, 1000])
def test_schedules_are_defined_for_any_run_length_and_end_near_zero(total):
    for schedule in ("onecycle", "cosine"):
        factors = [train.lr_factor(schedule, step, total) for step in range(total)]
        assert all(0 <= f <= 1 for f in factors) and max(factors) > 0
    onecycle = [train.lr_factor("onecycle", step, 1000) for step in range(1000)]
    assert onecycle[249] == 1.0 and onecycle[-1] < 0.01 and onecycle[0] < 0.01


def test_atomic_write_gives_outputs_the_usual_permissions(tmp_path):
    import os

    data.atomic_write(tmp_path / "out.txt", lambda f: f.write(b"done"))
    mask = os.umask(0o022)
    os.umask(mask)
    assert (tmp_path / "out.txt").read_text() == "done"
    assert (tmp_path / "out.txt").stat().st_mode & 0o777 == 0o666 & ~mask
