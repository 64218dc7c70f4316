"""A run as the command line does it: its files, checkpoints and resume, numerical faults, bad arguments."""

import csv
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn
from torchvision import transforms

import smallcnn
from faults import interrupt_at, poison_after
from smallcnn import files, runs
from smallcnn.cli import main
from smallcnn.core import train
from smallcnn.core.data import EVAL_BATCH_SIZE, TensorLoader
from smallcnn.core.models import build_model
from smallcnn.core.train import TrainConfig, evaluate
from smallcnn.runs import (
    RunConfig,
    TrainingError,
    collapse_warning,
    pick_device,
    prepare_out_dir,
    resolve,
    run_config,
    run_training,
)

SRC = str(Path(smallcnn.__file__).parents[1])
# Dropout (the global RNG) and flips (the run's generator) make every random state matter on resume.
# On the CPU: bit-identical resumes are promised for the same machine and thread count, and CUDA kernels
# need not be deterministic.
RUN_ARGS = ["fashion-mnist", "--subset", "2000", "--epochs", "4", "--seed", "3", "--variant", "dropout",
            "--augment", "flip", "--device", "cpu"]
STEPS_PER_EPOCH = 16  # 2,000 images in batches of 128
TIMING = ("seconds", "images_per_second", "train_seconds")


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def run_args(fashion, out, *extra):
    return ["train", *RUN_ARGS, "--data-dir", str(fashion.location), "--out", str(out), *extra]


def finished(out):
    """A finished run's metrics, history and weights, without the timings (which always differ)."""
    metrics = json.loads((out / "metrics.json").read_text())
    with (out / "history.csv").open() as f:
        history = [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(f)]
    weights = torch.load(out / "model.pt", weights_only=False)["state_dict"]
    return {k: v for k, v in metrics.items() if k not in TIMING}, history, {k: v.tolist() for k, v in weights.items()}


def one_line_error(err):
    """True when stderr holds exactly one error line (after any warnings) and no traceback."""
    lines = [line for line in err.splitlines() if not line.startswith("warning: ")]
    return len(lines) == 1 and lines[0].startswith("error: ") and err.endswith("\n") and "Traceback" not in err


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory, fashion):
    """The uninterrupted run everything else is compared with."""
    out = tmp_path_factory.mktemp("runs") / "straight"
    assert main(run_args(fashion, out)) == 0
    return out


# --- a run's files ------------------------------------------------------------------------------------------

def test_a_run_writes_every_output(straight_run, fashion):
    out = straight_run
    saved = json.loads((out / "config.json").read_text())
    assert saved["device"] == "cpu"
    assert RunConfig(**saved["config"]) == run_config(
        "fashion-mnist", subset=2000, epochs=4, seed=3, variant="dropout", augment="flip")
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
    accuracy = evaluate(model, TensorLoader(fashion.test, EVAL_BATCH_SIZE, "cpu"), nn.CrossEntropyLoss(), "cpu")[1]
    metrics = json.loads((straight_run / "metrics.json").read_text())
    assert accuracy == pytest.approx(metrics["test_accuracy"], abs=2e-4)


# --- interruption and resume ------------------------------------------------------------------------------

def interrupt_mid_epoch_3(monkeypatch):
    """Ctrl-C at the fifth training batch of epoch 3."""
    monkeypatch.setattr(TensorLoader, "__iter__", interrupt_at(2 * STEPS_PER_EPOCH + 5))


def interrupt_while_saving_checkpoint_3(monkeypatch):
    """Ctrl-C half-way through writing epoch 3's checkpoint: epoch 2's must survive intact."""
    real_write, saves = runs.atomic_write, {"n": 0}

    def write(path, writer):
        if Path(path).name == "checkpoint.pt":
            saves["n"] += 1
            if saves["n"] == 3:
                def half_then_interrupt(f):
                    f.write(b"half a checkpoint")
                    raise KeyboardInterrupt
                return real_write(path, half_then_interrupt)
        return real_write(path, writer)

    monkeypatch.setattr(runs, "atomic_write", write)


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
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


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


# --- numerical faults ---------------------------------------------------------------------------------------

