"""A torchrun worker for tests/test_distributed.py: `smallcnn` with a fault injected, or a BatchNorm check.

    torchrun ... tests/ddp_worker.py poison RANK STEP ARGS...  # rank RANK's loss turns NaN after STEP batches
    torchrun ... tests/ddp_worker.py batchnorm                  # CPUSyncBatchNorm == BatchNorm2d on the whole batch
"""

import os
import sys

import torch
from torch import distributed, nn

from faults import poison_after
from smallcnn.cli import main
from smallcnn.core.data import TensorLoader


def poison(rank, after, *args):
    if int(os.environ["RANK"]) == int(rank):
        TensorLoader.__iter__ = poison_after(int(after))
    return main(["train", *args])


def batchnorm():
    """Forward, gradients and running statistics of the synchronised BatchNorm against one process's."""
    from smallcnn.distributed import DDP, CPUSyncBatchNorm

    x, target = torch.randn(2, 16, 4, 5, 5, generator=torch.Generator().manual_seed(0))

    def net():
        torch.manual_seed(2)
        return nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4))

    whole = net()
    out = whole(x)
    ((out - target) ** 2).mean().backward()
    distributed.init_process_group("gloo")
    rank, world = distributed.get_rank(), distributed.get_world_size()
    shared = DDP(CPUSyncBatchNorm.convert(net()))
    mine = shared(x[rank::world])
    ((mine - target[rank::world]) ** 2).mean().backward()
    differences = [(mine - out[rank::world]).abs().max()]
    differences += [(a.grad - b.grad).abs().max() for a, b in zip(shared.module.parameters(), whole.parameters())]
    differences += [(a - b).abs().max() for a, b in zip(shared.module[1].buffers(), whole[1].buffers())]
    distributed.barrier()  # no process leaves while another still talks to it
    # The wrapper goes before the process group: freeing its reducer last would destroy the group inside the
    # reducer's destructor, which holds the GIL while it waits for gloo's threads, and one of those may need
    # the GIL to free the barrier's work -- a hang at exit (seen about 1 run in 20 here).
    del shared
    distributed.destroy_process_group()
    print(f"rank {rank}: largest difference {max(differences).item():.3g}")
    return 0 if max(differences) < 1e-5 else 1


if __name__ == "__main__":
    mode, *rest = sys.argv[1:]
    sys.exit(poison(*rest) if mode == "poison" else batchnorm())
