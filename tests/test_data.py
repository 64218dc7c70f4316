import functools
import gzip
import hashlib
import http.server
import os
import pickle
import socket
import tarfile
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest

import fakedata
from smallcnn import data
from smallcnn.cli import main
from smallcnn.data import DataError

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


# ------------------------------------------------------------------------------------ real data

@needs_real_fashion
def test_real_fashion_mnist_is_found_official_and_complete():
    ds = data.load_dataset("fashion-mnist", download=False)
    assert ds.official and ds.identity == "official Fashion-MNIST files, checksums verified"
    assert ds.train_images.shape == (60000, 1, 28, 28) and ds.train_images.dtype == np.uint8
    assert ds.test_images.shape == (10000, 1, 28, 28)
    assert ds.train_labels.dtype == np.int64 and len(ds.test_labels) == 10000
    assert np.bincount(ds.train_labels).tolist() == [6000] * 10
    assert ds.classes[0] == "T-shirt/top" and len(ds.classes) == 10
    # The shape facts every other module reads from DATASETS agree with the official files.
    assert data.DATASETS["fashion-mnist"]["sizes"] == (len(ds.train_labels), len(ds.test_labels))
    assert data.dataset_shape("fashion-mnist") == (*ds.train_images.shape[1:3], len(ds.classes))


def test_dataset_shape_gives_channels_side_and_classes_for_every_alias():
    assert data.dataset_shape("FMNIST") == (1, 28, 10)
    assert data.dataset_shape("cifar100") == (3, 32, 100)
    assert data.dataset_shape("CIFAR-10") == (3, 32, 10)


@needs_real_fashion
def test_cli_data_reports_real_fashion_official(capsys):
    assert main(["data"]) == 0
    out = capsys.readouterr().out
    assert f"Fashion-MNIST: {DEBIAN_FASHION}" in out and "official Fashion-MNIST files" in out
    assert "CIFAR-100: not found" in out


# ------------------------------------------------------------------------------- names, finding

def test_aliases_resolve_and_unknown_names_list_valid_ones():
    assert {data.canonical_name(n) for n in ("fmnist", "Fashion_MNIST", "fashion-mnist")} == {"fashion-mnist"}
    assert data.canonical_name("CIFAR-100") == "cifar100" and data.canonical_name("cifar-10") == "cifar10"
    with pytest.raises(DataError, match="valid names: fashion-mnist, cifar100, cifar10"):
        data.canonical_name("mnist")


def test_cache_dir_follows_xdg(tmp_path):
    assert data.default_cache_dir() == tmp_path / "xdg-cache" / "smallcnn"


@pytest.mark.parametrize("layout", ["official", "folder-itself", "flat"])
def test_cifar100_found_in_every_accepted_layout(tmp_path, layout):
    folder = fakedata.write_cifar100(tmp_path, 100, 100)
    if layout == "flat":
        for f in folder.iterdir():
            f.rename(tmp_path / f.name)
        folder.rmdir()
        folder = tmp_path
    given = folder if layout == "folder-itself" else tmp_path
    assert data.find_dataset("cifar100", given) == folder


def test_torchvision_layout_in_cache_is_found(tmp_path):
    raw = data.default_cache_dir() / "FashionMNIST" / "raw"
    fakedata.write_fashion(raw, gz=False)
    ds = data.load_dataset("fmnist", download=False)
    assert ds.location == str(raw) and not ds.official and ds.train_images.shape == (100, 1, 28, 28)


def test_env_var_is_searched_first(tmp_path, monkeypatch):
    fakedata.write_cifar10(tmp_path / "env")
    monkeypatch.setenv("SMALLCNN_DATA", str(tmp_path / "env"))
    assert data.find_dataset("cifar10") == tmp_path / "env" / "cifar-10-batches-py"


def test_explicit_dir_is_never_replaced_by_another_copy(tmp_path, cifar100_dir):
    fakedata.write_cifar100(data.default_cache_dir())
    assert data.find_dataset("cifar100", tmp_path / "empty") is None
    with pytest.raises(DataError, match="not found"):
        data.load_dataset("cifar100", tmp_path / "empty", download=False)


def test_explicit_path_that_is_a_file_is_rejected(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="not a directory"):
        data.find_dataset("cifar100", tmp_path / "file")


# ---------------------------------------------------------------------------- generated CIFAR

def test_generated_cifar100_loads_and_is_marked_not_official(cifar100_dir):
    ds = data.load_dataset("cifar-100", cifar100_dir.parent, download=False)
    assert ds.train_images.shape == (300, 3, 32, 32) and ds.train_images.dtype == np.uint8
    assert ds.test_images.shape == (100, 3, 32, 32) and ds.test_labels.dtype == np.int64
    assert len(ds.classes) == 100 and ds.classes[7] == "class_07"
    assert not ds.official and ds.identity.startswith("NOT the official CIFAR-100")
    assert data.file_status("cifar100", cifar100_dir) == dict.fromkeys(["train", "test", "meta"], "checksum differs")


