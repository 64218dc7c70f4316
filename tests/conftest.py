from pathlib import Path

import pytest

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="session")
def fashion():
    """Real Fashion-MNIST (torch tensors), loaded once for the whole session (skips where it is not installed).

    Debian ships .gz files; the first load ever decompresses them once into the user cache.
    """
    from smallcnn import datastore

    if not DEBIAN_FASHION.is_dir():
        pytest.skip("real Fashion-MNIST absent (apt-get install dataset-fashion-mnist)")
    return datastore.load_dataset("fashion-mnist", DEBIAN_FASHION)
