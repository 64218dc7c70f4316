"""What the data layer's tests check with: Debian's real Fashion-MNIST, md5s, the cache's prepared copies,
the official table made to list generated files, one-line DataErrors, and a URL nobody answers.
(Their fixtures are in conftest.py.)"""

import hashlib
import socket
from pathlib import Path

import pytest

from smallcnn.datasets import DATASETS, DataError, default_cache_dir
from smallcnn.datastore import load_dataset

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
needs_real_fashion = pytest.mark.skipif(not DEBIAN_FASHION.is_dir(),
                                        reason="real Fashion-MNIST absent (apt install dataset-fashion-mnist)")


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def prepared_files() -> list[Path]:
    return sorted(p for p in (default_cache_dir() / "prepared").rglob("*") if p.is_file())


def pretend_official(monkeypatch, name, folder):
    """Make the official md5 table list these (generated) files' checksums."""
    for fname in DATASETS[name]["md5"]:
        monkeypatch.setitem(DATASETS[name]["md5"], fname, md5_of(folder / fname))


def assert_one_line_error(name, directory, *patterns, allow_unofficial=True):
    """Loading the dataset fails with a one-line DataError holding every pattern; returns its message."""
    with pytest.raises(DataError) as err:
        load_dataset(name, directory, allow_unofficial=allow_unofficial)
    message = str(err.value)
    assert "\n" not in message
    for pattern in patterns:
        assert pattern in message, message
    return message


def assert_fashion_error(fashion_dir, path, *patterns):
    assert_one_line_error("fmnist", fashion_dir, str(path), *patterns)
    assert prepared_files() == []  # nothing prepared from bad input


def refused_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/"
