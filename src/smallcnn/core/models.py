"""The model: the assignment's small CNN and its named one-change variants.

The spec model is, left to right: Conv(C->10) ReLU MaxPool(2), Conv(10->5) ReLU MaxPool(2),
Conv(5->16) ReLU MaxPool(2), Linear -- every kernel 3x3. With padding 1 it has 2,741 parameters on
Fashion-MNIST and 27,171 on CIFAR-100. Every variant changes one named thing (or, for "wide-bn", a
documented few), so nothing that changes the function is ever applied to the spec model silently.
"""

import torch
from torch import nn

SPEC_WIDTHS = (10, 5, 16)  # the output channels of Conv_10, Conv_5 and Conv_16


class SmallCNN(nn.Module):
    """Three conv blocks (Conv 3x3 -> [BatchNorm] -> ReLU -> MaxPool 2) and one Linear classifier.

    The defaults are the assignment's spec model. in_channels, image_size and num_classes adapt it to
    a dataset (Part 2 changes only these); widths, batchnorm, dropout and global_pool are the knobs
    the named variants turn.
    """

    def __init__(self, in_channels: int = 1, image_size: int = 28, num_classes: int = 10,
                 widths: tuple[int, ...] = SPEC_WIDTHS, padding: int = 1, batchnorm: bool = False,
                 dropout: float = 0.0, global_pool: bool = False):
        super().__init__()
        layers, channels, side = [], in_channels, image_size
        for width in widths:
            layers.append(nn.Conv2d(channels, width, kernel_size=3, padding=padding, bias=not batchnorm))
            if batchnorm:  # BatchNorm has its own shift, so the convolution needs no bias
                layers.append(nn.BatchNorm2d(width))
            layers += [nn.ReLU(), nn.MaxPool2d(2)]
            # A 3x3 convolution changes the side by 2 * padding - 2; the pooling halves it (rounding down).
            channels, side = width, (side + 2 * padding - 2) // 2
        if global_pool:  # average each feature map to one number instead of keeping its positions
            layers.append(nn.AdaptiveAvgPool2d(1))
            side = 1
        layers.append(nn.Flatten())
        if dropout:
            layers.append(nn.Dropout(dropout))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(channels * side * side, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (one score per class) for a batch of images."""
        return self.classifier(self.features(x))


# Each variant changes one thing against the spec model ("spec": the assignment's network).
VARIANTS = {
    "spec": {},
    "wide2": {"widths": (20, 10, 32)},
    "wide4": {"widths": (40, 20, 64)},
    "wide8": {"widths": (80, 40, 128)},
    "no-bottleneck": {"widths": (10, 16, 16)},
    "batchnorm": {"batchnorm": True},
    "dropout": {"dropout": 0.3},
    "gap": {"global_pool": True},
    # Several changes at once, still three conv blocks and one Linear layer: widths that grow instead of a
    # 5-channel bottleneck, and BatchNorm. Whether it helps is for the study's validation results to say.
    "wide-bn": {"widths": (32, 64, 128), "batchnorm": True},
}


def build_model(variant: str = "spec", in_channels: int = 1, image_size: int = 28, num_classes: int = 10) -> SmallCNN:
    """The named variant, adapted to a dataset's image shape and number of classes."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose from: {', '.join(VARIANTS)}")
    return SmallCNN(in_channels, image_size, num_classes, **VARIANTS[variant])


def count_parameters(model: nn.Module) -> int:
    """The number of trainable numbers in the model."""
    return sum(p.numel() for p in model.parameters())
