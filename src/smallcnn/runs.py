"""A training run as the command-line tool does it: a run folder, checkpoints, resume, the run's files.

The core's `fit` calls back after every epoch; the callback here writes an atomic checkpoint holding
everything needed to continue (weights, optimizer, schedule, random-number states, history), prints
the epoch and warns when the model has collapsed. A run killed at any moment resumes to exactly the
history it would have had on the same machine, thread count and number of processes.

Under torchrun (see distributed.py) every process runs run_training; rank 0 alone owns the run folder:
it checks it, writes every file and prints the log, and shares what it read (config.json, the checkpoint)
with the others.
"""

import json
import math
import os
import platform
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import matplotlib.pyplot as plt
import numpy
import torch
from torch.utils.data import Subset

from smallcnn import datastore, distributed
from smallcnn.core.data import EVAL_BATCH_SIZE, TensorLoader, split_train_val
from smallcnn.core.metrics import class_rates, confusion_matrix, predict
from smallcnn.core.models import VARIANTS, build_model, count_parameters
from smallcnn.core.plots import plot_confusion, plot_losses
from smallcnn.core.train import RECIPES, TrainConfig, evaluate, make_training, new_history, run_epoch
from smallcnn.files import SmallCNNError, atomic_write, check_writable, csv_text, write_json, write_text

RUN_FILES = ("config.json", "history.csv", "metrics.json", "model.pt", "checkpoint.pt", "report.md",
             "loss_curves.png", "confusion_matrix.png")


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


class TrainingError(SmallCNNError):
    """A run that cannot start or cannot go on (bad settings, a diverged loss, a finished run)."""


def resolve(dataset: str, overrides: dict | None = None) -> tuple[RunConfig, torch.device]:
    """The run's settings, resolved once: the dataset's recipe with the command line's overrides, checked,
    and the torch.device to train on. Overrides that are None were not given: the recipe's value stays.

    overrides["device"] is --device (default auto). Everything downstream receives (config, device).
    """
    settings = {name: value for name, value in (overrides or {}).items() if value is not None}
    device_name = settings.pop("device", "auto")
    return settle(run_config(dataset, **settings), device_name)


def resolve_saved(out_dir) -> tuple[RunConfig, torch.device]:
    """The settings of the interrupted run in out_dir, as its config.json recorded them, for --resume.

    Rank 0 reads the file and shares it (other machines need not see the run folder).
    """
    out = Path(out_dir)
    saved = distributed.from_main(lambda: json.loads((check_resumable(out) / "config.json").read_text()))
    known = {f.name for f in fields(RunConfig)} - {"dataset"}
    config = run_config(saved["config"]["dataset"], **{k: v for k, v in saved["config"].items() if k in known})
    return settle(config, saved.get("device", "auto"))


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
        raise distributed.own(TrainingError(
            f"device {name!r} asked for, but this machine has no usable CUDA GPU; use --device cpu"))
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise distributed.own(TrainingError(
            f"device {name!r} asked for, but this machine has no usable Apple MPS GPU; use --device cpu"))
    if device.type != "cpu" and (device.index or 0) >= torch.accelerator.device_count():
        raise distributed.own(TrainingError(
            f"device {name!r}: there are only {torch.accelerator.device_count()} {device.type.upper()} devices"))
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
        raise distributed.own(TrainingError(
            f"torchrun started process {distributed.local_rank()} of this machine, but it has only "
            f"{torch.cuda.device_count()} CUDA devices; lower --nproc-per-node"))
    return torch.device("cuda", distributed.local_rank())


def device_rng_state(device: torch.device) -> torch.Tensor | None:
    """The random state of the GPU trained on (CUDA or MPS: dropout draws on it); None on the CPU."""
    return None if device.type == "cpu" else torch.get_device_module(device).get_rng_state(device)


def set_device_rng_state(device: torch.device, state: torch.Tensor | None) -> None:
    if state is not None and device.type != "cpu":
        torch.get_device_module(device).set_rng_state(state.cpu(), device)


