"""Small generated datasets in the exact official on-disk formats, for tests and quick training runs.

The CIFAR data is learnable: every class has its own colour and stripe pattern, plus noise, so a tiny CNN
can get well above chance on it. None of it is official, so the loader marks it `official=False`, and
loads the generated CIFAR pickles only when asked to (`allow_unofficial=True`).
"""

import gzip
import os
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np


def class_templates(num_classes: int, size: int = 32, channels: int = 3) -> np.ndarray:
    """One fixed float image per class (seed-independent, so train and test share them)."""
    rng = np.random.default_rng(12345)
    yy, xx = np.mgrid[0:size, 0:size] / size
    templates = np.empty((num_classes, channels, size, size))
    for c in range(num_classes):
        colour = rng.uniform(40, 215, size=(channels, 1, 1))
        angle, freq = rng.uniform(0, np.pi), rng.uniform(1, 4)
        stripes = np.sin(2 * np.pi * freq * (xx * np.cos(angle) + yy * np.sin(angle)))
        templates[c] = colour + 35 * stripes * rng.choice([-1, 1], size=(channels, 1, 1))
    return templates


def make_images(labels: np.ndarray, num_classes: int, seed: int, size: int = 32, channels: int = 3,
                noise: float = 25.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    images = class_templates(num_classes, size, channels)[labels]
    images += rng.normal(0, noise, size=images.shape)
    return np.clip(images, 0, 255).astype(np.uint8)


def balanced_labels(n: int, num_classes: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).permutation(np.arange(n) % num_classes)


def write_pickle(path: Path, obj) -> None:
    # Protocol 2 is what the official (Python 2 era) CIFAR pickles use.
    path.write_bytes(pickle.dumps(obj, protocol=2))


def _cifar_batch(n: int, num_classes: int, label_key: str, seed: int) -> dict:
    labels = balanced_labels(n, num_classes, seed)
    images = make_images(labels, num_classes, seed + 1)
    batch = {"batch_label": "generated", "filenames": [f"img_{i}.png" for i in range(n)],
             label_key: labels.tolist(), "data": images.reshape(n, 3072)}
    if label_key == "fine_labels":
        batch["coarse_labels"] = (labels // 5).tolist()
    return batch


def write_cifar100(directory, n_train: int = 500, n_test: int = 200, seed: int = 0) -> Path:
    """`directory/cifar-100-python/{train,test,meta}` as in the official tarball; returns that folder."""
    folder = Path(directory) / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    write_pickle(folder / "train", _cifar_batch(n_train, 100, "fine_labels", seed))
    write_pickle(folder / "test", _cifar_batch(n_test, 100, "fine_labels", seed + 100))
    write_pickle(folder / "meta", {"fine_label_names": [f"class_{i:02d}" for i in range(100)],
                                   "coarse_label_names": [f"super_{i:02d}" for i in range(20)]})
    return folder


def write_cifar10(directory, n_per_batch: int = 50, n_test: int = 50, seed: int = 0) -> Path:
    """`directory/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}`; returns that folder."""
    folder = Path(directory) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, 6):
        write_pickle(folder / f"data_batch_{i}", _cifar_batch(n_per_batch, 10, "labels", seed + i))
    write_pickle(folder / "test_batch", _cifar_batch(n_test, 10, "labels", seed + 100))
    write_pickle(folder / "batches.meta", {"label_names": [f"class_{i}" for i in range(10)],
                                           "num_cases_per_batch": n_per_batch, "num_vis": 3072})
    return folder


def make_tarball(folder: Path, dest: Path) -> Path:
    """A .tar.gz holding `folder` under its own name, like the official CIFAR archives."""
    with tarfile.open(dest, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return dest


def idx_bytes(array: np.ndarray) -> bytes:
    magic = 0x00000803 if array.ndim == 3 else 0x00000801
    return struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes()


def write_fashion(directory, n_train: int = 100, n_test: int = 50, seed: int = 0, gz: bool = True) -> Path:
    """Fashion-MNIST-format IDX files (flat) with learnable 28x28 images; returns the directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for prefix, n, split_seed in (("train", n_train, seed), ("t10k", n_test, seed + 100)):
        labels = balanced_labels(n, 10, split_seed)
        images = make_images(labels, 10, split_seed + 1, size=28, channels=1)[:, 0]
        for kind, array in (("images-idx3-ubyte", images), ("labels-idx1-ubyte", labels)):
            data = idx_bytes(array)
            name = f"{prefix}-{kind}"
            if gz:
                (directory / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (directory / name).write_bytes(data)
    return directory


def pickle_that_runs(marker: Path) -> bytes:
    """A pickle whose loading would create the directory `marker` through __reduce__ (for safety tests)."""

    class Exploit:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    return pickle.dumps({"data": Exploit(), "fine_labels": []}, protocol=2)


__all__ = ["write_cifar100", "write_cifar10", "write_fashion", "make_tarball", "idx_bytes",
           "write_pickle", "pickle_that_runs", "class_templates", "make_images", "balanced_labels"]
