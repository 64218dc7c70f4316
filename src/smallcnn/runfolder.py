"""The run folder: one run per folder, its config.json, and the checkpoint written after every epoch.

A checkpoint holds everything needed to continue (weights, optimizer, schedule, random-number states,
history), so that a run killed at any moment resumes to exactly the history it would have had on the
same machine, thread count and number of processes. --resume reads back what the folder holds:
config.json (`resolve_saved`) and checkpoint.pt (`read_checkpoint`).

Under torchrun rank 0 alone owns the folder: it checks it, reads it and writes it, and shares what it
read with the other processes (other machines need not see the folder).
"""

import json
import platform
from dataclasses import asdict, fields
from pathlib import Path

import numpy
import torch

from smallcnn import distributed
from smallcnn.files import atomic_write, check_writable, write_json
from smallcnn.settings import RunConfig, TrainingError, run_config, settle

RUN_FILES = ("config.json", "history.csv", "metrics.json", "model.pt", "checkpoint.pt", "report.md",
             "loss_curves.png", "confusion_matrix.png")


def check_resumable(out: Path) -> Path:
    """out, if it holds an unfinished run's checkpoint to resume from."""
    if not (out / "checkpoint.pt").exists():
        raise TrainingError(f"{out}: no checkpoint.pt to resume from"
                            + (" (this run already finished)" if (out / "metrics.json").exists() else ""))
    return out


def prepare_out_dir(out_dir, overwrite: bool, resume: bool) -> Path:
    """Refuse to mix two runs in one folder: a finished or unfinished run is kept unless asked.

    Runs before any data is loaded: a folder that cannot be written is a one-line error first.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise TrainingError(f"{out} is a file; --out needs a directory")
    check_writable(out)
    for name in RUN_FILES:  # temporary files of a process killed mid-write are never data
        for stale in out.glob(f".{name}.*"):
            stale.unlink()
    if resume:
        return check_resumable(out)
    existing = [name for name in ("metrics.json", "checkpoint.pt") if (out / name).exists()]
    if existing and not overwrite:
        what = "a finished run" if "metrics.json" in existing else "an unfinished run (continue it with --resume)"
        raise TrainingError(f"{out} already holds {what}; pass --overwrite to replace it or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES:
        (out / name).unlink(missing_ok=True)
    return out


# --- config.json: the settings, the device, the data and the libraries of a run ---------------------------

def write_config(out: Path, config: RunConfig, device: torch.device, dataset) -> None:
    """config.json of a new run: what `resolve_saved` reads back, and what the run was trained with."""
    write_json(out / "config.json", {"config": asdict(config), "device": recorded_device(device),
                                     "world_size": distributed.world_size(), "dataset": dataset.identity,
                                     "data_location": dataset.location, "versions": library_versions()})


def recorded_device(device: torch.device) -> str:
    """The device as config.json records it, and resume reads it: under torchrun its type (each process its own)."""
    return str(device) if distributed.world_size() == 1 else device.type


def library_versions() -> dict:
    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__,
            "threads": torch.get_num_threads()}


def resolve_saved(out_dir) -> tuple[RunConfig, torch.device]:
    """The settings of the interrupted run in out_dir, as its config.json recorded them, for --resume.

    Rank 0 reads the file and shares it (other machines need not see the run folder).
    """
    out = Path(out_dir)
    saved = distributed.from_main(lambda: json.loads((check_resumable(out) / "config.json").read_text()))
    known = {f.name for f in fields(RunConfig)} - {"dataset"}
    config = run_config(saved["config"]["dataset"], **{k: v for k, v in saved["config"].items() if k in known})
    return settle(config, saved.get("device", "auto"))


# --- checkpoint.pt: written after every epoch, read on --resume --------------------------------------------
# `training` is the run's trainrun.Training: its model, loaders, optimizer, schedule and history.

def save_checkpoint(path, training, device: torch.device) -> None:
    checkpoint = {
        "model": training.model.state_dict(), "optimizer": training.optimizer.state_dict(),
        "scheduler": training.scheduler.state_dict(), "generator": training.train_loader.generator.get_state(),
        "torch_rng": torch.get_rng_state(), "device_rng": device_rng_state(device),
        "world_size": distributed.world_size(), "history": training.history,
    }
    atomic_write(path, lambda f: torch.save(checkpoint, f))


def read_checkpoint(out: Path, device: torch.device) -> dict:
    """out/checkpoint.pt; under torchrun rank 0 reads it and shares it (other machines need not see it)."""
    if distributed.world_size() == 1:
        return torch.load(out / "checkpoint.pt", map_location=device, weights_only=False)
    return distributed.from_main(lambda: torch.load(out / "checkpoint.pt", map_location="cpu", weights_only=False))


def restore_checkpoint(checkpoint: dict, training, device: torch.device) -> None:
    """Restore everything save_checkpoint saved, so that the run continues as if it had never stopped."""
    training.model.load_state_dict(checkpoint["model"])
    training.optimizer.load_state_dict(checkpoint["optimizer"])  # moves its state to the weights' device
    training.scheduler.load_state_dict(checkpoint["scheduler"])
    torch.set_rng_state(checkpoint["torch_rng"].cpu())
    # Every process draws the same random numbers (one seed), each on its own GPU: rank 0 saved its GPU's state.
    set_device_rng_state(device, checkpoint.get("device_rng"))
    training.train_loader.generator.set_state(checkpoint["generator"].cpu())
    training.history = checkpoint["history"]


def device_rng_state(device: torch.device) -> torch.Tensor | None:
    """The random state of the GPU trained on (CUDA or MPS: dropout draws on it); None on the CPU."""
    return None if device.type == "cpu" else torch.get_device_module(device).get_rng_state(device)


def set_device_rng_state(device: torch.device, state: torch.Tensor | None) -> None:
    if state is not None and device.type != "cpu":
        torch.get_device_module(device).set_rng_state(state.cpu(), device)
