"""Fashion-MNIST made ready for torchvision: used in place in torchvision's layout, else prepared once into
the cache (again when its source changes or the copy is damaged, never half-written, never in the source
folder), and every malformed IDX file a one-line DataError naming it, with nothing prepared from it.
"""

import gzip

import numpy as np
import pytest
import torch

import fakedata
from datahelpers import assert_fashion_error, assert_one_line_error, prepared_files
from smallcnn import datasets, datastore, fashionprep
from smallcnn.datasets import DataError

pytestmark = pytest.mark.usefixtures("isolated_cache")  # see conftest.py


# --- used in place, or prepared in the cache --------------------------------------------------------------

def test_torchvision_layout_is_used_in_place(tmp_path):
    raw = fakedata.write_fashion(tmp_path / "tv" / "FashionMNIST" / "raw", gz=False)
    for given in (tmp_path / "tv", raw):  # the root torchvision takes, or its raw folder itself
        source = datastore.find_source("fmnist", given)
        assert source.root == tmp_path / "tv" and source.location == str(raw) and not source.official
    assert prepared_files() == []
    ds = datastore.load_dataset("fmnist", tmp_path / "tv")
    assert ds.train_images.shape == (100, 1, 28, 28) and ds.test_images.shape == (50, 1, 28, 28)


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("subfolder", ["", "fashion-mnist"])
def test_flat_fashion_folder_is_prepared_in_the_cache(tmp_path, gz, subfolder):
    folder = fakedata.write_fashion(tmp_path / "data" / subfolder, gz=gz)
    source = datastore.find_source("fashion-mnist", tmp_path / "data")
    assert source.location == str(folder) and source.root.parent == datasets.default_cache_dir() / "prepared"
    assert sorted(p.name for p in source.files_dir.iterdir()) == sorted(datasets.FASHION_FILES)
    ds = datastore.load_dataset("fashion-mnist", tmp_path / "data")
    expected = fakedata.balanced_labels(100, 10, 0)
    assert ds.train_labels.tolist() == expected.tolist() and ds.identity.startswith("NOT the official Fashion")


def test_prepared_once_then_reused_without_decompressing(fashion_dir, monkeypatch):
    first = datastore.load_dataset("fmnist", fashion_dir)
    before = {p: p.stat().st_mtime_ns for p in prepared_files()}
    assert len(before) == 5  # four IDX files and the note of what they were made from

    def no_gunzip(*args):
        raise AssertionError("decompressed again")

    monkeypatch.setattr(gzip, "decompress", no_gunzip)
    again = datastore.load_dataset("fmnist", fashion_dir)
    assert {p: p.stat().st_mtime_ns for p in prepared_files()} == before
    assert torch.equal(first.train_images, again.train_images)


def test_changed_source_is_prepared_again(fashion_dir):
    datastore.load_dataset("fmnist", fashion_dir)
    fakedata.write_fashion(fashion_dir, seed=7)
    ds = datastore.load_dataset("fmnist", fashion_dir)
    assert ds.train_labels.tolist() == fakedata.balanced_labels(100, 10, 7).tolist()


def test_damaged_prepared_copy_is_prepared_again(fashion_dir):
    source = datastore.find_source("fmnist", fashion_dir)
    (source.files_dir / "t10k-images-idx3-ubyte").write_bytes(b"junk")
    assert datastore.load_dataset("fmnist", fashion_dir).test_images.shape == (50, 1, 28, 28)


def test_read_only_data_dir_is_never_written(fashion_dir):
    before = {p.name: p.read_bytes() for p in fashion_dir.iterdir()}
    fashion_dir.chmod(0o555)
    try:
        datastore.load_dataset("fmnist", fashion_dir)
    finally:
        fashion_dir.chmod(0o755)
    assert {p.name: p.read_bytes() for p in fashion_dir.iterdir()} == before
    assert len(prepared_files()) == 5


def test_interrupted_preparation_leaves_nothing_half_written(fashion_dir, monkeypatch):
    real_write, calls = fashionprep.atomic_write, []

    def fail_on_third(path, write):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        real_write(path, write)

    monkeypatch.setattr(fashionprep, "atomic_write", fail_on_third)
    with pytest.raises(KeyboardInterrupt):
        datastore.load_dataset("fmnist", fashion_dir)
    assert len(prepared_files()) == 2 and not any(p.name.startswith(".") for p in prepared_files())
    monkeypatch.setattr(fashionprep, "atomic_write", real_write)
    assert len(datastore.load_dataset("fmnist", fashion_dir).test_labels) == 50


def test_unwritable_cache_is_a_one_line_error(fashion_dir, tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "a-file"))
    with pytest.raises(DataError, match="cannot write the prepared copy there .*XDG_CACHE_HOME") as err:
        datastore.load_dataset("fmnist", fashion_dir)
    assert "\n" not in str(err.value)


# --- malformed IDX files ----------------------------------------------------------------------------------

def test_wrong_magic(fashion_dir):
    path = fashion_dir / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x03" + bytes(100)))
    assert_fashion_error(fashion_dir, path, "magic number is 0x00000803, expected 0x00000801")


def test_count_disagreeing_with_file_size(fashion_dir):
    path = fashion_dir / "train-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:-1]))
    assert_fashion_error(fashion_dir, path, "header promises 100 items")


def test_image_and_label_counts_disagree(fashion_dir):
    path = fashion_dir / "train-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(fakedata.idx_bytes(np.zeros(99, np.uint8))))
    assert_fashion_error(fashion_dir, path, "99 labels for 100 images")


def test_label_out_of_range(fashion_dir):
    path = fashion_dir / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(fakedata.idx_bytes(np.full(50, 10, np.uint8))))
    assert_fashion_error(fashion_dir, path, "expected 0..9")


def test_other_datasets_image_size(fashion_dir):
    path = fashion_dir / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(fakedata.idx_bytes(np.zeros((100, 32, 32), np.uint8))))
    assert_fashion_error(fashion_dir, path, "32x32", "28x28")


def test_truncated_file_in_torchvision_layout(tmp_path):
    raw = fakedata.write_fashion(tmp_path / "FashionMNIST" / "raw", gz=False)
    path = raw / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-5])
    assert_one_line_error("fmnist", tmp_path, str(path), "header promises 50 items")
