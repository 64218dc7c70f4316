"""Batched data augmentation on tensors: whole batches at once, no per-sample Python.

Every random draw comes from an explicit torch.Generator, so a seed (and a saved generator state)
reproduces the exact same augmented batches -- which is what makes resumed runs identical.
"""

import torch
import torch.nn.functional as F

AUGMENTATIONS = ("none", "flip", "crop-flip")


def random_flip(images, generator):
    """Mirror a random half of the batch left-right (labels are unchanged by a horizontal flip)."""
    flip = torch.rand(images.shape[0], generator=generator) < 0.5
    flip = flip.to(images.device)
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


def random_crop(images, padding, generator):
    """Reflect-pad by `padding` pixels, then cut one random same-size window per image.

    The windows are gathered with one advanced-indexing call: rows and columns are per-image
    offset ranges, so the whole batch is cropped in a single tensor operation.
    """
    n, _, h, w = images.shape
    padded = F.pad(images, (padding,) * 4, mode="reflect")
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(images.device)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(images.device)
    rows = (dy[:, None] + torch.arange(h, device=images.device))[:, :, None]
    cols = (dx[:, None] + torch.arange(w, device=images.device))[:, None, :]
    batch = torch.arange(n, device=images.device)[:, None, None]
    # Indexing (N,1,1) x (N,H,1) x (N,1,W) on dims 0,2,3 yields (N,H,W,C); move channels back.
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def augment_batch(images, kind, generator, padding=4):
    """Apply the named augmentation recipe to a batch of normalised images."""
    if kind == "none":
        return images
    if kind == "crop-flip":
        images = random_crop(images, padding, generator)
    if kind in ("flip", "crop-flip"):
        return random_flip(images, generator)
    raise ValueError(f"unknown augmentation {kind!r}; choose from: {', '.join(AUGMENTATIONS)}")
