"""The run folder: one run per folder, and the checkpoint after every epoch from which an interrupted run
(Ctrl-C, kill -9, even half-way through writing a checkpoint) resumes to exactly the uninterrupted run.
"""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import smallcnn
from clierrors import one_line_error
from faults import default_sigint, interrupt_at
from smallcnn import runfolder
from smallcnn.cli import main
from smallcnn.core.data import TensorLoader
from smallcnn.runfolder import prepare_out_dir
from smallcnn.settings import TrainingError
from smallrun import STEPS_PER_EPOCH, finished, run_args

SRC = str(Path(smallcnn.__file__).parents[1])

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


# --- interruption and resume ------------------------------------------------------------------------------

def interrupt_mid_epoch_3(monkeypatch):
    """Ctrl-C at the fifth training batch of epoch 3."""
    monkeypatch.setattr(TensorLoader, "__iter__", interrupt_at(2 * STEPS_PER_EPOCH + 5))


def interrupt_while_saving_checkpoint_3(monkeypatch):
    """Ctrl-C half-way through writing epoch 3's checkpoint: epoch 2's must survive intact."""
    real_write, saves = runfolder.atomic_write, {"n": 0}

    def write(path, writer):
        if Path(path).name == "checkpoint.pt":
            saves["n"] += 1
            if saves["n"] == 3:
                def half_then_interrupt(f):
                    f.write(b"half a checkpoint")
                    raise KeyboardInterrupt
                return real_write(path, half_then_interrupt)
        return real_write(path, writer)

    monkeypatch.setattr(runfolder, "atomic_write", write)


@pytest.mark.parametrize("interrupt", [interrupt_mid_epoch_3, interrupt_while_saving_checkpoint_3])
def test_resume_after_an_interruption_ends_identical_to_an_uninterrupted_run(
        interrupt, straight_run, fashion, tmp_path, monkeypatch, capsys):
    out = tmp_path / "interrupted"
    with monkeypatch.context() as patch:
        interrupt(patch)
        assert main(run_args(fashion, out)) == 2
    err = capsys.readouterr().err
    assert one_line_error(err) and f"continue with `smallcnn train --resume {out}`" in err
    assert not (out / "metrics.json").exists() and not list(out.glob(".*"))
    assert len(torch.load(out / "checkpoint.pt", weights_only=False)["history"]["train_losses"]) == 2
    # An unfinished run is not replaced by starting again without --resume.
    assert main(run_args(fashion, out)) == 2
    assert "an unfinished run (continue it with --resume)" in capsys.readouterr().err
    assert main(["train", "--resume", str(out)]) == 0
    captured = capsys.readouterr()
    assert "resuming after epoch 2 of 4" in captured.out
    assert "2,000 train / 6,000 validation / 10,000 test images" in captured.out  # --subset 2000
    assert "collapsed" not in captured.err  # a healthy run raises no collapse warning
    assert finished(out) == finished(straight_run)
    assert not (out / "checkpoint.pt").exists()


def test_resuming_a_finished_run_or_an_empty_folder_is_a_clear_error(straight_run, tmp_path, capsys):
    assert main(["train", "--resume", str(straight_run)]) == 2
    err = capsys.readouterr().err
    assert one_line_error(err) and "no checkpoint.pt to resume from (this run already finished)" in err
    assert main(["train", "--resume", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert one_line_error(err) and "no checkpoint.pt to resume from" in err and "already finished" not in err


@pytest.mark.slow
def test_kill_9_mid_epoch_then_resume_matches_the_uninterrupted_run(tmp_path, straight_run, fashion):
    out = tmp_path / "killed"
    proc = start_cli(*run_args(fashion, out))
    wait_for_line(proc, "epoch   2/4")  # epoch 2 is saved; epoch 3 is now under way
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "metrics.json").exists() and (out / "checkpoint.pt").exists()
    assert main(["train", "--resume", str(out)]) == 0
    assert finished(out) == finished(straight_run)


@pytest.mark.slow
def test_ctrl_c_saves_and_says_how_to_resume(tmp_path, straight_run, fashion):
    out = tmp_path / "interrupted"
    proc = start_cli(*run_args(fashion, out))
    wait_for_line(proc, "epoch   1/4")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert one_line_error(err) and f"smallcnn train --resume {out}" in err
    assert main(["train", "--resume", str(out)]) == 0
    assert finished(out) == finished(straight_run)


def start_cli(*args):
    env = {**os.environ, "PYTHONPATH": SRC, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "smallcnn", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=default_sigint)


def wait_for_line(proc, text, timeout=300):
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        if text in line:
            return
        if time.monotonic() > deadline:
            break
    proc.kill()
    pytest.fail(f"training never printed {text!r}")


# --- the run folder ---------------------------------------------------------------------------------------

def test_a_finished_run_is_never_overwritten_silently(straight_run, fashion, tmp_path, capsys):
    out = tmp_path / "run"
    shutil.copytree(straight_run, out)
    first = (out / "metrics.json").read_text()
    assert main(run_args(fashion, out, "--epochs", "1")) == 2
    err = capsys.readouterr().err
    assert one_line_error(err) and "already holds a finished run; pass --overwrite" in err
    assert (out / "metrics.json").read_text() == first
    assert main(run_args(fashion, out, "--epochs", "1", "--subset", "500", "--overwrite")) == 0
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 1
    with (out / "history.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 1


def test_the_run_folder_checks(tmp_path):
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(TrainingError, match="is a file; --out needs a directory"):
        prepare_out_dir(tmp_path / "a-file", overwrite=False, resume=False)
    # Temporary files of a process killed mid-write are removed; files that are not the run's are kept.
    out = tmp_path / "run"
    out.mkdir()
    (out / ".checkpoint.pt.k2j3h").write_bytes(b"half")
    (out / "notes.txt").write_text("mine")
    (out / "report.md").write_text("an old report")
    assert prepare_out_dir(out, overwrite=False, resume=False) == out
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


# --- the random state of the device, in every checkpoint ----------------------------------------------------

def test_the_device_rng_state_is_the_cpus_own_on_a_cpu():
    assert runfolder.device_rng_state(torch.device("cpu")) is None
    runfolder.set_device_rng_state(torch.device("cpu"), None)  # nothing to restore