def test_generated_cifar10_concatenates_five_batches(tmp_path):
    fakedata.write_cifar10(tmp_path, n_per_batch=20, n_test=30)
    ds = data.load_dataset("cifar10", tmp_path, download=False)
    assert ds.train_images.shape == (100, 3, 32, 32) and len(ds.test_labels) == 30
    assert len(ds.classes) == 10 and not ds.official


def test_generated_cifar_is_learnable_by_nearest_class_mean(tmp_path):
    fakedata.write_cifar100(tmp_path, n_train=1000, n_test=200)
    ds = data.load_dataset("cifar100", tmp_path, download=False)
    x = ds.train_images.reshape(1000, -1).astype(np.float32)
    means = np.stack([x[ds.train_labels == c].mean(0) for c in range(100)])
    t = ds.test_images.reshape(200, -1).astype(np.float32)
    pred = ((t[:, None] - means[None]) ** 2).sum(-1).argmin(1)
    assert (pred == ds.test_labels).mean() > 0.5


def test_file_whose_checksum_matches_is_official(cifar100_dir, monkeypatch):
    spec = data.DATASETS["cifar100"]
    for f in ("train", "test", "meta"):
        monkeypatch.setitem(spec["md5"], f, (md5_of(cifar100_dir / f),))
    ds = data.load_dataset("cifar100", cifar100_dir, download=False)
    assert ds.official and ds.identity == "official CIFAR-100 files, checksums verified"


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
def served_cifar100(tmp_path, http_root):
    mirror, url = http_root
    folder = fakedata.write_cifar100(tmp_path / "src", 200, 100)
    return fakedata.make_tarball(folder, mirror / "cifar-100-python.tar.gz"), url


def test_download_installs_verified_tarball(tmp_path, served_cifar100, monkeypatch):
    archive, url = served_cifar100
    monkeypatch.setitem(data.DATASETS["cifar100"]["archives"], "cifar-100-python.tar.gz", md5_of(archive))
    dest = tmp_path / "dest"
    ds = data.load_dataset("cifar100", dest, base_url=url)
    assert ds.location == str(dest / "cifar-100-python") and len(ds.train_labels) == 200
    assert sorted(p.name for p in dest.iterdir()) == ["cifar-100-python"]
    assert sorted(p.name for p in (dest / "cifar-100-python").iterdir()) == ["meta", "test", "train"]


def test_download_with_bad_checksum_leaves_nothing(tmp_path, served_cifar100):
    _, url = served_cifar100
    dest = tmp_path / "dest"
    with pytest.raises(DataError, match="md5 .* expected eb9058c3a382ffc7106e4002c42a8d85") as err:
        data.download_dataset("cifar100", dest, base_url=url, progress=False)
    assert "\n" not in str(err.value)
    assert list(dest.iterdir()) == []


def test_download_http_404_is_a_clear_error(tmp_path, http_root):
    _, url = http_root
    with pytest.raises(DataError, match="HTTP 404"):
        data.download_dataset("cifar10", tmp_path / "dest", base_url=url, progress=False)
    assert list((tmp_path / "dest").iterdir()) == []


def test_connection_refused_is_a_clear_error(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DataError, match="cannot download .*--data-dir"):
        data.load_dataset("fashion-mnist", tmp_path / "dest", base_url=f"http://127.0.0.1:{port}/")
    assert list((tmp_path / "dest").iterdir()) == []


def test_fashion_download_keeps_gz_files(tmp_path, http_root, monkeypatch):
    root, url = http_root
    fakedata.write_fashion(root)
    for f in os.listdir(root):
        monkeypatch.setitem(data.DATASETS["fashion-mnist"]["archives"], f, md5_of(root / f))
        monkeypatch.setitem(data.DATASETS["fashion-mnist"]["md5"], f[:-3], (md5_of(root / f),))
    target = data.download_dataset("fmnist", tmp_path / "dest", base_url=url, progress=False)
    assert target == tmp_path / "dest" / "FashionMNIST" / "raw"
    ds = data.load_dataset("fmnist", tmp_path / "dest", download=False)
    assert ds.official and len(ds.train_labels) == 100


def test_download_refuses_to_overwrite_unofficial_copy(cifar100_dir):
    with pytest.raises(DataError, match="not the official file; delete it"):
        data.download_dataset("cifar100", cifar100_dir.parent, progress=False)


