import functools
import gzip
import hashlib
import http.server
import os
import socket
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

import fakedata
from smallcnn import datastore
from smallcnn.cli import main
from smallcnn.datastore import DataError

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
needs_real_fashion = pytest.mark.skipif(not DEBIAN_FASHION.is_dir(),
                                        reason="real Fashion-MNIST absent (apt install dataset-fashion-mnist)")


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """No test may read or write the user's real cache or $SMALLCNN_DATA."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("SMALLCNN_DATA", raising=False)


@pytest.fixture
def cifar100_dir(tmp_path):
    return fakedata.write_cifar100(tmp_path / "c100", n_train=300, n_test=100)


@pytest.fixture
def fashion_dir(tmp_path):
    return fakedata.write_fashion(tmp_path / "fm")


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def prepared_files() -> list[Path]:
    return sorted(p for p in (datastore.default_cache_dir() / "prepared").rglob("*") if p.is_file())


def pretend_official(monkeypatch, name, folder):
    """Make the official md5 table list these (generated) files' checksums."""
    for fname in datastore.DATASETS[name]["md5"]:
        monkeypatch.setitem(datastore.DATASETS[name]["md5"], fname, md5_of(folder / fname))


# ------------------------------------------------------------------------------------ real data

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
    assert datastore.DATASETS["fashion-mnist"]["sizes"] == (len(ds.train_labels), len(ds.test_labels))
    assert datastore.dataset_shape("fashion-mnist") == (*ds.train_images.shape[1:3], len(ds.classes))
    # Debian's .gz files were decompressed into the user cache, in torchvision's layout.
    assert [p.name for p in prepared_files() if p.parent.name == "raw"] == sorted(datastore.FASHION_FILES)


@needs_real_fashion
def test_cli_data_reports_real_fashion_official(capsys):
    assert main(["data"]) == 0
    out = capsys.readouterr().out
    assert f"Fashion-MNIST: {DEBIAN_FASHION} -- 60000 train" in out and "official Fashion-MNIST files" in out
    assert "CIFAR-100: not found" in out and "checksum differs" not in out


def test_dataset_shape_gives_channels_side_and_classes_for_every_alias():
    assert datastore.dataset_shape("FMNIST") == (1, 28, 10)
    assert datastore.dataset_shape("cifar100") == (3, 32, 100)
    assert datastore.dataset_shape("CIFAR-10") == (3, 32, 10)


def test_official_checksums_are_torchvisions():
    assert datastore.DATASETS["cifar100"]["md5"]["train"] == "16019d7e3df5f24257cddd939b257f8d"
    assert datastore.DATASETS["cifar10"]["archives"] == {"cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a"}
    assert datastore.DATASETS["fashion-mnist"]["archives"] == dict(torchvision.datasets.FashionMNIST.resources)


# ------------------------------------------------------------------------------- names, finding

def test_aliases_resolve_and_unknown_names_list_valid_ones():
    assert {datastore.canonical_name(n) for n in ("fmnist", "Fashion_MNIST", "fashion-mnist")} == {"fashion-mnist"}
    assert datastore.canonical_name("CIFAR-100") == "cifar100" and datastore.canonical_name("cifar-10") == "cifar10"
    with pytest.raises(DataError, match="valid names: fashion-mnist, cifar100, cifar10"):
        datastore.canonical_name("mnist")


def test_cache_dir_follows_xdg(tmp_path):
    assert datastore.default_cache_dir() == tmp_path / "xdg-cache" / "smallcnn"


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
    assert source.location == str(folder) and source.root.parent == datastore.default_cache_dir() / "prepared"
    assert sorted(p.name for p in source.files_dir.iterdir()) == sorted(datastore.FASHION_FILES)
    ds = datastore.load_dataset("fashion-mnist", tmp_path / "data")
    expected = fakedata.balanced_labels(100, 10, 0)
    assert ds.train_labels.tolist() == expected.tolist() and ds.identity.startswith("NOT the official Fashion")


def test_torchvision_layout_in_cache_is_found():
    raw = fakedata.write_fashion(datastore.default_cache_dir() / "FashionMNIST" / "raw", gz=False)
    ds = datastore.load_dataset("fmnist")
    assert ds.location == str(raw) and not ds.official  # the cache comes before Debian's copy


def test_env_var_is_searched_first(tmp_path, monkeypatch):
    fakedata.write_cifar10(datastore.default_cache_dir())
    fakedata.write_cifar10(tmp_path / "env")
    monkeypatch.setenv("SMALLCNN_DATA", str(tmp_path / "env"))
    source = datastore.find_source("cifar10", allow_unofficial=True)
    assert source.location == str(tmp_path / "env" / "cifar-10-batches-py")