def test_non_finite_loss_in_epoch_2_is_a_one_line_error_and_keeps_epoch_1(fashion, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(TensorLoader, "__iter__", poison_after(STEPS_PER_EPOCH + 3))  # NaN in epoch 2
    out = tmp_path / "run"
    assert main(run_args(fashion, out)) == 2
    err = capsys.readouterr().err
    assert one_line_error(err)
    lr = train.TrainConfig().lr  # the recipe's, which the run uses
    assert f"\nerror: epoch 2: the training loss became nan; lower the learning rate (now {lr})" in err
    assert f"the last good checkpoint is kept in {out}" in err
    assert len(torch.load(out / "checkpoint.pt", weights_only=False)["history"]["train_losses"]) == 1
    assert not (out / "metrics.json").exists()


def test_a_diverging_learning_rate_fails_in_epoch_1(fashion, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "fashion-mnist", "--subset", "500", "--epochs", "2", "--lr", "10000",
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
    monkeypatch.setattr(runs, "build_model", lambda variant, *shape: Dead(*shape))
    result = run_training(*resolve("fashion-mnist", {"subset": 500, "epochs": 2}), tmp_path / "run",
                          data_dir=fashion.location, log=lambda line: None)
    err = capsys.readouterr().err
    assert "collapsed in epoch 1" in err and "collapsed in epoch 2" in err
    assert result.history["train_losses"][-1] == pytest.approx(math.log(10))


@pytest.mark.parametrize("seed", [3, 4])
def test_the_short_runs_that_used_to_collapse_now_train(fashion, tmp_path, capsys, seed):
    """`--subset 4000 --epochs 2 --seed 3` (and 4) once ended at 10 % with the loss stuck at ln 10."""
    torch.set_num_threads(1)
    result = run_training(*resolve("fashion-mnist", {"subset": 4000, "epochs": 2, "seed": seed, "device": "cpu"}),
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
        training = runs.set_up(run_config("fashion-mnist", seed=seed, subset=subset), dataset, torch.device("cpu"))
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


# --- bad arguments ------------------------------------------------------------------------------------------

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


def test_unknown_dataset_lists_the_valid_names(capsys):
    assert main(["train", "imagenet"]) == 2
    err = capsys.readouterr().err
    assert one_line_error(err) and "imagenet" in err and "fashion-mnist" in err and "cifar100" in err


def test_train_needs_a_dataset_or_resume(capsys):
    assert main(["train"]) == 2
    assert "name a dataset" in capsys.readouterr().err


# --- files that are never half-written -----------------------------------------------------------------------

def test_atomic_write_gives_outputs_the_usual_permissions(tmp_path):
    files.atomic_write(tmp_path / "out.txt", lambda f: f.write(b"done"))
    mask = files.current_umask()
    assert (tmp_path / "out.txt").read_text() == "done"
    assert (tmp_path / "out.txt").stat().st_mode & 0o777 == 0o666 & ~mask


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path):
    target = tmp_path / "metrics.json"
    files.write_json(target, {"old": 1})

    def fails_half_way(f):
        f.write(b'{"new": ')
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        files.atomic_write(target, fails_half_way)
    assert json.loads(target.read_text()) == {"old": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


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


# --- the device ---------------------------------------------------------------------------------------------

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


def test_the_device_rng_state_is_the_cpus_own_on_a_cpu():
    assert runs.device_rng_state(torch.device("cpu")) is None
    runs.set_device_rng_state(torch.device("cpu"), None)  # nothing to restore


# --- outputs checked before any work ------------------------------------------------------------------------

def no_data(*args, **kwargs):
    raise AssertionError("data was loaded before the output was checked")


@pytest.fixture
def unwritable(tmp_path, request):
    """An --out that cannot be written: under a regular file, under /proc, or in a folder os.access refuses."""
    (tmp_path / "a-file").write_text("x")
    if request.param == "read-only":
        folder = tmp_path / "read-only"
        folder.mkdir()
        real_access = os.access
        patch = pytest.MonkeyPatch()
        patch.setattr(os, "access", lambda path, mode, **kw: Path(path) != folder and real_access(path, mode, **kw))
        request.addfinalizer(patch.undo)
        return folder / "out"
    return {"under-a-file": tmp_path / "a-file" / "out", "proc": Path("/proc/smallcnn-test/out")}[request.param]


UNWRITABLE = pytest.mark.parametrize("unwritable", ["under-a-file", "proc", "read-only"], indirect=True)


def check_refused(err, path):
    assert one_line_error(err) and f"cannot write {path}" in err


def test_check_writable_creates_nothing(tmp_path):
    assert files.check_writable(tmp_path / "new" / "run") == tmp_path / "new" / "run"
    assert files.check_writable(tmp_path / "x.ipynb", directory=False) == tmp_path / "x.ipynb"
    assert list(tmp_path.iterdir()) == []  # the probe file is gone, and no folder was made


@UNWRITABLE
def test_train_checks_its_out_before_loading_data(unwritable, monkeypatch, capsys):
    monkeypatch.setattr(runs.datastore, "load_dataset", no_data)
    assert main(["train", "fashion-mnist", "--out", str(unwritable), "--device", "cpu"]) == 2
    check_refused(capsys.readouterr().err, unwritable)


@UNWRITABLE
def test_compare_checks_its_out_before_any_work(unwritable, monkeypatch, capsys):
    from smallcnn import baselines

    monkeypatch.setattr(baselines.datastore, "load_dataset", no_data)
    monkeypatch.setattr(baselines, "ensure_default_run", no_data)  # not even the default run is trained
    assert main(["compare", "fashion-mnist", "--quick", "--out", str(unwritable)]) == 2
    check_refused(capsys.readouterr().err, unwritable)


@UNWRITABLE
def test_notebook_checks_its_out_before_building(unwritable, monkeypatch, capsys):
    notebook = pytest.importorskip("smallcnn.notebook.build")
    monkeypatch.setattr(notebook, "make_notebook", no_data)
    assert main(["notebook", "--out", str(unwritable / "smallcnn.ipynb"), "--quick"]) == 2
    check_refused(capsys.readouterr().err, unwritable / "smallcnn.ipynb")
