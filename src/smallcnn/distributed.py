"""Training on several processes with PyTorch's own launcher, torchrun: DistributedDataParallel.

torchrun starts the processes and tells each its place through environment variables (RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR, MASTER_PORT); there is no launcher of our own. The training loop is the core's
`train_one_epoch`, fed by a `Shard` of the loader: each process trains on its share of every global batch
of the one seeded order, DDP averages the gradients, and the epoch's training figures are summed over all
processes, so that every process has the same history and takes the same non-finite decision. What lives
here is the plumbing around that loop:
the process group (gloo for CPU tensors, NCCL for CUDA ones), one GPU per process, the DDP wrapper with
plain state dicts, BatchNorm synchronised over the processes, bf16 autocast, rank 0's jobs, and the two
kinds of error that say how the processes end apart (PerProcessError, OutOfStepError; see cli.main).
"""

import os
from collections.abc import Callable

import torch
from torch import distributed, nn
from torch.nn.parallel import DistributedDataParallel

from smallcnn.files import SmallCNNError


def rank() -> int:
    """This process's place among all processes of the run (0 without torchrun)."""
    return int(os.environ.get("RANK", 0))


def world_size() -> int:
    """How many processes train together (1 without torchrun)."""
    return int(os.environ.get("WORLD_SIZE", 1))


def local_rank() -> int:
    """This process's place on its machine: under torchrun it trains on cuda:LOCAL_RANK."""
    return int(os.environ.get("LOCAL_RANK", 0))


def join() -> tuple[int, int]:
    """Join torchrun's process group (a no-op for one process); returns (rank, world size)."""
    if world_size() > 1 and not distributed.is_initialized():
        if torch.cuda.is_available() and local_rank() < torch.cuda.device_count():
            torch.cuda.set_device(local_rank())  # NCCL's communicator and every CUDA call use this GPU
        # One group, two backends: gloo for CPU tensors (and rank 0's shared messages), NCCL for CUDA ones.
        distributed.init_process_group("cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo")
    return rank(), world_size()


def leave(together: bool = True) -> None:
    """Leave the process group. together: every process got here alike (finished, or met the same error),
    so they wait for each other first: no process ends (and has torchrun stop the rest) before rank 0 has
    written its files and printed its last line."""
    if not distributed.is_initialized():
        return
    if together:
        try:
            distributed.barrier()
        except distributed.DistError:  # another process is already gone
            pass
    distributed.destroy_process_group()


class PerProcessError(SmallCNNError):
    """An error a process may meet alone (its machine lacks the GPU asked for, another process stopped):
    every process prints its own, and leaves without waiting for the others (see cli.main).

    Any other error every process raises alike (bad settings, a non-finite loss, Ctrl-C, rank 0's shared
    findings), and rank 0 alone prints it.
    """


class OutOfStepError(SmallCNNError):
    """An error every process meets, but each at its own point (Ctrl-C): they leave without waiting for
    each other, since one may still be inside a collective operation."""


def command(arguments: str) -> str:
    """The command that runs `smallcnn ARGUMENTS` as this run runs: with torchrun when it has several processes."""
    if world_size() == 1:
        return f"smallcnn {arguments}"
    if int(os.environ.get("LOCAL_WORLD_SIZE", 0)) == world_size():  # one machine
        return f"torchrun --standalone --nproc-per-node {world_size()} -m smallcnn {arguments}"
    return f"the same torchrun command on every machine, with `-m smallcnn {arguments}`"


def from_main[T](function: Callable[[], T]) -> T:
    """function() run by rank 0 alone, its result, or its one-line error, shared with every process.

    Rank 0 owns the run folder (other machines need not even see it): it checks the folder, reads
    config.json and the checkpoint, and the other processes receive what it found.
    """
    result = error = None
    if rank() == 0:
        try:
            result = function()
        except SmallCNNError as exc:
            error = exc
    if distributed.is_initialized():
        shared = [result, error]
        distributed.broadcast_object_list(shared, src=0)
        result, error = shared
    if error is not None:
        raise error
    return result


class DDP(DistributedDataParallel):
    """DistributedDataParallel whose state dicts are the plain model's (no "module." prefix).

    So checkpoints and model.pt load into a plain model, and a run started in one process
    can be resumed in several (and back).
    """

    def state_dict(self, *args, **kwargs):
        return self.module.state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict, strict=True, assign=False):
        return self.module.load_state_dict(state_dict, strict, assign)


