from pathlib import Path

import pytest

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="session")
def fashion():
    """Real Fashion-MNIST, loaded once for the whole session (skips where it is not installed)."""
    from smallcnn.data import load_dataset

    if not DEBIAN_FASHION.is_dir():
        pytest.skip("real Fashion-MNIST absent (apt-get install dataset-fashion-mnist)")
    return load_dataset("fashion-mnist", DEBIAN_FASHION, download=False)
