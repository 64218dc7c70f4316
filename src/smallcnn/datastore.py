"""The data layer's front door: find a dataset offline, load it through torchvision, or fetch it.

Added to torchvision, which reads and downloads the files: discovery in several places (--data-dir
alone, else $SMALLCNN_DATA, the user cache, then system copies such as Debian's Fashion-MNIST), an
identity on every result (official, md5 verified, or not), CIFAR pickles unpickled only once their md5
is the official one, and every expected failure as a one-line `DataError` naming the file and what to do.
What each dataset is lives in datasets.py, reading its files in datafiles.py, Fashion-MNIST's
preparation in fashionprep.py and the download itself in download.py.
"""

import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import torch
from torchvision.datasets import VisionDataset

from smallcnn.datafiles import file_md5, required_paths
from smallcnn.datasets import (
    DATASET_CLASSES,
    DATASETS,
    DataError,
    Dataset,
    Source,
    as_images,
    canonical_name,
    default_cache_dir,
    fix_hint,
    starter_transform,
)
from smallcnn.download import download_archives, install_files
from smallcnn.fashionprep import fashion_source


def load_dataset(name: str, data_dir=None, download: bool = False, base_url: str | None = None,
                 allow_unofficial: bool = False) -> Dataset:
    """Find (or, with `download`, fetch) a dataset and load both splits; a `DataError` for anything expected."""
    name = canonical_name(name)
    source = find_source(name, data_dir, allow_unofficial)
    if source is None:
        if not download:
            where = ", ".join(map(str, _candidates(name, data_dir)))
            raise DataError(f"{DATASETS[name]['title']} not found (looked in {where}); run `smallcnn data fetch "
                            f"{name}` or pass --data-dir a directory holding its files")
        source = fetch(name, data_dir, base_url)
    return load_source(source)


# --- finding -------------------------------------------------------------------------------------------

def find_source(name: str, data_dir=None, allow_unofficial: bool = False) -> Source | None:
    """The dataset ready for torchvision, or None. No network.

    Looked for in `data_dir` alone if given; else in $SMALLCNN_DATA, the user cache, then system copies
    (Debian's Fashion-MNIST). Fashion-MNIST files not in torchvision's layout are prepared (gunzipped)
    once into the user cache. CIFAR files whose md5 is not the official one are refused unless
    `allow_unofficial`, since unpickling a file can run code.
    """
    name = canonical_name(name)
    folder = _find_folder(name, data_dir)
    if folder is None:
        return None
    if name == "fashion-mnist":
        return fashion_source(folder)
    return _cifar_source(name, folder, allow_unofficial)


def _layouts(name: str, root: Path) -> list[Path]:
    """The folders under `root` that may hold the dataset's files: torchvision's layout first."""
    if name == "fashion-mnist":
        return [root / "FashionMNIST" / "raw", root, root / "fashion-mnist"]
    base = DATASET_CLASSES[name].base_folder
    return [root / base] + ([root] if root.name == base else [])


def _candidates(name: str, data_dir) -> list[Path]:
    if data_dir is not None:  # an explicit folder is the only place looked: never replaced by another copy
        root = Path(data_dir).expanduser()
        if root.exists() and not root.is_dir():
            raise DataError(f"{root}: not a directory; pass --data-dir a directory holding the dataset files")
        return _layouts(name, root)
    roots = [Path(os.environ["SMALLCNN_DATA"])] if os.environ.get("SMALLCNN_DATA") else []
    roots.append(default_cache_dir())
    return [d for root in roots for d in _layouts(name, root)] + [Path(d) for d in DATASETS[name]["system_dirs"]]


def _find_folder(name: str, data_dir) -> Path | None:
    """The first candidate holding every required file; one holding only some is an error, naming a missing
    file, unless a later candidate is complete."""
    incomplete = None
    for folder in _candidates(name, data_dir):
        paths = required_paths(name, folder).values()
        # lexists, not is_file: a directory or dangling link in a file's place must fail loudly when read.
        missing = [p for p in paths if not os.path.lexists(p)]
        if not missing:
            return folder
        if len(missing) < len(paths) and incomplete is None:
            incomplete = missing[0]
    if incomplete is not None:
        raise DataError(f"{incomplete}: missing (its folder holds the other {DATASETS[name]['title']} files); "
                        f"{fix_hint(name)}")
    return None


def _cifar_class(name: str, official: bool) -> type:
    """torchvision's CIFAR class with our md5 table; with None md5s torchvision only checks files exist."""
    base, md5 = DATASET_CLASSES[name], DATASETS[name]["md5"] if official else {}
    return type(base.__name__, (base,), {
        "train_list": [[f, md5.get(f)] for f, _ in base.train_list],
        "test_list": [[f, md5.get(f)] for f, _ in base.test_list],
        "meta": {**base.meta, "md5": md5.get(base.meta["filename"])}})


