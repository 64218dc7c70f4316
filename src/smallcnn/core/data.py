"""Data: torchvision datasets to normalised in-memory tensors, and the random validation split.

These datasets are small enough to keep whole in memory (Fashion-MNIST's training images are 47 MB as
bytes), so each split becomes one float tensor and a training batch is a slice of it: no DataLoader
and no per-image Python, which is most of what makes training fast on a CPU.
"""

from types import SimpleNamespace

import torch
import torchvision
from torch import Tensor

# The torchvision dataset class of each dataset this project trains on.
DATASET_CLASSES = {
    "fashion-mnist": torchvision.datasets.FashionMNIST,
    "cifar10": torchvision.datasets.CIFAR10,
    "cifar100": torchvision.datasets.CIFAR100,
}


def load_split(dataset_class: type, root, train: bool, download: bool = False) -> tuple:
    """One split of a torchvision dataset as (uint8 images N x C x H x W, int64 labels, class names)."""
    dataset = dataset_class(root, train=train, download=download)
    images = torch.as_tensor(dataset.data)
    # Fashion-MNIST stores N x H x W (one grey channel), CIFAR N x H x W x C: both become N x C x H x W.
    images = images.unsqueeze(1) if images.ndim == 3 else images.permute(0, 3, 1, 2)
    return images.contiguous(), torch.as_tensor(dataset.targets, dtype=torch.long), list(dataset.classes)


def random_split(n: int, val_fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """(training indices, validation indices): a seeded random permutation of 0..n-1, cut in two."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val = round(n * val_fraction)
    return order[n_val:], order[:n_val]


def make_splits(train_images: Tensor, train_labels: Tensor, test_images: Tensor, test_labels: Tensor,
                val_fraction: float = 0.1, seed: int = 0, subset: int = 0, device="cpu") -> SimpleNamespace:
    """Split off a random validation set and normalise every split with the training split's statistics
    (so validation and test images stay unseen); subset > 0 keeps that many training images (quick runs).
    Returns the images (train_x, val_x, test_x) on `device`, their labels (train_y, ...), the mean and std."""
    train_idx, val_idx = random_split(len(train_labels), val_fraction, seed)
    if subset:
        train_idx = train_idx[:subset]
    train = train_images[train_idx].float() / 255
    mean = train.mean(dim=(0, 2, 3), keepdim=True)  # one value per colour channel
    std = train.std(dim=(0, 2, 3), keepdim=True)

    def normalise(images: Tensor) -> Tensor:
        """Bytes to floats with mean 0 and standard deviation 1 on the training split."""
        x = (images.float() / 255 - mean) / std
        # channels_last keeps each pixel's channels together, the layout the CPU's fastest convolutions use.
        return x.contiguous(memory_format=torch.channels_last).to(device)

    return SimpleNamespace(train_x=normalise(train_images[train_idx]), train_y=train_labels[train_idx].to(device),
                           val_x=normalise(train_images[val_idx]), val_y=train_labels[val_idx].to(device),
                           test_x=normalise(test_images), test_y=test_labels.to(device),
                           mean=mean.flatten().tolist(), std=std.flatten().tolist())
