"""Downloading a dataset with torchvision, made safe: a timeout, tarballs extracted without a member
escaping, every failure a one-line `DataError`, and verified files moved into torchvision's layout.

`datastore.fetch` decides whether to download and verifies what came; this module only downloads and installs.
"""

import contextlib
import os
import socket
import tarfile
from pathlib import Path

from torchvision.datasets import VisionDataset

from smallcnn.datafiles import file_md5
from smallcnn.datasets import DATASET_CLASSES, DATASETS, DataError


def download_archives(name: str, url: str, tmp: Path) -> None:
    """torchvision's download of the dataset's archives from `url` into the folder `tmp`; a DataError if it fails."""
    try:
        with _download_guards():
            _downloader(name, url)(tmp)
    except Exception as exc:  # torchvision's download raises RuntimeError, URLError, OSError, TarError...
        raise _download_error(name, tmp, url, exc) from None


def install_files(name: str, tmp: Path, root: Path) -> Path:
    """Move the verified files from the download folder into `root`'s torchvision layout."""
    names = [*DATASETS[name]["md5"]] + ([*DATASETS[name]["archives"]] if name == "fashion-mnist" else [])
    layout = Path("FashionMNIST/raw") if name == "fashion-mnist" else Path(DATASET_CLASSES[name].base_folder)
    target = root / layout
    target.mkdir(parents=True, exist_ok=True)
    for fname in names:
        if (tmp / layout / fname).exists():
            os.replace(tmp / layout / fname, target / fname)
    return target


@contextlib.contextmanager
def _download_guards(timeout=60):
    """torchvision's download has no timeout and on Python 3.12 extracts tarballs unfiltered (warning that
    it does): for the download only, a dead network fails, and no archive member lands outside."""
    old_timeout, old_filter = socket.getdefaulttimeout(), vars(tarfile.TarFile)["extraction_filter"]
    socket.setdefaulttimeout(timeout)
    tarfile.TarFile.extraction_filter = staticmethod(tarfile.data_filter)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old_timeout)
        tarfile.TarFile.extraction_filter = old_filter


def _downloader(name: str, url: str) -> type:
    """torchvision's class pointed at `url`, doing only its download: loading comes after our checks."""
    base, archives = DATASET_CLASSES[name], DATASETS[name]["archives"]
    if name == "fashion-mnist":
        attrs = {"mirrors": [url], "resources": list(archives.items())}
    else:
        (archive, md5), = archives.items()
        attrs = {"url": url + archive, "filename": archive, "tgz_md5": md5}

    def download_only(self, root):
        VisionDataset.__init__(self, root)
        self.download()

    return type(base.__name__, (base,), {**attrs, "__init__": download_only})


def _download_error(name: str, tmp: Path, url: str, exc: Exception) -> DataError:
    for archive, md5 in DATASETS[name]["archives"].items():
        for path in tmp.rglob(archive):
            got = file_md5(path, name)
            if got != md5:
                return DataError(f"{url}{archive}: download has md5 {got}, expected {md5} (corrupt or not the "
                                 f"official file); nothing was kept -- retry, or pass --data-dir verified files")
    reason = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, tarfile.TarError):
        return DataError(f"{url}: unsafe or corrupt archive ({reason}); nothing was kept")
    return DataError(f"cannot download {DATASETS[name]['title']} from {url} ({reason}); check the network or "
                     f"--base-url, or put the files in a folder yourself and pass --data-dir")
