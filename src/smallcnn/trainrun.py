"""`smallcnn train`: a training run as the command-line tool does it, from data in to files out.

The epochs are the core's `run_epoch`; around them, the run checks its folder before any data is loaded,
writes a checkpoint after every epoch (runfolder.py), prints the epoch, warns when the model has
collapsed, stops at a non-finite loss or Ctrl-C with a one-line error saying how to continue, and tests
the last epoch's weights once at the end.

Under torchrun (see distributed.py) every process runs run_training; rank 0 alone writes files and
prints the log.
"""

import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.utils.data import Subset

from smallcnn import datastore, distributed
from smallcnn.core.data import EVAL_BATCH_SIZE, TensorLoader, split_train_val
from smallcnn.core.metrics import class_rates, confusion_matrix, predict
from smallcnn.core.models import build_model, count_parameters
from smallcnn.core.train import evaluate, make_training, new_history, run_epoch
from smallcnn.datasets import NORMALISATION
from smallcnn.files import atomic_write, write_json
from smallcnn.report import write_history_csv
from smallcnn.runfolder import prepare_out_dir, read_checkpoint, restore_checkpoint, save_checkpoint, write_config
from smallcnn.settings import RunConfig, TrainingError, make_deterministic


class RunInterruptedError(TrainingError, distributed.OutOfStepError):
    """Ctrl-C: under torchrun every process meets it, each at its own point."""


class PartnerStoppedError(TrainingError, distributed.PerProcessError):
    """Another process of the run stopped (killed, interrupted, failed): each process finds so for itself."""


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


@dataclass
class RunResult:
    config: RunConfig
    history: dict
    metrics: dict
    dataset: object             # the datasets.Dataset trained on
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


def check_shards(n: int, batch_size: int, world: int) -> None:
    """Under torchrun every process needs at least one image of every batch, the last one included."""
    last = n % batch_size or batch_size
    if world > 1 and min(batch_size, last) < world:
        raise TrainingError(
            f"{world} processes cannot share a batch of {min(batch_size, last)} images (batch size {batch_size}, "
            f"{n:,} training images: the last batch holds {last}); choose another --batch-size or --subset")