def test_tarball_missing_a_member_installs_nothing(tmp_path, http_root, monkeypatch):
    root, url = http_root
    folder = fakedata.write_cifar100(tmp_path / "src", 100, 100)
    (folder / "meta").unlink()
    archive = fakedata.make_tarball(folder, root / "cifar-100-python.tar.gz")
    monkeypatch.setitem(data.DATASETS["cifar100"]["archives"], "cifar-100-python.tar.gz", md5_of(archive))
    with pytest.raises(DataError, match="lacks expected files"):
        data.download_dataset("cifar100", tmp_path / "dest", base_url=url, progress=False)
    assert list((tmp_path / "dest").iterdir()) == []


def test_tarball_paths_are_never_trusted(tmp_path, http_root, monkeypatch):
    mirror, url = http_root
    folder = fakedata.write_cifar100(tmp_path / "src", 100, 100)
    archive = mirror / "cifar-100-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder / "meta", arcname="../../escaped")
        tar.add(folder, arcname="cifar-100-python")
    monkeypatch.setitem(data.DATASETS["cifar100"]["archives"], archive.name, md5_of(archive))
    data.download_dataset("cifar100", tmp_path / "a" / "b" / "dest", base_url=url, progress=False)
    assert not list(tmp_path.rglob("escaped"))


# ------------------------------------------------------------------------------ corrupted input

def assert_one_line_error(name, directory, *patterns):
    with pytest.raises(DataError) as err:
        data.load_dataset(name, directory, download=False)
    message = str(err.value)
    assert "\n" not in message
    for pattern in patterns:
        assert pattern in message, message
    return message


def test_truncated_gz(fashion_dir):
    path = fashion_dir / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-100])
    assert_one_line_error("fmnist", fashion_dir, str(path), "truncated gzip", "smallcnn data fetch fashion-mnist")


def test_wrong_magic(fashion_dir):
    path = fashion_dir / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x03" + bytes(100)))
    assert_one_line_error("fmnist", fashion_dir, str(path), "magic number is 0x00000803, expected 0x00000801")


def test_count_disagreeing_with_file_size(fashion_dir):
    path = fashion_dir / "train-labels-idx1-ubyte.gz"
    labels = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(labels[:-1]))
    assert_one_line_error("fmnist", fashion_dir, str(path), "header promises 100 items")


def test_image_and_label_counts_disagree(fashion_dir):
    path = fashion_dir / "train-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(fakedata.idx_bytes(np.zeros(99, np.uint8))))
    assert_one_line_error("fmnist", fashion_dir, str(path), "99 labels for 100 images")


def test_label_out_of_range(fashion_dir):
    path = fashion_dir / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(fakedata.idx_bytes(np.full(50, 10, np.uint8))))
    assert_one_line_error("fmnist", fashion_dir, str(path), "expected 0..9")


def test_other_datasets_image_size(fashion_dir):
    path = fashion_dir / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(fakedata.idx_bytes(np.zeros((100, 32, 32), np.uint8))))
    assert_one_line_error("fmnist", fashion_dir, "32x32", "28x28")


def test_empty_file(fashion_dir):
    path = fashion_dir / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(b"")
    assert_one_line_error("fmnist", fashion_dir, str(path), "empty")


def test_directory_in_place_of_file(cifar100_dir):
    (cifar100_dir / "test").unlink()
    (cifar100_dir / "test").mkdir()
    assert_one_line_error("cifar100", cifar100_dir, str(cifar100_dir / "test"), "is a directory")


def test_unreadable_file(cifar100_dir, monkeypatch):
    # Running as root makes chmod ineffective, so simulate the OS refusing the read.
    real_read_bytes = Path.read_bytes

    def refuse(self):
        if self.name == "meta":
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    assert_one_line_error("cifar100", cifar100_dir, str(cifar100_dir / "meta"), "permission denied")


def test_pickle_that_is_not_a_dict(cifar100_dir):
    fakedata.write_pickle(cifar100_dir / "train", [1, 2, 3])
    assert_one_line_error("cifar100", cifar100_dir, "holds a list, expected a dict")


def test_pickle_missing_keys_such_as_another_datasets_batch(tmp_path, cifar100_dir):
    cifar10 = fakedata.write_cifar10(tmp_path / "c10")
    (cifar100_dir / "train").write_bytes((cifar10 / "data_batch_1").read_bytes())
    assert_one_line_error("cifar100", cifar100_dir, str(cifar100_dir / "train"), "lacks key(s) fine_labels")


def test_pickle_with_wrong_data_shape(cifar100_dir):
    fakedata.write_pickle(cifar100_dir / "test", {"data": np.zeros((4, 784), np.uint8), "fine_labels": [0] * 4})
    assert_one_line_error("cifar100", cifar100_dir, "(4, 784)", "N x 3072 uint8")