def recorded_device(device: torch.device) -> str:
    """The device as config.json records it, and resume reads it: under torchrun its type (each process its own)."""
    return str(device) if distributed.world_size() == 1 else device.type


def make_deterministic() -> None:
    """Deterministic CUDA kernels (--deterministic): cuBLAS's fixed workspace, no non-deterministic algorithms."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read when cuBLAS starts, so set it first
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True)


def library_versions() -> dict:
    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__,
            "threads": torch.get_num_threads()}


# --- the run folder -----------------------------------------------------------------------------

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


# --- checkpoints: written after every epoch -----------------------------------------------------------

@dataclass
class Training:
    """Everything a run trains with: the model, its loaders and the optimizer's state, in one place."""
    model: torch.nn.Module
    train_loader: TensorLoader
    val_loader: TensorLoader
    test_loader: TensorLoader
    criterion: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    history: dict


def save_checkpoint(path, training: Training, device: torch.device) -> None:
    checkpoint = {
        "model": training.model.state_dict(), "optimizer": training.optimizer.state_dict(),
        "scheduler": training.scheduler.state_dict(), "generator": training.train_loader.generator.get_state(),
        "torch_rng": torch.get_rng_state(), "device_rng": device_rng_state(device),
        "world_size": distributed.world_size(), "history": training.history,
    }
    atomic_write(path, lambda f: torch.save(checkpoint, f))


def restore_checkpoint(checkpoint: dict, training: Training, device: torch.device) -> None:
    """Restore everything save_checkpoint saved, so that the run continues as if it had never stopped."""
    training.model.load_state_dict(checkpoint["model"])
    training.optimizer.load_state_dict(checkpoint["optimizer"])  # moves its state to the weights' device
    training.scheduler.load_state_dict(checkpoint["scheduler"])
    torch.set_rng_state(checkpoint["torch_rng"].cpu())
    # Every process draws the same random numbers (one seed), each on its own GPU: rank 0 saved its GPU's state.
    set_device_rng_state(device, checkpoint.get("device_rng"))
    training.train_loader.generator.set_state(checkpoint["generator"].cpu())
    training.history = checkpoint["history"]


def at_chance(loss: float, num_classes: int) -> bool:
    """Whether a loss sits at ln K, what predicting every class as equally likely gives (within 5 %)."""
    chance = math.log(num_classes)
    return abs(loss - chance) < 0.05 * chance


def collapse_warning(epoch: int, train_loss: float, num_classes: int, predicted_classes: int) -> str | None:
    """A one-line warning when the model predicts one class and its loss sits at ln K (chance), else None."""
    chance = math.log(num_classes)
    if predicted_classes == 1 and at_chance(train_loss, num_classes):
        return (f"warning: the model has collapsed in epoch {epoch}: it predicts one class for every "
                f"validation image and its loss stays at ln {num_classes} = {chance:.3f} (every ReLU is dead); "
                f"start again with a lower --lr or more epochs (a longer warm-up)")
    return None


def format_epoch(history: dict, epochs: int) -> str:
    """The last epoch of the history as one line, numbered "n/epochs"."""
    epoch = len(history["train_losses"])
    return (f"epoch {epoch:>3}/{epochs}: training loss {history['train_losses'][-1]:.4f}, accuracy "
            f"{history['train_accs'][-1]:.2%}; validation loss {history['val_losses'][-1]:.4f}, accuracy "
            f"{history['val_accs'][-1]:.2%} ({history['seconds'][-1]:.1f} s)")


# --- a whole run: data in, files out -----------------------------------------------------------------

@dataclass
class RunResult:
    config: RunConfig
    history: dict
    metrics: dict
    dataset: object             # the datastore.Dataset trained on
    out_dir: Path


