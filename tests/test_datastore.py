"""Finding a dataset offline (where it is looked for, and in what order), loading it through torchvision
(generated CIFAR refused unless allowed, every bad file a one-line DataError naming it), and fetch's
decisions that need no download.
"""

import numpy as np
import pytest
import torch
import torchvision

import fakedata
from datahelpers import (
    DEBIAN_FASHION,
    assert_fashion_error,
    assert_one_line_error,
    md5_of,
    needs_real_fashion,
    prepared_files,
    pretend_official,
    refused_url,
)
from smallcnn import datafiles, datasets, datastore
from smallcnn.datasets import DataError

pytestmark = pytest.mark.usefixtures("isolated_cache")  # see conftest.py


# --- real data ----------------------------------------------------------------------------------------------

@needs_real_fashion
def test_real_fashion_mnist_is_found_official_and_complete():
    ds = datastore.load_dataset("fashion-mnist")
    assert ds.official and ds.identity == "official Fashion-MNIST files, checksums verified"
    assert ds.location == str(DEBIAN_FASHION)
    assert ds.train_images.shape == (60000, 1, 28, 28) and ds.train_images.dtype == torch.uint8
    assert ds.test_images.shape == (10000, 1, 28, 28)
    assert ds.train_labels.dtype == torch.int64 and len(ds.test_labels) == 10000
    assert torch.bincount(ds.train_labels).tolist() == [6000] * 10
    assert ds.classes[0] == "T-shirt/top" and len(ds.classes) == 10
    # The shape facts every other module reads from DATASETS agree with the official files.
    assert datasets.DATASETS["fashion-mnist"]["sizes"] == (len(ds.train_labels), len(ds.test_labels))
    assert datasets.dataset_shape("fashion-mnist") == (*ds.train_images.shape[1:3], len(ds.classes))
    # Debian's .gz files were decompressed into the user cache, in torchvision's layout.
    assert [p.name for p in prepared_files() if p.parent.name == "raw"] == sorted(datasets.FASHION_FILES)


# --- finding ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("given", ["containing-folder", "folder-itself"])
def test_cifar100_found_in_both_accepted_layouts(tmp_path, given):
    folder = fakedata.write_cifar100(tmp_path, 100, 100)
    source = datastore.find_source("cifar100", folder if given == "folder-itself" else tmp_path,
                                   allow_unofficial=True)
    assert source.root == tmp_path and source.location == str(folder) and source.files_dir == folder


def test_cifar_files_loose_in_another_folder_are_not_a_layout(tmp_path):
    folder = fakedata.write_cifar100(tmp_path, 100, 100)
    folder.rename(tmp_path / "loose")
    assert datastore.find_source("cifar100", tmp_path / "loose", allow_unofficial=True) is None


def test_torchvision_layout_in_cache_is_found():
    raw = fakedata.write_fashion(datasets.default_cache_dir() / "FashionMNIST" / "raw", gz=False)
    ds = datastore.load_dataset("fmnist")
    assert ds.location == str(raw) and not ds.official  # the cache comes before Debian's copy


def test_env_var_is_searched_first(tmp_path, monkeypatch):
    fakedata.write_cifar10(datasets.default_cache_dir())
    fakedata.write_cifar10(tmp_path / "env")
    monkeypatch.setenv("SMALLCNN_DATA", str(tmp_path / "env"))
    source = datastore.find_source("cifar10", allow_unofficial=True)
    assert source.location == str(tmp_path / "env" / "cifar-10-batches-py")


def test_explicit_dir_is_never_replaced_by_another_copy(tmp_path):
    fakedata.write_cifar100(datasets.default_cache_dir())
    fakedata.write_fashion(datasets.default_cache_dir() / "FashionMNIST" / "raw")
    for name in ("cifar100", "fashion-mnist"):
        assert datastore.find_source(name, tmp_path / "empty", allow_unofficial=True) is None
        with pytest.raises(DataError, match=f"not found \\(looked in {tmp_path / 'empty'}"):
            datastore.load_dataset(name, tmp_path / "empty", allow_unofficial=True)


def test_explicit_path_that_is_a_file_is_rejected(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="not a directory"):
        datastore.find_source("cifar100", tmp_path / "file")


def test_missing_file(fashion_dir):
    path = fashion_dir / "t10k-labels-idx1-ubyte.gz"
    path.unlink()
    assert_fashion_error(fashion_dir, path, "missing")


def test_missing_cifar_file(cifar100_dir):
    (cifar100_dir / "meta").unlink()
    assert_one_line_error("cifar100", cifar100_dir, str(cifar100_dir / "meta"), "missing")


# --- generated CIFAR ----------------------------------------------------------------------------------------

def test_generated_cifar100_is_refused_unless_allowed(cifar100_dir):
    with pytest.raises(DataError) as err:
        datastore.load_dataset("cifar-100", cifar100_dir.parent)
    message = str(err.value)
    assert "\n" not in message and str(cifar100_dir / "train") in message
    assert "checksum differs from the official CIFAR-100 file" in message and "--allow-unofficial-data" in message


def test_generated_cifar100_loads_as_not_official_when_allowed(cifar100_dir):
    ds = datastore.load_dataset("cifar-100", cifar100_dir.parent, allow_unofficial=True)
    assert ds.train_images.shape == (300, 3, 32, 32) and ds.train_images.dtype == torch.uint8
    assert ds.test_images.shape == (100, 3, 32, 32) and ds.test_labels.dtype == torch.int64
    assert len(ds.classes) == 100 and ds.classes[7] == "class_07"
    assert not ds.official and ds.identity == "NOT the official CIFAR-100: checksums differ (e.g. generated test data)"
    assert datafiles.file_status("cifar100", cifar100_dir) == dict.fromkeys(["train", "test", "meta"],
                                                                           "checksum differs")
    source = datastore.find_source("cifar100", cifar100_dir, allow_unofficial=True)
    assert issubclass(source.dataset_class, torchvision.datasets.CIFAR100)
    assert source.dataset_class.train_list == [["train", None]] and source.dataset_class.meta["md5"] is None


