"""Interruption, resume, numerical faults and bad arguments: nothing lost, nothing half-written."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import smallcnn
from smallcnn import train
from smallcnn.cli import main
from smallcnn.train import TrainingError, default_config, run_training

SRC = str(Path(smallcnn.__file__).parents[1])
RUN_ARGS = ["fashion-mnist", "--subset", "4000", "--epochs", "4", "--seed", "3"]
TIMING = ("seconds", "images_per_second", "train_seconds")


def start_cli(*args):
    env = {**os.environ, "PYTHONPATH": SRC, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "smallcnn", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for_line(proc, text, timeout=300):
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        if text in line:
            return
        if time.monotonic() > deadline:
            break
    pytest.fail(f"training never printed {text!r}")


def finished(out):
    metrics = json.loads((out / "metrics.json").read_text())
    history = (out / "history.csv").read_text().splitlines()
    columns = history[0].split(",")
    keep = [i for i, name in enumerate(columns) if name not in TIMING]
    rows = [[line.split(",")[i] for i in keep] for line in history]
    return {k: v for k, v in metrics.items() if k not in TIMING}, rows


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, fashion):
    out = tmp_path_factory.mktemp("runs") / "straight"
    assert main(["train", *RUN_ARGS, "--out", str(out)]) == 0
    return finished(out)


@pytest.mark.slow
def test_kill_9_mid_epoch_then_resume_matches_the_uninterrupted_run(tmp_path, uninterrupted):
    out = tmp_path / "killed"
    proc = start_cli("train", *RUN_ARGS, "--out", str(out))
    wait_for_line(proc, "epoch   2/4")  # epoch 2 is saved; epoch 3 is now under way
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "metrics.json").exists() and (out / "checkpoint.pt").exists()
    assert main(["train", "--resume", str(out)]) == 0
    assert finished(out) == uninterrupted


@pytest.mark.slow
def test_ctrl_c_saves_and_says_how_to_resume(tmp_path, uninterrupted):
    out = tmp_path / "interrupted"
    proc = start_cli("train", *RUN_ARGS, "--out", str(out))
    wait_for_line(proc, "epoch   1/4")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert f"smallcnn train --resume {out}" in err and "Traceback" not in err
    assert main(["train", "--resume", str(out)]) == 0
    assert finished(out) == uninterrupted


def test_a_finished_run_is_never_overwritten_silently(tmp_path, fashion, capsys):
    out = tmp_path / "run"
    args = ["train", "fashion-mnist", "--subset", "500", "--epochs", "1", "--out", str(out)]
    assert main(args) == 0
    first = (out / "metrics.json").read_text()
    assert main(args) == 2
    assert "already holds a finished run" in capsys.readouterr().err
    assert (out / "metrics.json").read_text() == first
    assert main(args + ["--overwrite", "--seed", "1"]) == 0
    assert (out / "metrics.json").read_text() != first


def test_resume_without_a_checkpoint_is_a_clear_error(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "no checkpoint.pt to resume from" in capsys.readouterr().err


def test_non_finite_loss_names_the_epoch_and_keeps_the_last_good_checkpoint(tmp_path, fashion, monkeypatch):
    real_cross_entropy = train.F.cross_entropy
    calls = {"n": 0}

    def poisoned(logits, labels, **kwargs):
        calls["n"] += 1
        loss = real_cross_entropy(logits, labels, **kwargs)
        return loss * float("nan") if calls["n"] > 40 else loss  # epoch 1 has 32 steps

    monkeypatch.setattr(train.F, "cross_entropy", poisoned)
    out = tmp_path / "run"
    with pytest.raises(TrainingError, match="epoch 2 by step 25; lower the learning rate"):
        run_training(default_config("fashion-mnist", subset=4000, epochs=3), out, data_dir=fashion.location,
                     log=lambda line: None)
    import torch
    assert len(torch.load(out / "checkpoint.pt", weights_only=False)["history"]) == 1


@pytest.mark.parametrize("args, message", [
    (["--epochs", "0"], "epochs must be >= 1"),
    (["--batch-size", "0"], "batch size must be >= 1"),
    (["--lr", "0"], "learning rate must be a finite number > 0"),
    (["--lr", "nan"], "learning rate must be a finite number > 0"),
    (["--lr", "inf"], "learning rate must be a finite number > 0"),
    (["--val-fraction", "1"], "validation fraction must lie strictly between 0 and 1"),
    (["--val-fraction", "0"], "validation fraction must lie strictly between 0 and 1"),
    (["--variant", "resnet"], "unknown variant 'resnet' (choose from: spec, "),
    (["--schedule", "step"], "unknown schedule 'step' (choose from: onecycle, cosine, constant)"),
    (["--augment", "mixup"], "unknown augment 'mixup' (choose from: none, flip, crop-flip)"),
])
def test_bad_arguments_are_one_line_errors_listing_valid_choices(args, message, tmp_path, capsys):
    assert main(["train", "fashion-mnist", "--out", str(tmp_path / "run"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("error: ")
    assert not (tmp_path / "run").exists()


def test_unknown_dataset_lists_the_valid_names(capsys):
    assert main(["train", "imagenet"]) == 2
    err = capsys.readouterr().err
    assert "imagenet" in err and "fashion-mnist" in err and "cifar100" in err
