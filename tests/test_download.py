"""Downloading, from a mirror served on 127.0.0.1: verified files installed in torchvision's layout, and
every failure (bad checksum, unofficial files, HTTP 404, no connection, an unsafe tarball) a one-line
DataError that leaves nothing behind.
"""

import gzip
import hashlib
import tarfile

import pytest

import fakedata
from datahelpers import md5_of, prepared_files, pretend_official, refused_url
from smallcnn import datasets, datastore
from smallcnn.datasets import DataError

pytestmark = pytest.mark.usefixtures("isolated_cache")  # see conftest.py


def test_download_installs_verified_tarball(tmp_path, served_cifar100, monkeypatch):
    folder, url = served_cifar100
    pretend_official(monkeypatch, "cifar100", folder)
    dest = tmp_path / "dest"
    source = datastore.fetch("cifar100", dest, base_url=url)
    assert source.official and source.root == dest and source.location == str(dest / "cifar-100-python")
    assert sorted(p.name for p in dest.iterdir()) == ["cifar-100-python"]  # no archive, no temporary folder
    assert sorted(p.name for p in (dest / "cifar-100-python").iterdir()) == ["meta", "test", "train"]
    assert len(datastore.load_dataset("cifar100", dest).train_labels) == 200


def test_load_dataset_downloads_when_asked(tmp_path, served_cifar100, monkeypatch):
    folder, url = served_cifar100
    pretend_official(monkeypatch, "cifar100", folder)
    with pytest.raises(DataError, match="not found"):
        datastore.load_dataset("cifar100", tmp_path / "dest", base_url=url)
    ds = datastore.load_dataset("cifar100", tmp_path / "dest", download=True, base_url=url)
    assert ds.official and len(ds.test_labels) == 100


def test_download_with_bad_checksum_leaves_nothing(tmp_path, http_root):
    mirror, url = http_root
    fakedata.make_tarball(fakedata.write_cifar100(tmp_path / "src", 100, 100), mirror / "cifar-100-python.tar.gz")
    with pytest.raises(DataError, match="md5 .* expected eb9058c3a382ffc7106e4002c42a8d85") as err:
        datastore.fetch("cifar100", tmp_path / "dest", base_url=url)
    assert "\n" not in str(err.value) and "nothing was kept" in str(err.value)
    assert list((tmp_path / "dest").iterdir()) == []


def test_downloaded_files_that_are_not_official_are_not_kept(tmp_path, served_cifar100):
    _, url = served_cifar100  # the archive's md5 is listed, its files' md5s are not
    with pytest.raises(DataError, match="not the official CIFAR-100"):
        datastore.fetch("cifar100", tmp_path / "dest", base_url=url)
    assert list((tmp_path / "dest").iterdir()) == []


@pytest.mark.parametrize("name", ["cifar10", "fashion-mnist"])
def test_download_http_404_is_a_clear_error(tmp_path, http_root, name):
    _, url = http_root
    with pytest.raises(DataError, match="HTTP Error 404") as err:
        datastore.fetch(name, tmp_path / "dest", base_url=url)
    assert "\n" not in str(err.value) and "--base-url" in str(err.value)
    assert list((tmp_path / "dest").iterdir()) == []


def test_connection_refused_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="cannot download Fashion-MNIST .*Connection refused.*--data-dir") as err:
        datastore.load_dataset("fashion-mnist", tmp_path / "dest", download=True, base_url=refused_url())
    assert "\n" not in str(err.value)
    assert list((tmp_path / "dest").iterdir()) == []


def test_fashion_download_keeps_gz_files(tmp_path, http_root, monkeypatch):
    mirror, url = http_root
    fakedata.write_fashion(mirror)
    spec = datasets.DATASETS["fashion-mnist"]
    for f in datasets.FASHION_FILES:
        monkeypatch.setitem(spec["archives"], f"{f}.gz", md5_of(mirror / f"{f}.gz"))
        monkeypatch.setitem(spec["md5"], f, hashlib.md5(gzip.decompress((mirror / f"{f}.gz").read_bytes())).hexdigest())
    source = datastore.fetch("fmnist", tmp_path / "dest", base_url=url)
    raw = tmp_path / "dest" / "FashionMNIST" / "raw"
    assert source.location == str(raw) and source.official
    assert sorted(p.name for p in raw.iterdir()) == sorted([*datasets.FASHION_FILES, *spec["archives"]])
    ds = datastore.load_dataset("fmnist", tmp_path / "dest")
    assert ds.official and len(ds.train_labels) == 100 and prepared_files() == []


def test_tarball_paths_are_never_trusted(tmp_path, http_root, monkeypatch):
    mirror, url = http_root
    folder = fakedata.write_cifar100(tmp_path / "src", 100, 100)
    archive = mirror / "cifar-100-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder / "meta", arcname="../../escaped")
        tar.add(folder, arcname="cifar-100-python")
    monkeypatch.setitem(datasets.DATASETS["cifar100"]["archives"], archive.name, md5_of(archive))
    with pytest.raises(DataError, match="unsafe or corrupt archive"):
        datastore.fetch("cifar100", tmp_path / "a" / "b" / "dest", base_url=url)
    assert not list(tmp_path.rglob("escaped")) and list((tmp_path / "a" / "b" / "dest").iterdir()) == []
    assert tarfile.TarFile.extraction_filter is None  # torchvision's extraction is filtered only while we download
