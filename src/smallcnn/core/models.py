"""The model: the assignment's small CNN and its named one-change variants.

The spec model is, left to right: Conv(C->10) ReLU MaxPool(2), Conv(10->5) ReLU MaxPool(2),
Conv(5->16) ReLU MaxPool(2), Linear -- every kernel 3x3. With padding 1 it has 2,741 parameters on
Fashion-MNIST and 27,171 on CIFAR-100. Every variant changes one named thing (or, for "wide-bn", a
documented few), so nothing that changes the function is ever applied to the spec model silently.
SmallCNN keeps the starter notebook's comments ("# CODE HERE" and the rest) where the starter has
them: the notebook's model cell is this source, copied verbatim.
"""

from torch import Tensor, nn


# Define the network architecture
class SmallCNN(nn.Module):
    """The assignment's network, left to right: three blocks of Conv 3x3 -> ReLU -> MaxPool 2, then
    Linear. The defaults fit Fashion-MNIST; adapted to CIFAR-100, only in_channels, image_size and
    num_classes change.
    """

    def __init__(self, in_channels: int = 1, image_size: int = 28, num_classes: int = 10):
        # CODE HERE
        # Define the convolutional layers, pooling layers...
        # The assignment's layers in its left-to-right order: Conv_10, Conv_5 and Conv_16 (3x3
        # kernels), each followed by ReLU and max pooling with a 2x2 filter. Padding 1 keeps the
        # image size through each convolution; each pooling step halves it.
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 10, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(10, 5, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(5, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        side = image_size // 2 // 2 // 2  # 28 -> 14 -> 7 -> 3 (32 -> 16 -> 8 -> 4 on CIFAR-100)
        self.fc = nn.Linear(16 * side * side, num_classes)  # FC: one logit per class

    def forward(self, x: Tensor) -> Tensor:
        # CODE HERE
        # Implement the forward pass. Return the final output.
        out = self.fc(self.features(x).flatten(1))
        return out


class StudyCNN(nn.Module):
    """Part 2's variants of SmallCNN (whose layers the defaults give): the widths of the three
    convolutions, BatchNorm after each, dropout before the Linear layer, or each final feature map
    averaged to one number.
    """

    def __init__(self, in_channels: int = 1, image_size: int = 28, num_classes: int = 10,
                 widths: tuple = (10, 5, 16), batchnorm: bool = False, dropout: float = 0.0,
                 global_pool: bool = False):
        super().__init__()
        layers, channels, side = [], in_channels, image_size
        for width in widths:
            layers.append(nn.Conv2d(channels, width, kernel_size=3, padding=1, bias=not batchnorm))
            if batchnorm:  # BatchNorm has its own shift, so the convolution needs no bias
                layers.append(nn.BatchNorm2d(width))
            layers += [nn.ReLU(), nn.MaxPool2d(2)]
            channels, side = width, side // 2  # as in SmallCNN, only the pooling changes the side
        if global_pool:
            layers.append(nn.AdaptiveAvgPool2d(1))
            side = 1
        if dropout:
            layers.append(nn.Dropout(dropout))
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(channels * side * side, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Logits (one score per class) for a batch of images."""
        return self.fc(self.features(x).flatten(1))


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
    # Several changes at once: widths that grow instead of a 5-channel bottleneck, and BatchNorm.
    "wide-bn": {"widths": (32, 64, 128), "batchnorm": True},
}


def build_model(variant: str = "spec", in_channels: int = 1, image_size: int = 28,
                num_classes: int = 10) -> nn.Module:
    """The named variant, adapted to a dataset's image shape and number of classes."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose from: {', '.join(VARIANTS)}")
    if variant == "spec":
        return SmallCNN(in_channels, image_size, num_classes)
    return StudyCNN(in_channels, image_size, num_classes, **VARIANTS[variant])


def count_parameters(model: nn.Module) -> int:
    """The number of trainable numbers in the model."""
    return sum(p.numel() for p in model.parameters())
