"""One timed pass of the shipped training epoch on several processes, for bench.py's data-parallel lines.

    torchrun --standalone --nproc-per-node 2 benchmarks/ddp_pass.py DATA.pt RESULT.json

levers.torchrun_pass writes DATA.pt (the training images and labels, the recipe, the lever settings, the
class count) and starts this script. Every process joins torchrun's process group and builds its model as
`smallcnn train` does (smallcnn.distributed.join and wrap: DDP over gloo), trains one untimed warm-up pass
on a few batches, then one pass of smallcnn.core.train.train_epoch with distributed.sharded_step (each
process trains its share of every batch) timed between barriers; rank 0 writes the seconds and the pass's
mean training loss (summed over the processes by sharded_step) to RESULT.json.
"""

import sys
import time
from types import SimpleNamespace

import torch
from torch import distributed as dist

from levers import lever_pass
from smallcnn import distributed
from smallcnn.core.train import TrainConfig, train_epoch
from smallcnn.files import write_json

WARM_UP_IMAGES = 1024  # enough batches for oneDNN to pick its kernels and gloo to open its connections


def main(data_path, result_path):
    rank, world = distributed.join()
    data = torch.load(data_path, weights_only=True)
    settings, config, classes = data["settings"], TrainConfig(**data["config"]), data["classes"]
    torch.set_num_threads(settings["threads"])
    splits, images = SimpleNamespace(train_x=data["train_x"], train_y=data["train_y"]), len(data["train_y"])
    train_epoch(*lever_pass(settings, splits, config, classes, min(images, WARM_UP_IMAGES)), distributed.sharded_step)
    args = lever_pass(settings, splits, config, classes, images)
    dist.barrier()
    start = time.perf_counter()
    loss, _ = train_epoch(*args, distributed.sharded_step)  # each process its share, as under `smallcnn train`
    dist.barrier()
    seconds = time.perf_counter() - start
    if rank == 0:
        write_json(result_path, {"seconds": seconds, "loss": loss, "images": images, "processes": world,
                                 "threads": torch.get_num_threads()})
    del args  # the DDP wrapper goes before the process group (tests/ddp_worker.py says why)
    distributed.leave()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(*sys.argv[1:])
