"""Training under torchrun (DistributedDataParallel): the same history as one process, rank 0's files,
resume, faults on one rank, two "machines" meeting at a rendezvous on 127.0.0.1, and the CUDA-only options.

Every process here trains on one thread (the test machine's cores are shared), every endpoint is
127.0.0.1 and gloo talks over the loopback interface.
"""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import smallcnn
from faults import interrupt_at
from processes import children
from smallcnn import distributed
from smallcnn.cli import main
from smallcnn.core.data import TensorLoader
from smallcnn.core.models import build_model
from smallcnn.runfolder import RUN_FILES

SRC = str(Path(smallcnn.__file__).parents[1])
WORKER = str(Path(__file__).with_name("ddp_worker.py"))
# 4,000 images in batches of 128: 31 full batches and one of 32, all split evenly over 2 processes.
# Flips draw from the run's generator, so the shards must come from the one shared random stream.
# A peak rate of 0.03: at the default 0.1 these short runs are chaotic (one process on 1 and on 2 threads,
# which only sum in another order, already differ by 4 % in epoch 2's validation loss), at 0.03 they are not.
RUN_ARGS = ["fashion-mnist", "--subset", "4000", "--epochs", "3", "--seed", "3", "--lr", "0.03", "--augment", "flip",
            "--batch-size", "128", "--device", "cpu"]
STEPS_PER_EPOCH = 32
TIMING = ("seconds", "images_per_second", "train_seconds")
LOSSES = ("train_loss", "val_loss")


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env():
    return {**os.environ, "PYTHONPATH": SRC, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1",
            "GLOO_SOCKET_IFNAME": "lo"}


def torchrun_args(*args, nproc=2, rendezvous=None):
    """torchrun (its module, torch.distributed.run) on one machine, or as one of several with `rendezvous`."""
    where = rendezvous or ["--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{free_port()}"]
    return [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1" if rendezvous is None else "2",
            "--nproc-per-node", str(nproc), *where, *args]


def torchrun(*args, timeout=240, **kwargs):
    return subprocess.run(torchrun_args(*args, **kwargs), env=env(), text=True, capture_output=True,
                          timeout=timeout)


def train_args(fashion, out, *extra):
    return ["-m", "smallcnn", "train", *RUN_ARGS, "--data-dir", str(fashion.location), "--out", str(out), *extra]


def history(out):
    with (out / "history.csv").open() as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def finished(out):
    """A finished run's metrics, history and weights, without the timings (which always differ)."""
    metrics = json.loads((out / "metrics.json").read_text())
    weights = torch.load(out / "model.pt", weights_only=False)["state_dict"]
    return ({k: v for k, v in metrics.items() if k not in TIMING},
            [{k: v for k, v in row.items() if k not in TIMING} for row in history(out)],
            {k: v.tolist() for k, v in weights.items()})


def torchrun_failed_ranks(err):
    """{rank: exit code} from torchrun's failure report."""
    ranks = [int(line.split(":")[1].split()[0]) for line in err.splitlines() if line.strip().startswith("rank ")]
    codes = [int(line.split(":")[1].split()[0]) for line in err.splitlines() if line.strip().startswith("exitcode")]
    return dict(zip(ranks, codes))


def both_stopped(done):
    """Both ranks ended with exit status 2, or one did and torchrun then stopped the other (SIGTERM):
    torchrun ends a run's remaining processes once one has failed. (The processes wait for each other
    after the error is printed, so rank 0's line is never lost.)"""
    codes = torchrun_failed_ranks(done.stderr)
    return done.returncode != 0 and set(codes) == {0, 1} and 2 in codes.values() and set(codes.values()) <= {2, -15}


def our_errors(err):
    return [line for line in err.splitlines() if line.startswith("error: ")]


def no_traceback_of_ours(err):
    return 'smallcnn/' not in "".join(line for line in err.splitlines() if line.strip().startswith("File "))


@pytest.fixture(scope="module")
def one_process(tmp_path_factory, fashion):
    out = tmp_path_factory.mktemp("ddp") / "one"
    assert main(train_args(fashion, out)[2:]) == 0
    return out


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory, fashion):
    out = tmp_path_factory.mktemp("ddp") / "two"
    start = time.perf_counter()
    done = torchrun(*train_args(fashion, out))
    assert done.returncode == 0, done.stderr
    return out, done, time.perf_counter() - start


def assert_same_history(a, b, rel=1e-3):
    """Equal epochs and learning rates; losses within `rel`; accuracies within one image in 1,000."""
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x["epoch"] == y["epoch"]
        for key in LOSSES:
            assert x[key] == pytest.approx(y[key], rel=rel), key
        for key in ("train_accuracy", "val_accuracy"):
            assert x[key] == pytest.approx(y[key], abs=1e-3), key