def test_explicit_dir_is_never_replaced_by_another_copy(tmp_path):
    fakedata.write_cifar100(datastore.default_cache_dir())
    fakedata.write_fashion(datastore.default_cache_dir() / "FashionMNIST" / "raw")
    for name in ("cifar100", "fashion-mnist"):
        assert datastore.find_source(name, tmp_path / "empty", allow_unofficial=True) is None
        with pytest.raises(DataError, match=f"not found \\(looked in {tmp_path / 'empty'}"):
            datastore.load_dataset(name, tmp_path / "empty", allow_unofficial=True)


def test_explicit_path_that_is_a_file_is_rejected(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="not a directory"):
        datastore.find_source("cifar100", tmp_path / "file")


# --------------------------------------------------------------------- preparing Fashion-MNIST

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
    real_write, calls = datastore.atomic_write, []

    def fail_on_third(path, write):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        real_write(path, write)

    monkeypatch.setattr(datastore, "atomic_write", fail_on_third)
    with pytest.raises(KeyboardInterrupt):
        datastore.load_dataset("fmnist", fashion_dir)
    assert len(prepared_files()) == 2 and not any(p.name.startswith(".") for p in prepared_files())
    monkeypatch.setattr(datastore, "atomic_write", real_write)
    assert len(datastore.load_dataset("fmnist", fashion_dir).test_labels) == 50


def test_unwritable_cache_is_a_one_line_error(fashion_dir, tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "a-file"))
    with pytest.raises(DataError, match="cannot write the prepared copy there .*XDG_CACHE_HOME") as err:
        datastore.load_dataset("fmnist", fashion_dir)
    assert "\n" not in str(err.value)


def test_fashion_files_matching_official_checksums_are_official(fashion_dir, monkeypatch):
    for f in datastore.FASHION_FILES:
        content = gzip.decompress((fashion_dir / f"{f}.gz").read_bytes())
        monkeypatch.setitem(datastore.DATASETS["fashion-mnist"]["md5"], f, hashlib.md5(content).hexdigest())
    assert datastore.load_dataset("fmnist", fashion_dir).official
    assert set(datastore.file_status("fmnist", fashion_dir).values()) == {"official"}


# ---------------------------------------------------------------------------- generated CIFAR

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
    assert datastore.file_status("cifar100", cifar100_dir) == dict.fromkeys(["train", "test", "meta"],
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


# ------------------------------------------------------------------------------ corrupted input

def assert_one_line_error(name, directory, *patterns, allow_unofficial=True):
    with pytest.raises(DataError) as err:
        datastore.load_dataset(name, directory, allow_unofficial=allow_unofficial)
    message = str(err.value)
    assert "\n" not in message
    for pattern in patterns:
        assert pattern in message, message
    return message


def assert_fashion_error(fashion_dir, path, *patterns):
    assert_one_line_error("fmnist", fashion_dir, str(path), *patterns)
    assert prepared_files() == []  # nothing prepared from bad input


def test_truncated_gz(fashion_dir):
    path = fashion_dir / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-100])
    assert_fashion_error(fashion_dir, path, "truncated gzip", "smallcnn data fetch fashion-mnist")


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


def test_empty_file(fashion_dir):
    path = fashion_dir / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(b"")
    assert_fashion_error(fashion_dir, path, "empty")


def test_missing_file(fashion_dir):
    path = fashion_dir / "t10k-labels-idx1-ubyte.gz"
    path.unlink()
    assert_fashion_error(fashion_dir, path, "missing")


def test_unreadable_file(fashion_dir, monkeypatch):
    # Running as root makes chmod ineffective, so simulate the OS refusing the read.
    real_read_bytes, path = Path.read_bytes, fashion_dir / "train-labels-idx1-ubyte.gz"

    def refuse(self):
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    assert_fashion_error(fashion_dir, path, "permission denied")


def test_truncated_file_in_torchvision_layout(tmp_path):
    raw = fakedata.write_fashion(tmp_path / "FashionMNIST" / "raw", gz=False)
    path = raw / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-5])
    assert_one_line_error("fmnist", tmp_path, str(path), "header promises 50 items")


def test_directory_in_place_of_file(cifar100_dir):
    (cifar100_dir / "test").unlink()
    (cifar100_dir / "test").mkdir()
    assert_one_line_error("cifar100", cifar100_dir, str(cifar100_dir / "test"), "is a directory")


def test_missing_cifar_file(cifar100_dir):
    (cifar100_dir / "meta").unlink()
    assert_one_line_error("cifar100", cifar100_dir, str(cifar100_dir / "meta"), "missing")


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


# --------------------------------------------------------------------------------- downloading