def set_up(config: RunConfig, dataset, device: torch.device) -> Training:
    """The split, the loaders, the model (under torchrun inside DDP) and its optimizer, as the notebook makes them."""
    train_ds, val_ds = split_train_val(dataset.train, config.val_fraction, config.seed)
    if config.subset:
        train_ds = Subset(train_ds, range(min(config.subset, len(train_ds))))
    train_loader = TensorLoader(train_ds, config.batch_size, device, shuffle=True, augment=config.augment,
                                seed=config.seed)
    val_loader = TensorLoader(val_ds, EVAL_BATCH_SIZE, device)
    test_loader = TensorLoader(dataset.test, EVAL_BATCH_SIZE, device)
    check_shards(len(train_ds), config.batch_size, distributed.world_size())
    torch.manual_seed(config.seed)  # every process starts from the same weights and draws the same numbers
    channels, side = dataset.train_images.shape[1:3]
    model = build_model(config.variant, channels, side, len(dataset.classes))
    model = model.to(device, memory_format=torch.channels_last)
    if config.amp:
        model = distributed.use_amp(model)
    model = distributed.wrap(model, device)  # DDP under torchrun; the model itself in one process
    criterion, optimizer, scheduler = make_training(model, config, len(train_loader))
    return Training(model, distributed.shard(train_loader), val_loader, test_loader, criterion, optimizer,
                    scheduler, new_history())


def run_training(config: RunConfig, device: torch.device, out_dir, data_dir=None, overwrite: bool = False,
                 resume: bool = False, allow_unofficial: bool = False, log=print) -> RunResult:
    """Load data, train with a checkpoint after every epoch, test the last epoch's weights once, write the files.

    config and device come from `resolve` (or `resolve_saved` with resume=True, which continues from
    out_dir/checkpoint.pt; the finished run is identical to an uninterrupted one). Under torchrun every
    process calls this and returns the same result; rank 0 alone writes files and logs. The process group
    stays until distributed.leave() (the command line leaves it after printing any error).
    """
    rank, world = distributed.join()
    main = rank == 0
    log = log if main else (lambda line: None)
    out = distributed.from_main(lambda: prepare_out_dir(out_dir, overwrite, resume))
    if config.deterministic:
        make_deterministic()
    dataset = datastore.load_dataset(config.dataset, data_dir, allow_unofficial=allow_unofficial)
    training = set_up(config, dataset, device)
    if resume:
        checkpoint = (torch.load(out / "checkpoint.pt", map_location=device, weights_only=False) if world == 1 else
                      distributed.from_main(lambda: torch.load(out / "checkpoint.pt", map_location="cpu",
                                                               weights_only=False)))
        restore_checkpoint(checkpoint, training, device)
        log(f"resuming after epoch {len(training.history['train_losses'])} of {config.epochs}")
        before = checkpoint.get("world_size", 1)  # the processes that saved the checkpoint
        if before != world:
            log(f"note: this run trained on {before} processes so far and goes on with {world}: "
                f"its figures will match the uninterrupted run's to rounding, not bit for bit")
    elif main:
        write_json(out / "config.json", {"config": asdict(config), "device": recorded_device(device),
                                         "world_size": world, "dataset": dataset.identity,
                                         "data_location": dataset.location, "versions": library_versions()})
    log(f"{dataset.name}: {dataset.identity}; {len(training.train_loader.labels):,} train / "
        f"{len(training.val_loader.labels):,} validation / {len(training.test_loader.labels):,} test images; "
        f"model {config.variant} with {count_parameters(training.model):,} parameters on {device}"
        + (f" and {world - 1} more process{'es' * (world > 2)} (torchrun)" if world > 1 else ""))
    train_epochs(training, config, dataset, out, device, log)
    model = distributed.plain(training.model)  # the last epoch's weights are the ones tested (see POLICY)
    metrics = {**test_metrics(model, training, config, dataset, device), "world_size": world}
    if main:
        atomic_write(out / "model.pt", lambda f: torch.save(
            {"state_dict": {name: tensor.cpu() for name, tensor in model.state_dict().items()},  # loads anywhere
             "config": asdict(config), "normalisation": datastore.NORMALISATION[dataset.name],
             "classes": list(dataset.classes)}, f))
        write_history_csv(out / "history.csv", training.history)
        write_json(out / "metrics.json", metrics)
        (out / "checkpoint.pt").unlink()
    log(f"test accuracy {metrics['test_accuracy']:.2%} (the weights of the last epoch, validation accuracy "
        f"{metrics['val_accuracy']:.2%})")
    return RunResult(config, training.history, metrics, dataset, out)