# --- two processes train as one ------------------------------------------------------------------------------

def test_two_processes_give_the_history_of_one(one_process, two_processes):
    two, _, _ = two_processes
    one_history, two_history = history(one_process), history(two)
    assert_same_history(two_history, one_history)
    worst = max(abs(x[k] - y[k]) / abs(y[k]) for x, y in zip(two_history, one_history) for k in LOSSES)
    print(f"largest relative loss difference, 2 processes against 1: {worst:.2e}")
    assert history(one_process)[-1]["val_accuracy"] > 0.6  # a healthy run, not two equal collapses


def test_world_size_is_recorded_and_model_pt_holds_a_plain_state_dict(one_process, two_processes):
    two, _, _ = two_processes
    for out, world in ((one_process, 1), (two, 2)):
        assert json.loads((out / "config.json").read_text())["world_size"] == world
        assert json.loads((out / "metrics.json").read_text())["world_size"] == world
    saved = torch.load(two / "model.pt", weights_only=False)
    assert not any(key.startswith("module.") for key in saved["state_dict"])
    build_model("spec").load_state_dict(saved["state_dict"])  # loads into a plain model
    assert json.loads((two / "config.json").read_text())["device"] == "cpu"


def test_rank_0_alone_writes_and_prints(two_processes):
    out, done, _ = two_processes
    lines = done.stdout.splitlines()
    for epoch in (1, 2, 3):
        assert sum(line.startswith(f"epoch   {epoch}/3") for line in lines) == 1
    assert sum(line.startswith("report: ") for line in lines) == 1
    assert sum("test accuracy" in line for line in lines) == 1
    assert "and 1 more process (torchrun)" in done.stdout
    assert done.stderr.count("warning: 3 epochs is below the assignment's minimum") == 1
    assert sorted(p.name for p in out.iterdir()) == sorted(set(RUN_FILES) - {"checkpoint.pt"})


