"""A run's settings, resolved once: the dataset's recipe with the command line's overrides, and the device.

`resolve` is the one way in: it checks every value (a bad one is a one-line `TrainingError` naming each)
and turns --device into the torch.device this process trains on (`pick_device`, the one device choice
that train, study and notebook make before any work). Everything downstream receives (config, device).
"""

import os
from dataclasses import asdict, dataclass

import torch

from smallcnn import distributed
from smallcnn.core.models import VARIANTS
from smallcnn.core.train import RECIPES, TrainConfig
from smallcnn.files import SmallCNNError


class TrainingError(SmallCNNError):
    """A run that cannot start or cannot go on (bad settings, a diverged loss, a finished run)."""


class DeviceMissingError(TrainingError, distributed.PerProcessError):
    """The device asked for is not on this machine: under torchrun each machine finds so for itself."""


@dataclass
class RunConfig(TrainConfig):
    """A training recipe plus what the command-line tool needs to run it: the data, the model, CUDA's options.

    The device is not a setting of the recipe: `resolve` turns --device into a torch.device once, beside it.
    """
    dataset: str = "fashion-mnist"
    variant: str = "spec"
    subset: int = 0                 # > 0: train on this many images only (quick runs)
    amp: bool = False               # bf16 autocast around the forward pass (CUDA only)
    deterministic: bool = False     # deterministic CUDA kernels: a CUDA run repeats (and resumes) bit for bit

    def __post_init__(self):
        super().__post_init__()
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown variant {self.variant!r} (choose from: {', '.join(VARIANTS)})")
        if not (isinstance(self.subset, int) and self.subset >= 0):
            raise ValueError(f"subset must be an integer >= 0 (got {self.subset!r})")


def run_config(dataset: str, **changes) -> RunConfig:
    """The dataset's recipe (core RECIPES; CIFAR-10 trains with CIFAR-100's) as a RunConfig, with `changes`."""
    recipe = RECIPES.get(dataset, RECIPES["cifar100"])
    try:
        return RunConfig(dataset=dataset, **{**asdict(recipe), **changes})
    except ValueError as exc:  # the dataclass names every bad value
        raise TrainingError(str(exc)) from None


def resolve(dataset: str, overrides: dict | None = None) -> tuple[RunConfig, torch.device]:
    """The run's settings, resolved once: the dataset's recipe with the command line's overrides, checked,
    and the torch.device to train on. Overrides that are None were not given: the recipe's value stays.

    overrides["device"] is --device (default auto). Everything downstream receives (config, device).
    """
    settings = {name: value for name, value in (overrides or {}).items() if value is not None}
    device_name = settings.pop("device", "auto")
    return settle(run_config(dataset, **settings), device_name)


def settle(config: RunConfig, device_name: str) -> tuple[RunConfig, torch.device]:
    """(config, the torch.device this process trains on); --amp only where it can run."""
    device = process_device(pick_device(device_name))
    if config.amp and device.type != "cuda":
        raise TrainingError(f"--amp (bfloat16 autocast) needs a CUDA GPU, and this run is on {device}; "
                            f"leave --amp out")
    return config, device


# --- the device: every accelerator-specific call goes through torch's device-generic API ---------------

DEVICE_CHOICES = "choose auto, cpu, cuda or cuda:N (or mps on Apple silicon)"


def pick_device(name: str) -> torch.device:
    """The torch device for --device: auto (torch's accelerator when there is one, else CPU), cpu, cuda,
    cuda:N or mps. An unknown or absent device is a one-line error before anything is loaded or written."""
    if name == "auto":
        return torch.accelerator.current_accelerator() if torch.accelerator.is_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise TrainingError(f"unknown device {name!r}; {DEVICE_CHOICES}") from None
    if device.type not in ("cpu", "cuda", "mps"):
        raise TrainingError(f"device {name!r} is not supported; {DEVICE_CHOICES}")
    # A machine of a multi-machine run may lack what the others have: each process says so itself.
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceMissingError(f"device {name!r} asked for, but this machine has no usable CUDA GPU; "
                                 f"use --device cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceMissingError(f"device {name!r} asked for, but this machine has no usable Apple MPS GPU; "
                                 f"use --device cpu")
    if device.type != "cpu" and (device.index or 0) >= torch.accelerator.device_count():
        raise DeviceMissingError(f"device {name!r}: there are only {torch.accelerator.device_count()} "
                                 f"{device.type.upper()} devices")
    return device


def process_device(device: torch.device) -> torch.device:
    """The device this process trains on: under torchrun a CUDA run puts each process on cuda:LOCAL_RANK."""
    if distributed.world_size() == 1 or device.type == "cpu":
        return device
    if device.type != "cuda":
        raise TrainingError(f"under torchrun the processes train on CPUs or CUDA GPUs, not on {device}")
    if device.index is not None:
        raise TrainingError(f"under torchrun each process trains on cuda:LOCAL_RANK; pass --device cuda (or auto), "
                            f"not {device}")
    if distributed.local_rank() >= torch.cuda.device_count():
        raise DeviceMissingError(f"torchrun started process {distributed.local_rank()} of this machine, but it has "
                                 f"only {torch.cuda.device_count()} CUDA devices; lower --nproc-per-node")
    return torch.device("cuda", distributed.local_rank())


def make_deterministic() -> None:
    """Deterministic CUDA kernels (--deterministic): cuBLAS's fixed workspace, no non-deterministic algorithms."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read when cuBLAS starts, so set it first
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True)