class SumOverProcesses(torch.autograd.Function):
    """A sum over all processes that gradients flow back through (each process's gradient is summed too)."""

    @staticmethod
    def forward(ctx, tensor):
        total = tensor.clone()
        distributed.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx, grad):
        grad = grad.clone()
        distributed.all_reduce(grad)
        return grad


class CPUSyncBatchNorm(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are those of the whole global batch, on CPU processes (gloo).

    torch's nn.SyncBatchNorm runs on GPUs only. Here each process sums its images' values and squares per
    channel, one differentiable all-reduce adds them up (its backward sums the gradients the same way),
    and every process normalises with the global mean and variance, as one process would.
    """

    def forward(self, x):
        if not (self.training and distributed.is_initialized()):
            return super().forward(x)
        channels, count = x.shape[1], x.numel() // x.shape[1]
        local = torch.cat([x.sum(dim=(0, 2, 3)), (x * x).sum(dim=(0, 2, 3)), x.new_tensor([count])])
        total = SumOverProcesses.apply(local)
        n = total[-1]
        mean = total[:channels] / n
        var = (total[channels:2 * channels] / n - mean * mean).clamp(min=0)
        with torch.no_grad():  # running statistics as BatchNorm keeps them (the unbiased variance)
            self.num_batches_tracked += 1
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var * n / (n - 1).clamp(min=1), self.momentum)
        scale = self.weight * torch.rsqrt(var + self.eps)
        return x * scale.view(1, -1, 1, 1) + (self.bias - mean * scale).view(1, -1, 1, 1)

    @classmethod
    def convert(cls, module):
        """The module with every BatchNorm2d replaced by this class, parameters and buffers kept."""
        for name, child in module.named_children():
            if type(child) is nn.BatchNorm2d:
                replacement = cls(child.num_features, child.eps, child.momentum, child.affine,
                                  child.track_running_stats).to(child.weight.device)
                replacement.load_state_dict(child.state_dict())
                setattr(module, name, replacement)
            else:
                cls.convert(child)
        return module


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """The model as every process trains it: BatchNorm synchronised over the processes, inside DDP.

    One process: the model itself. DDP broadcasts rank 0's weights once, then averages the gradients
    of every backward pass over the processes.
    """
    if not distributed.is_initialized():
        return model
    if device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    else:
        model = CPUSyncBatchNorm.convert(model)
    return DDP(model, device_ids=[device.index] if device.type == "cuda" else None)


class Shard:
    """This process's share of every batch of a loader: images rank, rank + world, ... of each global batch.

    Every process walks the same seeded order (one generator, the same draws), so the shares never overlap
    and together make up the batch; DDP then averages the gradients, as one process would over the whole.
    """

    def __init__(self, loader):
        self.loader, self.generator, self.labels = loader, loader.generator, loader.labels

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for images, labels in self.loader:
            yield images[rank()::world_size()], labels[rank()::world_size()]

    def images_here(self) -> int:
        """How many images this process trains on in one pass."""
        n, batch = len(self.labels), self.loader.batch_size
        sizes = [batch] * (n // batch) + ([n % batch] if n % batch else [])
        return sum(len(range(rank(), size, world_size())) for size in sizes)


def shard(loader):
    """The loader as this process trains on it: its Shard under torchrun, the loader itself in one process."""
    return Shard(loader) if world_size() > 1 else loader


def sum_training_figures(history: dict, loader) -> None:
    """Make the last epoch's training loss and accuracy those of all processes together (under torchrun),
    so that every process has the same history and meets a non-finite loss in the same epoch."""
    if not isinstance(loader, Shard):
        return
    n = loader.images_here()
    totals = torch.tensor([history["train_losses"][-1] * n, history["train_accs"][-1] * n, n], dtype=torch.float64)
    distributed.all_reduce(totals)
    history["train_losses"][-1] = (totals[0] / totals[2]).item()
    history["train_accs"][-1] = (totals[1] / totals[2]).item()


def plain(model: nn.Module) -> nn.Module:
    """The model inside a DDP wrapper (or the model itself): for evaluation by one process alone."""
    return model.module if isinstance(model, DistributedDataParallel) else model


def use_amp(model: nn.Module) -> nn.Module:
    """Run the model's forward pass under bf16 autocast on CUDA (--amp); the logits come back in float32.

    The weights, the optimizer and the loss stay in float32: only the convolutions and the matrix
    products run in bfloat16, which needs no loss scaling (it has float32's exponent range).
    """
    forward = model.forward

    def autocast_forward(x):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            return forward(x).float()

    model.forward = autocast_forward
    return model
