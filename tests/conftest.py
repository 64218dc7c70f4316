"""The fixtures several test modules share: real and generated data, one thread, a finished small run,
an --out that cannot be written. Plain helpers live beside them: fakedata.py (generated datasets),
datahelpers.py (the data tests' checks), smallrun.py (the small training run), clierrors.py (one-line errors).
"""

import functools
import http.server
import os
import threading
from pathlib import Path

import pytest
import torch

import fakedata
from datahelpers import md5_of
from smallcnn import datastore
from smallcnn.cli import main
from smallcnn.datasets import DATASETS
from smallrun import run_args

# Debian's package puts the files here; SMALLCNN_FASHION names another folder (scripts/gpu-check.sh's DATA_DIR).
FASHION_DIR = Path(os.environ.get("SMALLCNN_FASHION", "/usr/share/datasets/fashion-mnist"))


@pytest.fixture(scope="session")
def fashion():
    """Real Fashion-MNIST (torch tensors), loaded once for the whole session (skips where it is not installed).

    Debian ships .gz files; the first load ever decompresses them once into the user cache.
    """
    if not FASHION_DIR.is_dir():
        pytest.skip("real Fashion-MNIST absent (apt-get install dataset-fashion-mnist)")
    return datastore.load_dataset("fashion-mnist", FASHION_DIR)


def pytest_collection_modifyitems(config, items):
    """Tests marked `gpu` run only where torch finds a CUDA GPU; elsewhere they are skipped with the reason."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (torch.cuda.is_available() is False here)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def one_thread():
    """Train on one torch thread: on the shared 2-core test machine, two OpenMP threads stall at every
    barrier whenever another job holds a core, so one thread is both faster and steadier."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --- small generated datasets for the data layer's tests (each test its own copy) ------------------------

@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    """No test may read or write the user's real cache or $SMALLCNN_DATA."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("SMALLCNN_DATA", raising=False)


@pytest.fixture
def cifar100_dir(tmp_path):
    """A small generated CIFAR-100 (300 training images) in its official layout; the cifar-100-python folder."""
    return fakedata.write_cifar100(tmp_path / "c100", n_train=300, n_test=100)


@pytest.fixture
def fashion_dir(tmp_path):
    """A small generated Fashion-MNIST as Debian ships it: flat, gzipped IDX files."""
    return fakedata.write_fashion(tmp_path / "fm")


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
    monkeypatch.setitem(DATASETS["cifar100"]["archives"], archive.name, md5_of(archive))
    return folder, url


# --- generated CIFAR-100 to train on (Part 2's tests; one copy per module) ---------------------------------

@pytest.fixture(scope="module")
def cifar_dir(tmp_path_factory):
    """A generated CIFAR-100 of 1,500 training and 300 test images: the folder holding cifar-100-python."""
    root = tmp_path_factory.mktemp("cifar")
    fakedata.write_cifar100(root, n_train=1500, n_test=300, seed=0)
    return root


@pytest.fixture(scope="module")
def cifar(cifar_dir):
    """cifar_dir loaded (allowed although it is not the official CIFAR-100)."""
    return datastore.load_dataset("cifar100", cifar_dir, allow_unofficial=True)


# --- runs and outputs ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def straight_run(tmp_path_factory, fashion, one_thread):
    """The uninterrupted small run (smallrun.RUN_ARGS) that interrupted and repeated runs are compared with."""
    out = tmp_path_factory.mktemp("runs") / "straight"
    assert main(run_args(fashion, out)) == 0
    return out


@pytest.fixture
def unwritable(tmp_path, request):
    """An --out that cannot be written: under a regular file, under /proc, or in a folder os.access refuses."""
    (tmp_path / "a-file").write_text("x")
    if request.param == "read-only":
        folder = tmp_path / "read-only"
        folder.mkdir()
        real_access = os.access
        patch = pytest.MonkeyPatch()
        patch.setattr(os, "access", lambda path, mode, **kw: Path(path) != folder and real_access(path, mode, **kw))
        request.addfinalizer(patch.undo)
        return folder / "out"
    return {"under-a-file": tmp_path / "a-file" / "out", "proc": Path("/proc/smallcnn-test/out")}[request.param]