def test_generated_cifar10_concatenates_five_batches(tmp_path):
    fakedata.write_cifar10(tmp_path, n_per_batch=20, n_test=30)
    ds = datastore.load_dataset("cifar10", tmp_path, allow_unofficial=True)
    assert ds.train_images.shape == (100, 3, 32, 32) and len(ds.test_labels) == 30
    assert len(ds.classes) == 10 and not ds.official


def test_generated_cifar_is_learnable_by_nearest_class_mean(tmp_path):
    fakedata.write_cifar100(tmp_path, n_train=1000, n_test=200)
    ds = datastore.load_dataset("cifar100", tmp_path, allow_unofficial=True)
    x = ds.train_images.reshape(1000, -1).float()
    means = torch.stack([x[ds.train_labels == c].mean(0) for c in range(100)])
    pred = torch.cdist(ds.test_images.reshape(200, -1).float(), means).argmin(1)
    assert (pred == ds.test_labels).float().mean() > 0.5


def test_files_whose_checksums_match_are_official(cifar100_dir, monkeypatch):
    pretend_official(monkeypatch, "cifar100", cifar100_dir)
    ds = datastore.load_dataset("cifar100", cifar100_dir)  # no allow_unofficial needed
    assert ds.official and ds.identity == "official CIFAR-100 files, checksums verified"
    source = datastore.find_source("cifar100", cifar100_dir)
    assert source.dataset_class.train_list == [["train", md5_of(cifar100_dir / "train")]]


def test_tampered_pickle_is_refused_before_loading(tmp_path, cifar100_dir):
    marker = tmp_path / "pwned"
    (cifar100_dir / "train").write_bytes(fakedata.pickle_that_runs(marker))
    with pytest.raises(DataError, match="checksum differs .* not unpickled"):
        datastore.load_dataset("cifar100", cifar100_dir)
    assert not marker.exists()
    # The pickle is live: loading it on purpose runs its code (then fails), so the refusal above is what saved us.
    with pytest.raises(DataError):
        datastore.load_dataset("cifar100", cifar100_dir, allow_unofficial=True)
    assert marker.exists()


# --- corrupted CIFAR files ----------------------------------------------------------------------------------

def test_garbage_pickle(cifar100_dir):
    (cifar100_dir / "meta").write_bytes(b"this is not a pickle")
    assert_one_line_error("cifar100", cifar100_dir, str(cifar100_dir / "meta"), "torchvision cannot read it",
                          "UnpicklingError")


def test_pickle_that_is_not_a_dict(cifar100_dir):
    fakedata.write_pickle(cifar100_dir / "train", [1, 2, 3])
    assert_one_line_error("cifar100", cifar100_dir, str(cifar100_dir / "train"), "TypeError")


def test_pickle_with_wrong_data_shape(cifar100_dir):
    fakedata.write_pickle(cifar100_dir / "test", {"data": np.zeros((4, 784), np.uint8), "fine_labels": [0] * 4})
    assert_one_line_error("cifar100", cifar100_dir, str(cifar100_dir / "test"), "cannot reshape")


def test_pickle_counts_disagree(cifar100_dir):
    fakedata.write_pickle(cifar100_dir / "test", {"data": np.zeros((4, 3072), np.uint8), "fine_labels": [0] * 5})
    assert_one_line_error("cifar100", cifar100_dir, str(cifar100_dir / "test"), "5 labels for 4 images")


def test_cifar_label_out_of_range(cifar100_dir):
    fakedata.write_pickle(cifar100_dir / "test", {"data": np.zeros((2, 3072), np.uint8), "fine_labels": [0, 100]})
    assert_one_line_error("cifar100", cifar100_dir, str(cifar100_dir / "test"), "labels range 0..100, expected 0..99")


def test_bad_cifar10_batch_is_named_among_five(tmp_path):
    folder = fakedata.write_cifar10(tmp_path)
    fakedata.write_pickle(folder / "data_batch_3", {"data": np.zeros((2, 3072), np.uint8), "labels": [1, 10]})
    assert_one_line_error("cifar10", tmp_path, str(folder / "data_batch_3"), "expected 0..9")


def test_meta_with_wrong_number_of_classes(cifar100_dir):
    fakedata.write_pickle(cifar100_dir / "meta", {"fine_label_names": ["a", "b"]})
    assert_one_line_error("cifar100", cifar100_dir, str(cifar100_dir / "meta"), "2 class names, expected 100")


# --- fetch: nothing to download ---------------------------------------------------------------------------

def test_fetch_is_a_no_op_when_an_official_copy_is_there(cifar100_dir, monkeypatch):
    pretend_official(monkeypatch, "cifar100", cifar100_dir)
    source = datastore.fetch("cifar100", cifar100_dir.parent, base_url=refused_url())  # no network touched
    assert source.official and source.location == str(cifar100_dir)


def test_download_refuses_to_overwrite_unofficial_copy(cifar100_dir):
    with pytest.raises(DataError, match="NOT the official one; delete it"):
        datastore.fetch("cifar100", cifar100_dir.parent, base_url=refused_url())
