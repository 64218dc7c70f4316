"""A run's settings, resolved once: the dataset's recipe is the one source of defaults, every bad value is a
one-line error naming it (all of them at once), and --device is the one device choice, checked before any work.
"""

import json

import pytest
import torch

from clierrors import one_line_error
from smallcnn.cli import main
from smallcnn.core import train
from smallcnn.core.train import TrainConfig
from smallcnn.settings import RunConfig, TrainingError, pick_device, resolve

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


# --- settings resolved once: the recipe is the one source of defaults -----------------------------------------

def test_a_recipe_value_reaches_the_run_with_no_command_line_default_over_it(fashion, tmp_path, monkeypatch):
    recipe = {"batch_size": 64, "momentum": 0.8, "weight_decay": 1e-4, "seed": 5, "val_fraction": 0.2}
    monkeypatch.setitem(train.RECIPES, "fashion-mnist", TrainConfig(**recipe))
    out = tmp_path / "run"
    assert main(["train", "fashion-mnist", "--subset", "300", "--epochs", "1", "--device", "cpu",
                 "--data-dir", str(fashion.location), "--out", str(out)]) == 0
    saved = json.loads((out / "config.json").read_text())
    assert {name: saved["config"][name] for name in recipe} == recipe
    assert saved["device"] == "cpu" and "device" not in saved["config"]  # recorded once
    # A value given on the command line still wins over the recipe's.
    assert main(["train", "fashion-mnist", "--subset", "300", "--epochs", "1", "--device", "cpu", "--batch-size", "32",
                 "--data-dir", str(fashion.location), "--out", str(out), "--overwrite"]) == 0
    saved = json.loads((out / "config.json").read_text())
    assert (saved["config"]["batch_size"], saved["config"]["momentum"]) == (32, 0.8)


def test_resolve_gives_a_checked_config_and_a_device():
    config, device = resolve("cifar10", {"epochs": 2, "lr": None, "device": "cpu"})
    assert (config.dataset, config.epochs, config.augment, config.lr) == ("cifar10", 2, "crop-flip", TrainConfig().lr)
    assert device == torch.device("cpu")
    with pytest.raises(TrainingError, match="epochs must be an integer >= 1"):
        resolve("fashion-mnist", {"epochs": 0})


# --- bad arguments ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["--epochs", "0"], "epochs must be an integer >= 1 (got 0)"),
    (["--batch-size", "0"], "batch_size must be an integer >= 1 (got 0)"),
    (["--lr", "0"], "lr must be a finite number > 0 (got 0.0)"),
    (["--lr", "nan"], "lr must be a finite number > 0 (got nan)"),
    (["--lr", "inf"], "lr must be a finite number > 0 (got inf)"),
    (["--val-fraction", "1"], "val_fraction must be strictly between 0 and 1 (got 1.0)"),
    (["--val-fraction", "0"], "val_fraction must be strictly between 0 and 1 (got 0.0)"),
    (["--subset", "-1"], "subset must be an integer >= 0 (got -1)"),
    (["--variant", "resnet"], "unknown variant 'resnet' (choose from: spec, "),
    (["--augment", "mixup"], "augment must be one of none, flip, crop-flip (got 'mixup')"),
])
def test_bad_arguments_are_one_line_errors_listing_valid_choices(args, message, tmp_path, capsys):
    assert main(["train", "fashion-mnist", "--out", str(tmp_path / "run"), *args]) == 2
    err = capsys.readouterr().err
    assert one_line_error(err) and message in err
    assert not (tmp_path / "run").exists()


def test_every_problem_is_named_at_once(tmp_path, capsys):
    assert main(["train", "fashion-mnist", "--out", str(tmp_path / "run"), "--epochs", "0", "--lr", "-1"]) == 2
    err = capsys.readouterr().err
    assert one_line_error(err) and "epochs must be an integer >= 1" in err and "; lr must be" in err


# --- the device ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("device, message", [
    ("tpu", "unknown device 'tpu'; choose auto, cpu, cuda or cuda:N"),
    ("cuda:x", "unknown device 'cuda:x'"),
    ("meta", "device 'meta' is not supported; choose auto, cpu, cuda or cuda:N"),
    pytest.param("cuda", "asked for, but this machine has no usable CUDA GPU; use --device cpu",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")),
    ("cuda:99", "cuda:99"),
])
def test_a_bad_device_is_a_one_line_error(device, message, fashion, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "fashion-mnist", "--device", device, "--data-dir", str(fashion.location),
                 "--out", str(out), "--epochs", "1", "--subset", "200"]) == 2
    err = capsys.readouterr().err
    assert one_line_error(err) and message in err
    assert not (out / "config.json").exists()


def test_pick_device():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_auto_is_torchs_accelerator_when_there_is_one(monkeypatch):
    monkeypatch.setattr(torch.accelerator, "is_available", lambda: False)
    assert pick_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.accelerator, "is_available", lambda: True)
    monkeypatch.setattr(torch.accelerator, "current_accelerator", lambda: torch.device("mps"))
    assert pick_device("auto") == torch.device("mps")


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="this machine has an Apple MPS GPU")
def test_mps_is_a_choice_and_its_absence_a_one_line_error(fashion, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "fashion-mnist", "--device", "mps", "--data-dir", str(fashion.location),
                 "--out", str(out), "--epochs", "1", "--subset", "200"]) == 2
    err = capsys.readouterr().err
    assert one_line_error(err) and "'mps' asked for, but this machine has no usable Apple MPS GPU" in err
    assert not out.exists()


# --- CUDA-only options --------------------------------------------------------------------------------------

@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_amp_without_cuda_is_a_one_line_error(fashion, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "fashion-mnist", "--amp", "--data-dir", str(fashion.location), "--out", str(out),
                 "--epochs", "1", "--subset", "200"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: --amp (bfloat16 autocast) needs a CUDA GPU")
    assert not out.exists()


def test_amp_is_off_by_default():
    assert RunConfig().amp is False and RunConfig().deterministic is False
