"""What each dataset is: its names and aliases, its shape, its official checksums (torchvision's), the cache."""

import pytest
import torchvision

from smallcnn import datasets
from smallcnn.datasets import DataError

pytestmark = pytest.mark.usefixtures("isolated_cache")  # see conftest.py


def test_dataset_shape_gives_channels_side_and_classes_for_every_alias():
    assert datasets.dataset_shape("FMNIST") == (1, 28, 10)
    assert datasets.dataset_shape("cifar100") == (3, 32, 100)
    assert datasets.dataset_shape("CIFAR-10") == (3, 32, 10)


def test_official_checksums_are_torchvisions():
    assert datasets.DATASETS["cifar100"]["md5"]["train"] == "16019d7e3df5f24257cddd939b257f8d"
    assert datasets.DATASETS["cifar10"]["archives"] == {"cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a"}
    assert datasets.DATASETS["fashion-mnist"]["archives"] == dict(torchvision.datasets.FashionMNIST.resources)


def test_aliases_resolve_and_unknown_names_list_valid_ones():
    assert {datasets.canonical_name(n) for n in ("fmnist", "Fashion_MNIST", "fashion-mnist")} == {"fashion-mnist"}
    assert datasets.canonical_name("CIFAR-100") == "cifar100" and datasets.canonical_name("cifar-10") == "cifar10"
    with pytest.raises(DataError, match="valid names: fashion-mnist, cifar100, cifar10"):
        datasets.canonical_name("mnist")


def test_cache_dir_follows_xdg(tmp_path):
    assert datasets.default_cache_dir() == tmp_path / "xdg-cache" / "smallcnn"