def train_epochs(training: Training, config: RunConfig, dataset, out: Path, device: torch.device, log) -> None:
    """The epochs still to train, each followed by a checkpoint; a non-finite loss or Ctrl-C stops the run."""
    t = training
    resume_command = distributed.command(f"train --resume {out}")
    try:
        while len(t.history["train_losses"]) < config.epochs:
            run_epoch(t.history, t.model, t.train_loader, t.val_loader, t.criterion, t.optimizer, t.scheduler, device)
            distributed.sum_training_figures(t.history, t.train_loader)  # over all processes (torchrun)
            epoch, loss = len(t.history["train_losses"]), t.history["train_losses"][-1]
            if not math.isfinite(loss):
                kept = f"the last good checkpoint is kept in {out}" if epoch > 1 else "no epoch had finished"
                raise TrainingError(f"epoch {epoch}: the training loss became {loss}; lower the learning rate "
                                    f"(now {config.lr}) and start again; {kept}")
            if distributed.rank() == 0:
                save_checkpoint(out / "checkpoint.pt", t, device)
                log(format_epoch(t.history, config.epochs))
                warn_if_collapsed(t, epoch, len(dataset.classes), device)
    except KeyboardInterrupt:
        raise distributed.apart(TrainingError(f"interrupted; the last finished epoch is saved in "
                                              f"{out / 'checkpoint.pt'}: continue with `{resume_command}`")) from None
    except torch.distributed.DistError as exc:  # another process stopped (killed, interrupted, failed)
        raise distributed.own(TrainingError(
            f"process {distributed.rank()}: another process of the run stopped ({str(exc).splitlines()[0]}); the "
            f"last finished epoch is saved in {out / 'checkpoint.pt'}: continue with `{resume_command}`")) from None


def warn_if_collapsed(training: Training, epoch: int, num_classes: int, device: torch.device) -> None:
    """Print the collapse warning (to stderr) when the epoch's loss sits at chance and one class is predicted."""
    loss = training.history["train_losses"][-1]
    if not at_chance(loss, num_classes):
        return  # a healthy epoch: no need to count the classes it predicts (another validation pass)
    predicted = predict(distributed.plain(training.model), training.val_loader, device)[0].unique().numel()
    warning = collapse_warning(epoch, loss, num_classes, predicted)
    if warning:
        print(warning, file=sys.stderr)


def check_shards(n: int, batch_size: int, world: int) -> None:
    """Under torchrun every process needs at least one image of every batch, the last one included."""
    last = n % batch_size or batch_size
    if world > 1 and min(batch_size, last) < world:
        raise TrainingError(
            f"{world} processes cannot share a batch of {min(batch_size, last)} images (batch size {batch_size}, "
            f"{n:,} training images: the last batch holds {last}); choose another --batch-size or --subset")


# Which weights are tested, and why: written into every report.
POLICY = ("The weights tested are the last epoch's: the one-cycle schedule has annealed the learning rate to zero by "
          "then, and keeping the best-validation epoch instead did no better on held-out validation images over seeds "
          "and thread counts (benchmarks/policies.md).")


def best_epoch(history: dict) -> dict:
    """The epoch with the best validation accuracy, for information: {"best_epoch": n, "best_val_accuracy": a}."""
    accuracies = history["val_accs"]
    best = max(range(len(accuracies)), key=accuracies.__getitem__)
    return {"best_epoch": best + 1, "best_val_accuracy": accuracies[best]}


