"""Data: a torchvision dataset as two tensors on the device, and batches sliced from them.

The datasets here are small enough to keep whole in memory (Fashion-MNIST's 60,000 training images
are 47 MB as bytes), so each split becomes one normalised float tensor and a training batch is a
slice of it: no per-image transform and no DataLoader worker, which is most of what makes training
fast on a CPU. The numbers are exactly those the dataset's own transform (ToTensor, then Normalize)
gives image by image.
"""

import math

import torch
from torch import Tensor, nn
from torch.utils.data import Subset, random_split
from torchvision import transforms

AUGMENTATIONS = ("none", "flip", "crop-flip")
EVAL_BATCH_SIZE = 256  # validation and test batches; on my CPU this was faster than 1,000


def to_tensors(dataset) -> tuple[Tensor, Tensor]:
    """(images N x C x H x W, labels) of a torchvision dataset, or of a part that random_split made
    of one: what its transform gives image by image, computed for all images at once."""
    indices = None
    while isinstance(dataset, Subset):  # random_split's parts keep the dataset and their indices
        indices = dataset.indices if indices is None else [dataset.indices[i] for i in indices]
        dataset = dataset.dataset
    images = torch.as_tensor(dataset.data)  # uint8: N x H x W (grey) or N x H x W x C (colour)
    images = images.unsqueeze(1) if images.ndim == 3 else images.permute(0, 3, 1, 2)
    labels = torch.as_tensor(dataset.targets, dtype=torch.long)
    if indices is not None:
        images, labels = images[indices], labels[indices]
    return normalise(images, dataset.transform), labels


def normalise(images: Tensor, transform: transforms.Compose) -> Tensor:
    """Bytes as ToTensor then Normalize make them: values in [0, 1], then (x - mean) / std."""
    steps = [type(step).__name__ for step in transform.transforms]
    if steps != ["ToTensor", "Normalize"]:
        raise ValueError(f"the transform must be ToTensor then Normalize, not {steps}; random "
                         f"crops and flips are the loader's augment option")
    normalize = transform.transforms[1]
    mean = torch.tensor(normalize.mean).view(1, -1, 1, 1)
    std = torch.tensor(normalize.std).view(1, -1, 1, 1)
    return (images.float() / 255 - mean) / std


def augment(images: Tensor, kind: str, generator: torch.Generator) -> Tensor:
    """Random crop (reflect-pad 4, cut back to size) and/or horizontal flip, one draw per image."""
    if kind not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {kind!r}; choose from {', '.join(AUGMENTATIONS)}")
    n, _, h, w = images.shape
    device = images.device
    if kind == "crop-flip":
        padded = nn.functional.pad(images, (4, 4, 4, 4), mode="reflect")
        # The draws come from the CPU generator; a GPU receives them without waiting.
        dy, dx = (torch.randint(0, 9, (n,), generator=generator).to(device, non_blocking=True)
                  for _ in range(2))
        # One gather for the whole batch: each image's rows and columns start at its own offset.
        rows = (dy[:, None] + torch.arange(h, device=device))[:, :, None]
        cols = (dx[:, None] + torch.arange(w, device=device))[:, None, :]
        batch = torch.arange(n, device=device)[:, None, None]
        images = padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)
    if kind in ("flip", "crop-flip"):
        flip = (torch.rand(n, generator=generator) < 0.5).to(device, non_blocking=True)
        images = torch.where(flip[:, None, None, None], images.flip(-1), images)
    return images


class TensorLoader:
    """Batches of (images, labels), as a DataLoader gives them, sliced from tensors on the device.

    With shuffle=True every pass visits the images in a new random order drawn from the loader's
    own seeded generator, which also draws the random crops and flips of `augment`.
    """

    def __init__(self, dataset, batch_size: int, device, shuffle: bool = False,
                 augment: str = "none", seed: int = 0):
        images, labels = to_tensors(dataset)
        # channels_last keeps each pixel's channels together: the CPU's fastest convolutions use it.
        self.images = images.contiguous(memory_format=torch.channels_last).to(device)
        self.labels = labels.to(device)
        self.batch_size, self.shuffle, self.augment = batch_size, shuffle, augment
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        """The number of batches in one pass."""
        return math.ceil(len(self.labels) / self.batch_size)

    def __iter__(self):
        n, size = len(self.labels), self.batch_size
        order = None
        if self.shuffle:  # a new order for every pass, from the loader's own generator
            order = torch.randperm(n, generator=self.generator).to(self.labels.device)
        for start in range(0, n, size):
            if order is None:
                images, labels = self.images[start:start + size], self.labels[start:start + size]
            else:
                batch = order[start:start + size]
                images, labels = self.images[batch], self.labels[batch]
            if self.augment != "none":
                images = augment(images, self.augment, self.generator)
            yield images, labels


def split_train_val(dataset, val_fraction: float, seed: int) -> list:
    """[training part, validation part] of a dataset by torch's random_split, seeded: the same split
    every run."""
    n_val = round(len(dataset) * val_fraction)
    generator = torch.Generator().manual_seed(seed)
    return random_split(dataset, [len(dataset) - n_val, n_val], generator=generator)