def _cifar_source(name: str, folder: Path, allow_unofficial: bool) -> Source:
    official = True
    for fname, path in required_paths(name, folder).items():
        if file_md5(path, name) != DATASETS[name]["md5"][fname]:
            if not allow_unofficial:
                raise DataError(f"{path}: checksum differs from the official {DATASETS[name]['title']} file, so it "
                                f"is not unpickled (a pickle can run code); if you trust it (e.g. generated test "
                                f"data) pass --allow-unofficial-data, else {fix_hint(name)}")
            official = False  # and read on: every file must at least be readable
    return Source(name, folder.parent, _cifar_class(name, official), official, str(folder))


# --- loading -------------------------------------------------------------------------------------------

def load_source(source: Source) -> Dataset:
    """Both splits of a found dataset, through torchvision with the starter's transform, checked."""
    train, test = _load_split(source, True), _load_split(source, False)
    expected = DATASETS[source.name]["num_classes"]
    if len(train.classes) != expected:  # only CIFAR's class names come from a file, its meta file
        meta = source.files_dir / source.dataset_class.meta["filename"]
        raise DataError(f"{meta}: {len(train.classes)} class names, expected {expected}; {fix_hint(source.name)}")
    return Dataset(source.name, train, test, source.location, source.official)


def _load_split(source: Source, train: bool) -> VisionDataset:
    dataset, problem = _try_load(source.dataset_class, source.root, train, source.name)
    if problem:
        path, problem = _culprit(source, train, problem)
        raise DataError(f"{path}: {problem}; {fix_hint(source.name)}")
    return dataset


def _try_load(dataset_class, root, train, name):
    """(the torchvision dataset, problem): torchvision's exceptions become the problem's text."""
    try:
        dataset = dataset_class(root, train=train, transform=starter_transform(name))
    except Exception as exc:  # anything a malformed (but trusted) file makes torchvision raise
        return None, f"torchvision cannot read it ({type(exc).__name__}: {' '.join(str(exc).split())})"
    return dataset, _labels_problem(name, as_images(dataset.data), torch.as_tensor(dataset.targets))


def _labels_problem(name: str, images, labels) -> str | None:
    classes = DATASETS[name]["num_classes"]
    if len(labels) != len(images):
        return f"{len(labels)} labels for {len(images)} images"
    low, high = (int(labels.min()), int(labels.max())) if len(labels) else (0, 0)
    if low < 0 or high >= classes:
        return f"labels range {low}..{high}, expected 0..{classes - 1}"
    return None


def _culprit(source: Source, train: bool, problem: str) -> tuple[Path, str]:
    """The file behind a failed split load: each of the split's files loaded alone, else the meta file.
    Only for unofficial CIFAR, which the caller chose to trust: official files are read only md5-checked."""
    base = source.dataset_class
    if source.name == "fashion-mnist" or source.official:
        return source.files_dir, problem
    for fname, _ in base.train_list if train else base.test_list:
        alone = type(base.__name__, (base,), {"train_list": [[fname, None]], "test_list": [[fname, None]],
                                              "_load_meta": lambda self: setattr(self, "classes", [])})
        found = _try_load(alone, source.root, True, source.name)[1]
        if found:
            return source.files_dir / fname, found
    return source.files_dir / base.meta["filename"], problem


# --- fetching ------------------------------------------------------------------------------------------

def _found(name: str, root) -> Source | None:
    try:
        return find_source(name, root, allow_unofficial=True)
    except DataError:
        return None  # broken or incomplete: a download replaces it


def fetch(name: str, data_dir=None, base_url: str | None = None) -> Source:
    """torchvision's download into `data_dir` (default $SMALLCNN_DATA or the cache), verified; a no-op
    when an official copy is already found. Downloads go to a temporary folder beside the destination
    and move into place only once verified, so a failure leaves nothing behind."""
    name = canonical_name(name)
    found = _found(name, data_dir)
    if found is not None and found.official:
        return found
    root = Path(data_dir or os.environ.get("SMALLCNN_DATA") or default_cache_dir()).expanduser()
    if _found(name, root) is not None:
        raise DataError(f"{root}: already holds a {DATASETS[name]['title']} copy that is NOT the official one; "
                        f"delete it to download, or fetch into another --data-dir")
    url, tmp = (base_url or DATASETS[name]["url"]).rstrip("/") + "/", None
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=".fetch-"))
        download_archives(name, url, tmp)
        got = find_source(name, tmp, allow_unofficial=True)
        if got is None or not got.official:
            raise DataError(f"{url}: the downloaded files are not the official {DATASETS[name]['title']} "
                            f"(checksums differ); nothing was kept")
        return replace(got, root=root, location=str(install_files(name, tmp, root)))
    except OSError as exc:
        raise DataError(f"{root}: cannot write there ({exc.strerror or exc}); pass a writable --data-dir") from None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