def test_metrics(model, training: Training, config: RunConfig, dataset, device: torch.device) -> dict:
    """The one test evaluation of a run, on the weights it ends with (the last epoch's)."""
    test_loss, test_accuracy = evaluate(model, training.test_loader, training.criterion, device)
    predictions, labels = predict(model, training.test_loader, device)
    matrix = confusion_matrix(labels, predictions, len(dataset.classes))
    history, train_seconds = training.history, sum(training.history["seconds"])
    return {
        "dataset": dataset.name, "dataset_identity": dataset.identity, "official_data": dataset.official,
        "variant": config.variant, "params": count_parameters(model), "device": str(device),
        "threads": torch.get_num_threads(),
        "test_accuracy": test_accuracy, "test_loss": test_loss,
        "val_accuracy": history["val_accs"][-1], "epochs": config.epochs, **best_epoch(history),
        "train_images": len(training.train_loader.labels), "val_images": len(training.val_loader.labels),
        "train_seconds": train_seconds,
        "images_per_second": len(history["seconds"]) * len(training.train_loader.labels) / train_seconds,
        "per_class_accuracy": dict(zip(dataset.classes, class_rates(matrix).diagonal().tolist())),
        "confusion_matrix": matrix.tolist(),
    }


HISTORY_COLUMNS = {"train_losses": "train_loss", "train_accs": "train_accuracy", "val_losses": "val_loss",
                   "val_accs": "val_accuracy", "seconds": "seconds"}


def write_history_csv(path, history: dict) -> None:
    """history.csv: one row per epoch."""
    rows = [{"epoch": epoch, **{column: history[key][epoch - 1] for key, column in HISTORY_COLUMNS.items()}}
            for epoch in range(1, len(history["train_losses"]) + 1)]
    write_text(path, csv_text(rows, ["epoch", *HISTORY_COLUMNS.values()]))


# --- the run's figures and report.md -----------------------------------------------------------------

def save_figure(fig, path) -> None:
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)


def loss_figure(history: dict, title: str) -> plt.Figure:
    """The notebook's loss plot of a run, as a figure of its own."""
    fig = plt.figure(figsize=(7, 4))
    plot_losses(history["train_losses"], history["val_losses"], title)
    plt.legend()
    plt.grid(True)
    return fig


def run_report_markdown(result: RunResult) -> str:
    """report.md: what was trained on what, how it went, and where the figures are."""
    m, c = result.metrics, result.config
    worst = sorted(m["per_class_accuracy"].items(), key=lambda item: item[1])[:3]
    return "\n".join([
        f"# {m['dataset']} - {m['variant']} model", "", f"Data: {m['dataset_identity']}.", "",
        "| metric | value |", "|---|---|",
        f"| test accuracy | {m['test_accuracy']:.2%} |",
        f"| validation accuracy | {m['val_accuracy']:.2%} (epoch {m['epochs']}, the weights tested) |",
        f"| best validation accuracy | {m['best_val_accuracy']:.2%} (epoch {m['best_epoch']} of {m['epochs']}) |",
        f"| parameters | {m['params']:,} |",
        f"| training time | {m['train_seconds']:.1f} s ({m['images_per_second']:,.0f} images/s, {m['device']}, "
        f"{m['threads']} threads) |", "",
        f"Recipe: SGD with peak lr {c.lr} (one-cycle schedule), momentum {c.momentum}"
        f"{' Nesterov' if c.nesterov else ''}, "
        f"weight decay {c.weight_decay}, batch {c.batch_size}, augmentation {c.augment}, "
        f"label smoothing {c.label_smoothing}, seed {c.seed}, {c.epochs} epochs.", "", POLICY, "",
        "Hardest classes: " + ", ".join(f"{name} ({acc:.1%})" for name, acc in worst) + ".", "",
        "![loss curves](loss_curves.png)", "", "![confusion matrix](confusion_matrix.png)", ""])


def write_run_report(result: RunResult) -> Path:
    """The figures and report.md of a finished run, beside its metrics in result.out_dir."""
    out, ds = result.out_dir, result.dataset
    save_figure(loss_figure(result.history, f"{ds.name}, {result.config.variant} model"), out / "loss_curves.png")
    save_figure(plot_confusion(result.metrics["confusion_matrix"], ds.classes), out / "confusion_matrix.png")
    write_text(out / "report.md", run_report_markdown(result))
    return out / "report.md"