def run_training(config: RunConfig, device: torch.device, out_dir, data_dir=None, overwrite: bool = False,
                 resume: bool = False, allow_unofficial: bool = False, log=print) -> RunResult:
    """Load data, train with a checkpoint after every epoch, test the last epoch's weights once, write the files.

    config and device come from settings.resolve (or runfolder.resolve_saved with resume=True, which continues
    from out_dir/checkpoint.pt; the finished run is identical to an uninterrupted one). Under torchrun every
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
        resume_training(training, read_checkpoint(out, device), config, device, log)
    elif main:
        write_config(out, config, device, dataset)
    log(f"{dataset.name}: {dataset.identity}; {len(training.train_loader.labels):,} train / "
        f"{len(training.val_loader.labels):,} validation / {len(training.test_loader.labels):,} test images; "
        f"model {config.variant} with {count_parameters(training.model):,} parameters on {device}"
        + (f" and {world - 1} more process{'es' * (world > 2)} (torchrun)" if world > 1 else ""))
    train_epochs(training, config, dataset, out, device, log)
    model = distributed.plain(training.model)  # the last epoch's weights are the ones tested (see report.POLICY)
    metrics = {**test_metrics(model, training, config, dataset, device), "world_size": world}
    if main:
        write_results(out, model, training.history, metrics, config, dataset)
    log(f"test accuracy {metrics['test_accuracy']:.2%} (the weights of the last epoch, validation accuracy "
        f"{metrics['val_accuracy']:.2%})")
    return RunResult(config, training.history, metrics, dataset, out)


def resume_training(training: Training, checkpoint: dict, config: RunConfig, device: torch.device, log) -> None:
    """Continue from the checkpoint, saying where from (and whether the number of processes changed)."""
    restore_checkpoint(checkpoint, training, device)
    log(f"resuming after epoch {len(training.history['train_losses'])} of {config.epochs}")
    before = checkpoint.get("world_size", 1)  # the processes that saved the checkpoint
    if before != distributed.world_size():
        log(f"note: this run trained on {before} processes so far and goes on with {distributed.world_size()}: "
            f"its figures will match the uninterrupted run's to rounding, not bit for bit")


def write_results(out: Path, model, history: dict, metrics: dict, config: RunConfig, dataset) -> None:
    """model.pt, history.csv and metrics.json of a finished run; its checkpoint is no longer needed."""
    atomic_write(out / "model.pt", lambda f: torch.save(
        {"state_dict": {name: tensor.cpu() for name, tensor in model.state_dict().items()},  # loads anywhere
         "config": asdict(config), "normalisation": NORMALISATION[dataset.name],
         "classes": list(dataset.classes)}, f))
    write_history_csv(out / "history.csv", history)
    write_json(out / "metrics.json", metrics)
    (out / "checkpoint.pt").unlink()


def train_epochs(training: Training, config: RunConfig, dataset, out: Path, device: torch.device, log) -> None:
    """The epochs still to train, each followed by a checkpoint; a non-finite loss or Ctrl-C stops the run."""
    t = training
    resume_command = distributed.command(f"train --resume {out}")
    try:
        while len(t.history["train_losses"]) < config.epochs:
            run_epoch(t.history, t.model, t.train_loader, t.val_loader, t.criterion, t.optimizer, t.scheduler, device,
                      config.test_flips)
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
        raise RunInterruptedError(f"interrupted; the last finished epoch is saved in {out / 'checkpoint.pt'}: "
                                  f"continue with `{resume_command}`") from None
    except torch.distributed.DistError as exc:  # another process stopped (killed, interrupted, failed)
        raise PartnerStoppedError(
            f"process {distributed.rank()}: another process of the run stopped ({str(exc).splitlines()[0]}); the "
            f"last finished epoch is saved in {out / 'checkpoint.pt'}: continue with `{resume_command}`") from None


def format_epoch(history: dict, epochs: int) -> str:
    """The last epoch of the history as one line, numbered "n/epochs"."""
    epoch = len(history["train_losses"])
    return (f"epoch {epoch:>3}/{epochs}: training loss {history['train_losses'][-1]:.4f}, accuracy "
            f"{history['train_accs'][-1]:.2%}; validation loss {history['val_losses'][-1]:.4f}, accuracy "
            f"{history['val_accs'][-1]:.2%} ({history['seconds'][-1]:.1f} s)")


# --- collapse: one class predicted, the loss at chance -----------------------------------------------------

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


def warn_if_collapsed(training: Training, epoch: int, num_classes: int, device: torch.device) -> None:
    """Print the collapse warning (to stderr) when the epoch's loss sits at chance and one class is predicted."""
    loss = training.history["train_losses"][-1]
    if not at_chance(loss, num_classes):
        return  # a healthy epoch: no need to count the classes it predicts (another validation pass)
    predicted = predict(distributed.plain(training.model), training.val_loader, device)[0].unique().numel()
    warning = collapse_warning(epoch, loss, num_classes, predicted)
    if warning:
        print(warning, file=sys.stderr)


# --- the one test evaluation ---------------------------------------------------------------------------------

def best_epoch(history: dict) -> dict:
    """The epoch with the best validation accuracy, for information: {"best_epoch": n, "best_val_accuracy": a}."""
    accuracies = history["val_accs"]
    best = max(range(len(accuracies)), key=accuracies.__getitem__)
    return {"best_epoch": best + 1, "best_val_accuracy": accuracies[best]}


def test_metrics(model, training: Training, config: RunConfig, dataset, device: torch.device) -> dict:
    """The one test evaluation of a run, on the weights it ends with (the last epoch's)."""
    test_loss, test_accuracy = evaluate(model, training.test_loader, training.criterion, device, config.test_flips)
    predictions, labels = predict(model, training.test_loader, device, config.test_flips)
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
