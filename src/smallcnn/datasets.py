"""What each dataset is: its official files and checksums, its names, the starter's transform, and the two
records the data layer hands out (a `Source` found on disk, a loaded `Dataset`), each with its identity.
"""

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torchvision
from torchvision import transforms
from torchvision.datasets import VisionDataset

from smallcnn.files import SmallCNNError


class DataError(SmallCNNError):
    """A dataset is missing, unreadable, malformed, not official where it must be, or not downloadable."""


# The torchvision dataset class of each dataset this project trains on.
DATASET_CLASSES = {
    "fashion-mnist": torchvision.datasets.FashionMNIST,
    "cifar10": torchvision.datasets.CIFAR10,
    "cifar100": torchvision.datasets.CIFAR100,
}
# The starter notebook's transforms: ToTensor, then Normalize with these (mean, std) per channel. Fashion-MNIST's
# and CIFAR-100's are the starter's given cells (tests/test_data.py reads them there); CIFAR-10's, which the
# starter does not use, are the per-channel mean and standard deviation of its 50,000 training images.
NORMALISATION = {
    "fashion-mnist": ((0.5,), (0.5,)),
    "cifar100": ((0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
}


def starter_transform(name: str) -> transforms.Compose:
    """The transform the starter notebook gives each dataset it loads."""
    mean, std = NORMALISATION[name]
    return transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std)])


def _cifar_spec(title: str, cls, num_classes: int) -> dict:
    return {"title": title, "image_shape": (3, 32, 32), "sizes": (50_000, 10_000), "num_classes": num_classes,
            "md5": dict(cls.train_list + cls.test_list) | {cls.meta["filename"]: cls.meta["md5"]},
            "archives": {cls.filename: cls.tgz_md5}, "url": cls.url.rsplit("/", 1)[0] + "/", "system_dirs": ()}


# "md5": the official checksum of each file torchvision reads; "archives": what is downloaded, with its md5.
# CIFAR's come from torchvision's own classes. torchvision knows only Fashion-MNIST's .gz md5s, but
# Debian's dataset-fashion-mnist recompressed the files (other .gz bytes, same content), so identity is
# judged on the uncompressed IDX files, whose md5s were measured from that package (upstream git 55506a9).
DATASETS = {
    "fashion-mnist": {
        "title": "Fashion-MNIST", "image_shape": (1, 28, 28), "sizes": (60_000, 10_000), "num_classes": 10,
        "md5": {"train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
                "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
                "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
                "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965"},
        "archives": dict(DATASET_CLASSES["fashion-mnist"].resources),
        "url": DATASET_CLASSES["fashion-mnist"].mirrors[0],
        "system_dirs": ("/usr/share/datasets/fashion-mnist",),
    },
    "cifar100": _cifar_spec("CIFAR-100", DATASET_CLASSES["cifar100"], 100),
    "cifar10": _cifar_spec("CIFAR-10", DATASET_CLASSES["cifar10"], 10),
}
FASHION_FILES = tuple(DATASETS["fashion-mnist"]["md5"])

ALIASES = {
    "fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist", "fmnist": "fashion-mnist",
    "cifar-100": "cifar100", "cifar_100": "cifar100", "cifar-10": "cifar10", "cifar_10": "cifar10",
}


def canonical_name(name: str) -> str:
    key = str(name).strip().lower()
    key = ALIASES.get(key, key)
    if key not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}")
    return key


def dataset_shape(name: str) -> tuple[int, int, int]:
    """(channels, side, classes): what a model for this dataset takes in and predicts."""
    spec = DATASETS[canonical_name(name)]
    channels, side, _ = spec["image_shape"]
    return channels, side, spec["num_classes"]


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "smallcnn"


def fix_hint(name: str) -> str:
    """What every data error ends with: how to get a good copy."""
    return f"delete it and re-download with `smallcnn data fetch {name}`, or point --data-dir at a good copy"


# --- the records -------------------------------------------------------------------------------------------

class _Identified:
    @property
    def identity(self) -> str:
        title = DATASETS[self.name]["title"]
        if self.official:
            return f"official {title} files, checksums verified"
        return f"NOT the official {title}: checksums differ (e.g. generated test data)"


@dataclass(frozen=True)
class Source(_Identified):
    """Where a dataset is, as torchvision wants it: `dataset_class(root, train=...)` reads it."""
    name: str
    root: Path
    dataset_class: type
    official: bool
    location: str  # where the files were found (for a prepared copy, its origin)

    @property
    def files_dir(self) -> Path:
        """The folder whose files torchvision reads."""
        if self.name == "fashion-mnist":
            return Path(self.root) / "FashionMNIST" / "raw"
        return Path(self.root) / self.dataset_class.base_folder


@dataclass(frozen=True, eq=False)
class Dataset(_Identified):
    """Both splits of a dataset as the starter loads them (torchvision datasets with its transform), checked."""
    name: str
    train: VisionDataset = field(repr=False)  # the starter's train_full
    test: VisionDataset = field(repr=False)   # the starter's test_ds
    location: str
    official: bool

    @property
    def classes(self) -> tuple:
        return tuple(self.train.classes)

    @property
    def train_images(self) -> torch.Tensor:
        """The training images as stored: uint8, N x C x H x W."""
        return as_images(self.train.data)

    @property
    def test_images(self) -> torch.Tensor:
        return as_images(self.test.data)

    @property
    def train_labels(self) -> torch.Tensor:
        return torch.as_tensor(self.train.targets, dtype=torch.long)

    @property
    def test_labels(self) -> torch.Tensor:
        return torch.as_tensor(self.test.targets, dtype=torch.long)


def as_images(stored) -> torch.Tensor:
    """torchvision's stored images (N x H x W grey, N x H x W x C colour) as N x C x H x W, without a copy."""
    images = torch.as_tensor(stored)
    return images.unsqueeze(1) if images.ndim == 3 else images.permute(0, 3, 1, 2)
