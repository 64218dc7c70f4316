import os
from pathlib import Path

import pytest
import torch

# Debian's package puts the files here; SMALLCNN_FASHION names another folder (scripts/gpu-check.sh's DATA_DIR).
FASHION_DIR = Path(os.environ.get("SMALLCNN_FASHION", "/usr/share/datasets/fashion-mnist"))


@pytest.fixture(scope="session")
def fashion():
    """Real Fashion-MNIST (torch tensors), loaded once for the whole session (skips where it is not installed).

    Debian ships .gz files; the first load ever decompresses them once into the user cache.
    """
    from smallcnn import datastore

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
