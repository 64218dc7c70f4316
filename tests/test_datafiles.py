"""A dataset's files: every file that cannot be read (truncated gzip, empty, unreadable, a directory in its
place) is a one-line DataError naming it, and each file's status says whether it is the official one.
"""

import gzip
import hashlib
from pathlib import Path

import pytest

from datahelpers import assert_fashion_error, assert_one_line_error
from smallcnn import datafiles, datasets, datastore

pytestmark = pytest.mark.usefixtures("isolated_cache")  # see conftest.py


def test_truncated_gz(fashion_dir):
    path = fashion_dir / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-100])
    assert_fashion_error(fashion_dir, path, "truncated gzip", "smallcnn data fetch fashion-mnist")


def test_empty_file(fashion_dir):
    path = fashion_dir / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(b"")
    assert_fashion_error(fashion_dir, path, "empty")


def test_unreadable_file(fashion_dir, monkeypatch):
    # Running as root makes chmod ineffective, so simulate the OS refusing the read.
    real_read_bytes, path = Path.read_bytes, fashion_dir / "train-labels-idx1-ubyte.gz"

    def refuse(self):
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    assert_fashion_error(fashion_dir, path, "permission denied")


def test_directory_in_place_of_file(cifar100_dir):
    (cifar100_dir / "test").unlink()
    (cifar100_dir / "test").mkdir()
    assert_one_line_error("cifar100", cifar100_dir, str(cifar100_dir / "test"), "is a directory")


def test_fashion_files_matching_official_checksums_are_official(fashion_dir, monkeypatch):
    for f in datasets.FASHION_FILES:
        content = gzip.decompress((fashion_dir / f"{f}.gz").read_bytes())
        monkeypatch.setitem(datasets.DATASETS["fashion-mnist"]["md5"], f, hashlib.md5(content).hexdigest())
    assert datastore.load_dataset("fmnist", fashion_dir).official
    assert set(datafiles.file_status("fmnist", fashion_dir).values()) == {"official"}
