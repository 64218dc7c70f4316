"""The assignment's small CNN and its named variants.

The spec model is, in this order: Conv(C->10) ReLU MaxPool(2), Conv(10->5) ReLU MaxPool(2),
Conv(5->16) ReLU MaxPool(2), Flatten, Linear -- all kernels 3x3. It has 2,741 parameters on
Fashion-MNIST (padding 1) and 27,171 on CIFAR-100. Every variant changes exactly one named thing;
nothing that changes the function is ever applied to the spec model silently.
"""

import math

import torch
from torch import nn

SPEC_WIDTHS = (10, 5, 16)


class ConvBlock(nn.Module):
    """Conv 3x3 -> (BatchNorm) -> ReLU -> MaxPool(2).

    The spec order is ReLU then max-pool. Max-pool commutes with ReLU (both are monotone), so the
    block pools first: the same function on 4x fewer elements for the ReLU, which is measurably faster.
    """

    def __init__(self, in_channels, out_channels, padding=1, batchnorm=False):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=padding, bias=not batchnorm)
        self.norm = nn.BatchNorm2d(out_channels) if batchnorm else nn.Identity()
        self.pool = nn.MaxPool2d(2)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.pool(self.norm(self.conv(x))))


class SmallCNN(nn.Module):
    """Three conv blocks and one linear classifier; the defaults are the assignment's spec model.

    in_channels, image_size and num_classes adapt it to a dataset (Part 2 changes only these).
    widths, batchnorm, dropout and global_pool are the knobs the named variants turn.
    """

    def __init__(self, in_channels=1, image_size=28, num_classes=10, padding=1,
                 widths=SPEC_WIDTHS, batchnorm=False, dropout=0.0, global_pool=False):
        super().__init__()
        channels = (in_channels, *widths)
        self.blocks = nn.Sequential(*[
            ConvBlock(channels[i], channels[i + 1], padding, batchnorm) for i in range(len(widths))
        ])
        self.global_pool = global_pool
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        side = 1 if global_pool else feature_side(image_size, padding, len(widths))
        self.classifier = nn.Linear(widths[-1] * side * side, num_classes)

    def forward(self, x):
        x = self.blocks(x)
        x = x.mean(dim=(2, 3)) if self.global_pool else x.flatten(1)
        return self.classifier(self.dropout(x))


def feature_side(image_size, padding, num_blocks):
    """Side length after num_blocks of conv 3x3 (with this padding) and max-pool 2 (floor)."""
    side = image_size
    for _ in range(num_blocks):
        side = math.floor((side + 2 * padding - 2) / 2)
    if side < 1:
        raise ValueError(f"image size {image_size} with padding {padding} shrinks to nothing")
    return side


# Each variant changes one thing against the spec model; "spec" is the assignment's network.
VARIANTS = {
    "spec": {},
    "padding0": {"padding": 0},
    "wide2": {"widths": (20, 10, 32)},
    "wide4": {"widths": (40, 20, 64)},
    "wide8": {"widths": (80, 40, 128)},
    "no-bottleneck": {"widths": (10, 16, 16)},
    "batchnorm": {"batchnorm": True},
    "dropout": {"dropout": 0.3},
    "gap": {"global_pool": True},
    # The recommended Part 2 model: still three conv blocks and one linear layer, but widths that grow
    # instead of a 5-channel bottleneck (what the spec network lacks most on 100 classes), and
    # BatchNorm, which lets a wider net train fast at a high learning rate. Sized from the measured
    # epochs per minute (benchmarks/cifar_throughput.md) so that a few dozen CIFAR-100 epochs fit
    # 20 minutes on 2 CPU cores.
    "best": {"widths": (32, 64, 128), "batchnorm": True},
}


def build_model(variant="spec", in_channels=1, image_size=28, num_classes=10):
    """The named variant, adapted to a dataset's shape."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose from: {', '.join(VARIANTS)}")
    return SmallCNN(in_channels, image_size, num_classes, **VARIANTS[variant])


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())


def layer_table(model, input_shape):
    """(name, output shape, parameters) for every leaf layer, found by running one dummy input."""
    rows = []

    def record(name):
        def hook(module, inputs, output):
            rows.append((name, tuple(output.shape[1:]), sum(p.numel() for p in module.parameters())))
        return hook

    handles = [m.register_forward_hook(record(f"{n} ({type(m).__name__})"))
               for n, m in model.named_modules() if not list(m.children()) and not isinstance(m, nn.Identity)]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, *input_shape))
    finally:
        for handle in handles:
            handle.remove()
    return rows