# --- interruption and resume -----------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill-9"])
def test_resume_under_torchrun_after_an_interruption_ends_as_the_uninterrupted_run(how, two_processes, fashion,
                                                                                     tmp_path):
    """Ctrl-C (SIGINT to torchrun's process group, as a terminal sends it) or kill -9 of every process.

    torchrun starts each worker in a session of its own: it forwards a Ctrl-C to them, and kill -9 must
    name every one of them (and torchrun)."""
    out = tmp_path / "interrupted"
    proc = subprocess.Popen(torchrun_args(*train_args(fashion, out)), env=env(), text=True, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for line in proc.stdout:  # epoch 2 is saved once its line is printed; epoch 3 is under way
        if line.startswith("epoch   2/3"):
            break
    if how == signal.SIGKILL:
        for worker in children(proc.pid):
            os.kill(worker, signal.SIGKILL)
    os.killpg(proc.pid, how)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    if how == signal.SIGINT:
        # Rank 0 says so; a process whose collective operation its partner left says that instead.
        errors = our_errors(err)
        assert sum("interrupted; the last finished epoch is saved" in e for e in errors) == 1
        assert all("interrupted" in e or "another process of the run stopped" in e for e in errors)
        assert "torchrun --standalone --nproc-per-node 2 -m smallcnn train --resume" in err
    assert not (out / "metrics.json").exists()
    assert len(torch.load(out / "checkpoint.pt", weights_only=False)["history"]["train_losses"]) == 2
    done = torchrun("-m", "smallcnn", "train", "--resume", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("resuming after epoch 2 of 3") == 1
    assert finished(out) == finished(two_processes[0])


# --- faults ----------------------------------------------------------------------------------------------------

def test_a_non_finite_loss_stops_both_ranks_with_one_error_line(fashion, tmp_path):
    out = tmp_path / "run"
    start = time.perf_counter()
    done = torchrun("-m", "smallcnn", "train", "fashion-mnist", "--subset", "500", "--epochs", "2", "--lr", "10000",
                    "--batch-size", "128",  # four steps an epoch: the loss is already NaN in epoch 1
                    "--device", "cpu", "--data-dir", str(fashion.location), "--out", str(out), timeout=120)
    assert time.perf_counter() - start < 120
    assert both_stopped(done)
    assert our_errors(done.stderr) == [
        "error: epoch 1: the training loss became nan; lower the learning rate (now 10000.0) and start again; "
        "no epoch had finished"]
    assert no_traceback_of_ours(done.stderr)


@pytest.mark.slow
def test_a_nan_on_one_rank_only_stops_both_with_one_error_line(fashion, tmp_path):
    """Rank 1's loss turns NaN in epoch 2; the summed totals carry it to rank 0: both stop, nothing hangs."""
    out = tmp_path / "run"
    done = torchrun(WORKER, "poison", "1", str(STEPS_PER_EPOCH + 3), *train_args(fashion, out)[3:], timeout=180)
    assert both_stopped(done)
    errors = our_errors(done.stderr)
    assert len(errors) == 1 and errors[0].startswith("error: epoch 2: the training loss became nan")
    assert f"the last good checkpoint is kept in {out}" in errors[0]
    assert no_traceback_of_ours(done.stderr)
    assert len(torch.load(out / "checkpoint.pt", weights_only=False)["history"]["train_losses"]) == 1
    assert not (out / "metrics.json").exists()


def test_synchronised_batchnorm_on_cpu_processes_equals_batchnorm_on_the_whole_batch():
    done = torchrun(WORKER, "batchnorm", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("largest difference") == 2


def test_the_resume_command_names_torchrun_under_torchrun(monkeypatch):
    assert distributed.command("train --resume r") == "smallcnn train --resume r"
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    expected = "torchrun --standalone --nproc-per-node 4 -m smallcnn train --resume r"
    assert distributed.command("train --resume r") == expected
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert "the same torchrun command on every machine" in distributed.command("train --resume r")


# --- several machines ---------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_two_torchrun_nodes_meet_at_a_rendezvous_on_localhost(one_process, fashion, tmp_path):
    """Two torchrun "machines" (one process each) meet at a c10d rendezvous on 127.0.0.1, as in the README."""
    out, port = tmp_path / "two-nodes", free_port()
    rendezvous = ["--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "smallcnn-test"]
    nodes = [subprocess.Popen(torchrun_args(*train_args(fashion, out), nproc=1, rendezvous=rendezvous), env=env(),
                              text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outputs = [node.communicate(timeout=300) for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], [err for _, err in outputs]
    assert sum(stdout.count("epoch   1/3") for stdout, _ in outputs) == 1  # global rank 0 alone prints
    assert json.loads((out / "metrics.json").read_text())["world_size"] == 2
    assert_same_history(history(out), history(one_process))


# --- CUDA-only options -------------------------------------------------------------------------------------------

@pytest.mark.gpu
def test_a_cuda_run_with_amp_trains_and_records_the_device(fashion, tmp_path):
    out = tmp_path / "run"
    assert main(["train", "fashion-mnist", "--subset", "4000", "--epochs", "2", "--seed", "3", "--device", "cuda",
                 "--amp", "--data-dir", str(fashion.location), "--out", str(out)]) == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["device"].startswith("cuda") and saved["config"]["amp"] is True
    assert json.loads((out / "metrics.json").read_text())["test_accuracy"] > 0.5
    weights = torch.load(out / "model.pt", weights_only=False)["state_dict"].values()
    assert {tensor.device.type for tensor in weights} == {"cpu"}  # model.pt loads on a machine without a GPU


@pytest.mark.gpu
def test_a_deterministic_cuda_run_resumes_bit_for_bit(fashion, tmp_path, monkeypatch, capsys):
    args = ["train", "fashion-mnist", "--subset", "4000", "--epochs", "3", "--seed", "3", "--variant", "dropout",
            "--augment", "flip", "--device", "cuda", "--deterministic", "--data-dir", str(fashion.location)]
    assert main([*args, "--out", str(tmp_path / "straight")]) == 0
    with monkeypatch.context() as patch:
        patch.setattr(TensorLoader, "__iter__", interrupt_at(2 * STEPS_PER_EPOCH + 5))
        assert main([*args, "--out", str(tmp_path / "resumed")]) == 2
    assert main(["train", "--resume", str(tmp_path / "resumed")]) == 0
    torch.use_deterministic_algorithms(False)  # --deterministic set it for this whole process
    assert finished(tmp_path / "resumed") == finished(tmp_path / "straight")


@pytest.mark.gpu
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA GPUs")
def test_two_gpus_give_the_history_of_one(fashion, tmp_path):
    # The CPU tests' calm peak rate (see RUN_ARGS): at the default 0.1 rounding alone moves these losses by percents.
    args = ["fashion-mnist", "--subset", "4000", "--epochs", "2", "--seed", "3", "--lr", "0.03", "--device", "cuda",
            "--data-dir", str(fashion.location)]
    assert main(["train", *args, "--out", str(tmp_path / "one")]) == 0
    done = torchrun("-m", "smallcnn", "train", *args, "--out", str(tmp_path / "two"))
    assert done.returncode == 0, done.stderr
    assert_same_history(history(tmp_path / "two"), history(tmp_path / "one"))
