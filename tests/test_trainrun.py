"""A training run as `smallcnn train` does it: every output file and the device recorded, numerical faults
and collapse, --subset, the share of every batch under torchrun, the run folder checked before any data is
loaded, and Part 2's spec-adapted model on generated CIFAR-100 (marked NOT official wherever it shows).
"""

import csv
import json
import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn
from torchvision import transforms

from clierrors import UNWRITABLE, check_refused, no_data, one_line_error
from faults import poison_after
from smallcnn import trainrun
from smallcnn.cli import main
from smallcnn.core import train
from smallcnn.core.data import EVAL_BATCH_SIZE, TensorLoader
from smallcnn.core.models import build_model
from smallcnn.core.train import evaluate
from smallcnn.report import write_run_report
from smallcnn.settings import RunConfig, TrainingError, pick_device, resolve, run_config
from smallcnn.trainrun import check_shards, collapse_warning, run_training
from smallrun import STEPS_PER_EPOCH, run_args

NOT_OFFICIAL = "NOT the official CIFAR-100"

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


# --- a run's files ------------------------------------------------------------------------------------------

def test_a_run_writes_every_output(straight_run, fashion):
    out = straight_run
    saved = json.loads((out / "config.json").read_text())
    assert saved["device"] == "cpu"
    assert RunConfig(**saved["config"]) == run_config(
        "fashion-mnist", subset=2000, epochs=4, seed=3, variant="dropout", augment="flip", batch_size=128)
    assert saved["versions"]["torch"] == torch.__version__ and saved["versions"]["threads"] == 1
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["device"] == "cpu" and metrics["threads"] == 1
    assert (metrics["dataset"], metrics["variant"], metrics["params"], metrics["epochs"]) == (
        "fashion-mnist", "dropout", 2_741, 4)
    assert metrics["official_data"] is True and metrics["dataset_identity"] == fashion.identity
    assert metrics["test_accuracy"] > 0.4  # a healthy run of 64 steps (chance is 0.1)
    with (out / "history.csv").open() as f:
        history = list(csv.DictReader(f))
    assert [int(row["epoch"]) for row in history] == [1, 2, 3, 4]
    val = [float(row["val_accuracy"]) for row in history]
    assert metrics["best_epoch"] == val.index(max(val)) + 1 and metrics["best_val_accuracy"] == max(val)
    matrix = torch.tensor(metrics["confusion_matrix"])
    assert matrix.shape == (10, 10) and matrix.sum() == 10_000
    assert metrics["test_accuracy"] == pytest.approx(matrix.trace().item() / 10_000)
    assert list(metrics["per_class_accuracy"]) == list(fashion.classes)
    for png in ("loss_curves.png", "confusion_matrix.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "test accuracy" in (out / "report.md").read_text()
    assert not (out / "checkpoint.pt").exists()
    assert not list(out.glob(".*"))  # no temporary files left behind


def test_the_device_actually_used_is_recorded_not_auto(fashion, tmp_path):
    out = tmp_path / "run"
    assert main(["train", "fashion-mnist", "--subset", "300", "--epochs", "1", "--data-dir", str(fashion.location),
                 "--out", str(out)]) == 0  # --device left at its default, auto
    used = str(pick_device("auto"))
    assert used in ("cpu", "cuda")
    assert json.loads((out / "config.json").read_text())["device"] == used
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["device"] == used and metrics["threads"] == torch.get_num_threads()


def test_model_file_holds_the_weights_that_were_tested(straight_run, fashion):
    saved = torch.load(straight_run / "model.pt", weights_only=False)
    assert set(saved) >= {"state_dict", "config", "normalisation", "classes"}
    assert saved["normalisation"] == ((0.5,), (0.5,))  # the starter's transform: what the weights expect
    model = build_model("dropout").to(memory_format=torch.channels_last)
    model.load_state_dict(saved["state_dict"])
    test_loader = TensorLoader(fashion.test, EVAL_BATCH_SIZE, "cpu")
    accuracy = evaluate(model, test_loader, nn.CrossEntropyLoss(), "cpu", flips=saved["config"]["test_flips"])[1]
    metrics = json.loads((straight_run / "metrics.json").read_text())
    assert accuracy == pytest.approx(metrics["test_accuracy"], abs=2e-4)


# --- numerical faults ---------------------------------------------------------------------------------------

def test_non_finite_loss_in_epoch_2_is_a_one_line_error_and_keeps_epoch_1(fashion, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(TensorLoader, "__iter__", poison_after(STEPS_PER_EPOCH + 3))  # NaN in epoch 2
    out = tmp_path / "run"
    assert main(run_args(fashion, out)) == 2
    err = capsys.readouterr().err
    assert one_line_error(err)
    lr = train.RECIPES["fashion-mnist"].lr  # the recipe's, which the run uses
    assert f"\nerror: epoch 2: the training loss became nan; lower the learning rate (now {lr})" in err
    assert f"the last good checkpoint is kept in {out}" in err
    assert len(torch.load(out / "checkpoint.pt", weights_only=False)["history"]["train_losses"]) == 1
    assert not (out / "metrics.json").exists()


def test_a_diverging_learning_rate_fails_in_epoch_1(fashion, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "fashion-mnist", "--subset", "500", "--epochs", "2", "--lr", "10000", "--batch-size", "128",
                 "--data-dir", str(fashion.location), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert one_line_error(err) and "\nerror: epoch 1: the training loss became nan" in err
    assert "(now 10000.0)" in err and "no epoch had finished" in err


def test_collapse_warning_fires_for_a_collapsed_model_only():
    chance = math.log(100)
    warning = collapse_warning(3, chance + 0.01, 100, 1)
    assert "collapsed in epoch 3" in warning and "ln 100 = 4.605" in warning and "--lr" in warning
    assert "\n" not in warning
    assert collapse_warning(3, chance - 0.2, 100, 1) is not None  # within 5 %
    # Healthy: several classes predicted, or one class at a loss far from chance.
    assert collapse_warning(3, chance, 100, 37) is None
    assert collapse_warning(3, chance, 100, 2) is None
    assert collapse_warning(3, 1.2, 100, 1) is None
    assert collapse_warning(1, math.log(10) * 0.5, 10, 1) is None


class Dead(nn.Module):
    """A model whose every output is 0: one predicted class and a loss of exactly ln K, as dead ReLUs give."""

    def __init__(self, *shape):
        super().__init__()
        self.num_classes = shape[-1]
        self.bias = nn.Parameter(torch.zeros(self.num_classes))

    def forward(self, x):
        return torch.zeros(len(x), self.num_classes) + 0 * self.bias


def test_a_collapsed_run_warns_on_stderr_every_epoch(fashion, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(trainrun, "build_model", lambda variant, *shape: Dead(*shape))
    result = run_training(*resolve("fashion-mnist", {"subset": 500, "epochs": 2}), tmp_path / "run",
                          data_dir=fashion.location, log=lambda line: None)
    err = capsys.readouterr().err
    assert "collapsed in epoch 1" in err and "collapsed in epoch 2" in err
    assert result.history["train_losses"][-1] == pytest.approx(math.log(10))


@pytest.mark.parametrize("seed", [3, 4])
def test_the_short_runs_that_used_to_collapse_now_train(fashion, tmp_path, capsys, seed):
    """`--subset 4000 --epochs 2 --seed 3` (and 4) once ended at 10 % with the loss stuck at ln 10, at the
    recipe of that time (batches of 128, peak rate 0.05), which the command line gives here."""
    torch.set_num_threads(1)
    settings = {"subset": 4000, "epochs": 2, "seed": seed, "batch_size": 128, "lr": 0.05, "device": "cpu"}
    result = run_training(*resolve("fashion-mnist", settings),
                          tmp_path / "run", data_dir=fashion.location, log=lambda line: None)
    assert result.metrics["test_accuracy"] > 0.5
    assert result.history["train_losses"][-1] < 0.8 * math.log(10)
    assert "collapsed" not in capsys.readouterr().err


# --- --subset ----------------------------------------------------------------------------------------------

class Indexed:
    """A stand-in torchvision dataset of n tiny grey images whose labels are their indices."""

    def __init__(self, n):
        self.data = torch.randint(0, 256, (n, 8, 8), dtype=torch.uint8)
        self.targets, self.classes = list(range(n)), [str(i) for i in range(n)]
        self.transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])

    def __len__(self):
        return len(self.targets)


def test_subset_is_a_seeded_random_sample_of_the_training_split():
    n = 2000
    indexed = Indexed(n)  # each label is its image's index, so the split shows which images it took
    dataset = SimpleNamespace(train=indexed, test=Indexed(10), classes=indexed.classes,
                              train_images=torch.zeros(1, 1, 8, 8))

    def sample(seed, subset=300):
        training = trainrun.set_up(run_config("fashion-mnist", seed=seed, subset=subset), dataset, torch.device("cpu"))
        return training.train_loader.labels.tolist(), training.val_loader.labels.tolist()

    taken, val = sample(seed=0)
    assert len(taken) == len(set(taken)) == 300
    assert sorted(taken) != list(range(300)) and taken != list(range(300))  # not the first 300 images
    assert max(taken) > n // 2 and min(taken) < n // 2  # drawn from all over the split
    assert set(taken).isdisjoint(val) and len(val) == 200  # never a validation image
    assert sample(seed=0) == (taken, val)  # the same seed: the same sample
    other, _ = sample(seed=1)
    assert set(other) != set(taken)  # another seed: another sample
    everything, _ = sample(seed=0, subset=0)
    assert len(everything) == 1800 and set(taken) <= set(everything)


# --- under torchrun: every process a share of every batch -------------------------------------------------

def test_every_process_needs_a_share_of_every_batch():
    check_shards(4000, 128, 2)  # the last batch holds 32
    check_shards(4001, 128, 1)  # one process takes anything
    with pytest.raises(TrainingError, match="2 processes cannot share a batch of 1 images .* last batch holds 1"):
        check_shards(3969, 128, 2)
    with pytest.raises(TrainingError, match="4 processes cannot share a batch of 2 images"):
        check_shards(4000, 2, 4)


# --- outputs checked before any work ------------------------------------------------------------------------

@UNWRITABLE
def test_train_checks_its_out_before_loading_data(unwritable, monkeypatch, capsys):
    monkeypatch.setattr(trainrun.datastore, "load_dataset", no_data)
    assert main(["train", "fashion-mnist", "--out", str(unwritable), "--device", "cpu"]) == 2
    check_refused(capsys.readouterr().err, unwritable)


# --- Part 2: the spec-adapted model on generated CIFAR-100 -------------------------------------------------

def test_spec_adapted_pipeline_learns_generated_cifar100_well_above_chance(cifar_dir, tmp_path):
    config, device = resolve("cifar100", {"epochs": 3, "batch_size": 32, "augment": "none"})
    result = run_training(config, device, tmp_path / "run", data_dir=cifar_dir, allow_unofficial=True,
                          log=lambda line: None)
    assert result.metrics["params"] == 27_171
    assert result.metrics["official_data"] is False
    assert result.metrics["test_accuracy"] > 0.25  # 25 times chance (1 %)
    assert result.history["train_losses"][-1] < result.history["train_losses"][0]
    assert NOT_OFFICIAL in write_run_report(result).read_text()


def test_training_on_generated_cifar_without_permission_is_refused(cifar_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "cifar100", "--data-dir", str(cifar_dir), "--out", str(out), "--epochs", "1"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("warning: ")]
    assert len(err) == 1 and err[0].startswith("error: ")
    assert not (out / "metrics.json").exists()