def test_pickle_counts_disagree(cifar100_dir):
    fakedata.write_pickle(cifar100_dir / "test", {"data": np.zeros((4, 3072), np.uint8), "fine_labels": [0] * 5})
    assert_one_line_error("cifar100", cifar100_dir, "5 labels for 4 images")


def test_garbage_pickle(cifar100_dir):
    (cifar100_dir / "meta").write_bytes(b"this is not a pickle")
    assert_one_line_error("cifar100", cifar100_dir, "not a readable CIFAR pickle")


def test_tampered_pickle_is_rejected_without_running_code(tmp_path, cifar100_dir):
    marker = tmp_path / "pwned"
    (cifar100_dir / "train").write_bytes(fakedata.pickle_that_runs(marker))
    assert_one_line_error("cifar100", cifar100_dir, "posix.mkdir", "tampered")
    assert not marker.exists()


def test_bytes_keys_are_normalised(cifar100_dir):
    batch = {b"data": np.zeros((2, 3072), np.uint8), b"fine_labels": [3, 4]}
    (cifar100_dir / "test").write_bytes(pickle.dumps(batch, protocol=5))
    assert data.load_dataset("cifar100", cifar100_dir, download=False).test_labels.tolist() == [3, 4]


def test_py2_era_numpy_core_pickles_load_without_warnings(cifar100_dir):
    # Official CIFAR pickles name numpy.core.multiarray, which numpy 2 renamed.
    batch = pickle.dumps({"data": np.ones((2, 3072), np.uint8), "fine_labels": [1, 2]}, protocol=2)
    old_style = batch.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy.core.multiarray" in old_style
    (cifar100_dir / "test").write_bytes(old_style)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = data.load_dataset("cifar100", cifar100_dir, download=False)
    assert ds.test_labels.tolist() == [1, 2] and ds.test_images.sum() == 2 * 3072


# -------------------------------------------------------------------------------------- splitting

def test_split_is_disjoint_complete_stratified_and_seeded():
    labels = np.repeat(np.arange(10), 600)
    train, val = data.split_train_val(labels)
    assert len(val) == 600 and len(train) == 5400
    assert np.intersect1d(train, val).size == 0 and np.union1d(train, val).size == len(labels)
    assert np.bincount(labels[val]).tolist() == [60] * 10
    again = data.split_train_val(labels, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip((train, val), again))
    assert not np.array_equal(val, data.split_train_val(labels, seed=1)[1])


def test_unstratified_split_and_fraction_checks():
    labels = np.zeros(1000, np.int64)
    train, val = data.split_train_val(labels, val_fraction=0.25, stratify=False)
    assert len(val) == 250 and np.union1d(train, val).size == 1000
    for bad in (0, 1, -0.1, 1.5):
        with pytest.raises(DataError, match="val_fraction"):
            data.split_train_val(labels, val_fraction=bad)


# ----------------------------------------------------------------------------------------------- CLI

def test_cli_bad_file_exits_2_with_one_line(cifar100_dir, capsys):
    (cifar100_dir / "meta").write_bytes(b"")
    assert main(["data", "--data-dir", str(cifar100_dir.parent)]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith("error: ") and "Traceback" not in captured.err
    assert "CIFAR-100: " in captured.out and "unusable" in captured.out


def test_cli_lists_per_file_status(cifar100_dir, capsys):
    assert main(["data", "--data-dir", str(cifar100_dir.parent)]) == 0
    out = capsys.readouterr().out
    assert "NOT the official CIFAR-100" in out and "checksum differs" in out
    assert "Fashion-MNIST: not found" in out


def test_cli_fetch_downloads_then_is_a_no_op(tmp_path, served_cifar100, monkeypatch, capsys):
    archive, url = served_cifar100
    spec = data.DATASETS["cifar100"]
    monkeypatch.setitem(spec["archives"], "cifar-100-python.tar.gz", md5_of(archive))
    dest = tmp_path / "dest"
    assert main(["data", "fetch", "cifar-100", "--data-dir", str(dest), "--base-url", url]) == 0
    for f in ("train", "test", "meta"):
        monkeypatch.setitem(spec["md5"], f, (md5_of(dest / "cifar-100-python" / f),))
    archive.unlink()  # a second fetch must not touch the network
    assert main(["data", "--data-dir", str(dest), "fetch", "cifar100", "--base-url", url]) == 0
    assert "official CIFAR-100 files, checksums verified" in capsys.readouterr().out


def test_cli_fetch_unknown_name(capsys):
    assert main(["data", "fetch", "imagenet"]) == 2
    assert "valid names" in capsys.readouterr().err