class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def http_root(tmp_path):
    """A mirror directory served over HTTP on 127.0.0.1 (ephemeral port); yields (directory, its URL)."""
    root = tmp_path / "served"
    mirror = root / "some" / "mirror"
    mirror.mkdir(parents=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(QuietHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield mirror, f"http://127.0.0.1:{server.server_address[1]}/some/mirror"
    server.shutdown()
    server.server_close()


@pytest.fixture
def served_cifar100(tmp_path, http_root, monkeypatch):
    """A generated CIFAR-100 tarball on the test server, its md5 listed as the official archive's."""
    mirror, url = http_root
    folder = fakedata.write_cifar100(tmp_path / "src", 200, 100)
    archive = fakedata.make_tarball(folder, mirror / "cifar-100-python.tar.gz")
    monkeypatch.setitem(datastore.DATASETS["cifar100"]["archives"], archive.name, md5_of(archive))
    return folder, url


def refused_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/"


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
    spec = datastore.DATASETS["fashion-mnist"]
    for f in datastore.FASHION_FILES:
        monkeypatch.setitem(spec["archives"], f"{f}.gz", md5_of(mirror / f"{f}.gz"))
        monkeypatch.setitem(spec["md5"], f, hashlib.md5(gzip.decompress((mirror / f"{f}.gz").read_bytes())).hexdigest())
    source = datastore.fetch("fmnist", tmp_path / "dest", base_url=url)
    raw = tmp_path / "dest" / "FashionMNIST" / "raw"
    assert source.location == str(raw) and source.official
    assert sorted(p.name for p in raw.iterdir()) == sorted([*datastore.FASHION_FILES, *spec["archives"]])
    ds = datastore.load_dataset("fmnist", tmp_path / "dest")
    assert ds.official and len(ds.train_labels) == 100 and prepared_files() == []


def test_fetch_is_a_no_op_when_an_official_copy_is_there(cifar100_dir, monkeypatch):
    pretend_official(monkeypatch, "cifar100", cifar100_dir)
    source = datastore.fetch("cifar100", cifar100_dir.parent, base_url=refused_url())  # no network touched
    assert source.official and source.location == str(cifar100_dir)


def test_download_refuses_to_overwrite_unofficial_copy(cifar100_dir):
    with pytest.raises(DataError, match="NOT the official one; delete it"):
        datastore.fetch("cifar100", cifar100_dir.parent, base_url=refused_url())


def test_tarball_paths_are_never_trusted(tmp_path, http_root, monkeypatch):
    mirror, url = http_root
    folder = fakedata.write_cifar100(tmp_path / "src", 100, 100)
    archive = mirror / "cifar-100-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder / "meta", arcname="../../escaped")
        tar.add(folder, arcname="cifar-100-python")
    monkeypatch.setitem(datastore.DATASETS["cifar100"]["archives"], archive.name, md5_of(archive))
    with pytest.raises(DataError, match="unsafe or corrupt archive"):
        datastore.fetch("cifar100", tmp_path / "a" / "b" / "dest", base_url=url)
    assert not list(tmp_path.rglob("escaped")) and list((tmp_path / "a" / "b" / "dest").iterdir()) == []
    assert tarfile.TarFile.extraction_filter is None  # torchvision's extraction is filtered only while we download


# ----------------------------------------------------------------------------------------------- CLI

def assert_cli_one_line_error(capsys, argv, *patterns):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith("error: ") and "Traceback" not in captured.err
    for pattern in patterns:
        assert pattern in captured.err, captured.err
    return captured.out


def test_cli_bad_file_exits_2_with_one_line(fashion_dir, capsys):
    path = fashion_dir / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:20])
    out = assert_cli_one_line_error(capsys, ["data", "--data-dir", str(fashion_dir)], str(path), "truncated gzip")
    assert "Fashion-MNIST: unusable" in out and "CIFAR-100: not found" in out


def test_cli_refuses_generated_cifar_without_the_flag(cifar100_dir, capsys):
    out = assert_cli_one_line_error(capsys, ["data", "--data-dir", str(cifar100_dir.parent)],
                                    str(cifar100_dir / "train"), "--allow-unofficial-data")
    assert "CIFAR-100: unusable" in out


def test_cli_lists_per_file_status(cifar100_dir, capsys):
    assert main(["data", "--data-dir", str(cifar100_dir.parent), "--allow-unofficial-data"]) == 0
    out = capsys.readouterr().out
    assert f"CIFAR-100: {cifar100_dir} -- 300 train / 100 test, 100 classes; NOT the official CIFAR-100" in out
    assert "checksum differs" in out and "Fashion-MNIST: not found" in out


def test_cli_fetch_downloads_then_is_a_no_op(tmp_path, served_cifar100, monkeypatch, capsys):
    folder, url = served_cifar100
    pretend_official(monkeypatch, "cifar100", folder)
    dest = tmp_path / "dest"
    assert main(["data", "fetch", "cifar-100", "--data-dir", str(dest), "--base-url", url]) == 0
    assert capsys.readouterr().out == f"{dest / 'cifar-100-python'}: official CIFAR-100 files, checksums verified\n"
    os.remove(next(Path(tmp_path / "served").rglob("*.tar.gz")))  # a second fetch must not touch the network
    assert main(["data", "--data-dir", str(dest), "fetch", "cifar100", "--base-url", url]) == 0
    assert "official CIFAR-100 files, checksums verified" in capsys.readouterr().out


def test_cli_fetch_unknown_name(capsys):
    assert_cli_one_line_error(capsys, ["data", "fetch", "imagenet"], "valid names")
