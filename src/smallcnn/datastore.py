"""Data tooling around torchvision.datasets, which reads and downloads the files.

Added here, as torchvision does not do it: offline discovery in several places; gzipped Fashion-MNIST
(Debian's) prepared once into torchvision's layout in the user cache; an identity on every result
(official, md5 verified, or not); CIFAR pickles unpickled only once their md5 is the official one; and
every expected failure as a one-line `DataError` naming the file and what to do.
"""

import contextlib
import gzip
import hashlib
import json
import os
import re
import shutil
import socket
import tarfile
import tempfile
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
import torchvision
from torchvision import transforms
from torchvision.datasets import VisionDataset

from smallcnn.files import SmallCNNError, atomic_write, write_json


class DataError(SmallCNNError):
    """A dataset is missing, unreadable, malformed, not official where it must be, or not downloadable."""


# The torchvision dataset class of each dataset this project trains on.
DATASET_CLASSES = {
    "fashion-mnist": torchvision.datasets.FashionMNIST,
    "cifar10": torchvision.datasets.CIFAR10,
    "cifar100": torchvision.datasets.CIFAR100,
}
_FASHION = DATASET_CLASSES["fashion-mnist"]
# The starter notebook's transforms: ToTensor, then Normalize with these (mean, std) per channel. Fashion-MNIST's
# and CIFAR-100's are the starter's given cells (tests/test_data.py reads them there); CIFAR-10's, which the
# starter does not use, are the per-channel mean and standard deviation of its 50,000 training images.
NORMALISATION = {
    "fashion-mnist": ((0.5,), (0.5,)),
    "cifar100": ((0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
}


def starter_transform(name: str) -> transforms.Compose:
    """The transform the starter notebook gives each dataset it loads."""
    mean, std = NORMALISATION[name]
    return transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std)])


def _cifar_spec(title: str, cls, num_classes: int) -> dict:
    return {"title": title, "image_shape": (3, 32, 32), "sizes": (50_000, 10_000), "num_classes": num_classes,
            "md5": dict(cls.train_list + cls.test_list) | {cls.meta["filename"]: cls.meta["md5"]},
            "archives": {cls.filename: cls.tgz_md5}, "url": cls.url.rsplit("/", 1)[0] + "/", "system_dirs": ()}


# "md5": the official checksum of each file torchvision reads; "archives": what is downloaded, with its md5.
# CIFAR's come from torchvision's own classes. torchvision knows only Fashion-MNIST's .gz md5s, but
# Debian's dataset-fashion-mnist recompressed the files (other .gz bytes, same content), so identity is
# judged on the uncompressed IDX files, whose md5s were measured from that package (upstream git 55506a9).
DATASETS = {
    "fashion-mnist": {
        "title": "Fashion-MNIST", "image_shape": (1, 28, 28), "sizes": (60_000, 10_000), "num_classes": 10,
        "md5": {"train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
                "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
                "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
                "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965"},
        "archives": dict(_FASHION.resources),
        "url": _FASHION.mirrors[0],
        "system_dirs": ("/usr/share/datasets/fashion-mnist",),
    },
    "cifar100": _cifar_spec("CIFAR-100", DATASET_CLASSES["cifar100"], 100),
    "cifar10": _cifar_spec("CIFAR-10", DATASET_CLASSES["cifar10"], 10),
}
FASHION_FILES = tuple(DATASETS["fashion-mnist"]["md5"])

ALIASES = {
    "fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist", "fmnist": "fashion-mnist",
    "cifar-100": "cifar100", "cifar_100": "cifar100", "cifar-10": "cifar10", "cifar_10": "cifar10",
}


def canonical_name(name: str) -> str:
    key = str(name).strip().lower()
    key = ALIASES.get(key, key)
    if key not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}")
    return key


def dataset_shape(name: str) -> tuple[int, int, int]:
    """(channels, side, classes): what a model for this dataset takes in and predicts."""
    spec = DATASETS[canonical_name(name)]
    channels, side, _ = spec["image_shape"]
    return channels, side, spec["num_classes"]


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "smallcnn"


def _fix_hint(name: str) -> str:
    return f"delete it and re-download with `smallcnn data fetch {name}`, or point --data-dir at a good copy"


class _Identified:
    @property
    def identity(self) -> str:
        title = DATASETS[self.name]["title"]
        if self.official:
            return f"official {title} files, checksums verified"
        return f"NOT the official {title}: checksums differ (e.g. generated test data)"


@dataclass(frozen=True)
class Source(_Identified):
    """Where a dataset is, as torchvision wants it: `dataset_class(root, train=...)` reads it."""
    name: str
    root: Path
    dataset_class: type
    official: bool
    location: str  # where the files were found (for a prepared copy, its origin)

    @property
    def files_dir(self) -> Path:
        """The folder whose files torchvision reads."""
        if self.name == "fashion-mnist":
            return Path(self.root) / "FashionMNIST" / "raw"
        return Path(self.root) / self.dataset_class.base_folder


@dataclass(frozen=True, eq=False)
class Dataset(_Identified):
    """Both splits of a dataset as the starter loads them (torchvision datasets with its transform), checked."""
    name: str
    train: VisionDataset = field(repr=False)  # the starter's train_full
    test: VisionDataset = field(repr=False)   # the starter's test_ds
    location: str
    official: bool

    @property
    def classes(self) -> tuple:
        return tuple(self.train.classes)

    @property
    def train_images(self) -> torch.Tensor:
        """The training images as stored: uint8, N x C x H x W."""
        return _as_images(self.train.data)

    @property
    def test_images(self) -> torch.Tensor:
        return _as_images(self.test.data)

    @property
    def train_labels(self) -> torch.Tensor:
        return torch.as_tensor(self.train.targets, dtype=torch.long)

    @property
    def test_labels(self) -> torch.Tensor:
        return torch.as_tensor(self.test.targets, dtype=torch.long)


def _as_images(stored) -> torch.Tensor:
    """torchvision's stored images (N x H x W grey, N x H x W x C colour) as N x C x H x W, without a copy."""
    images = torch.as_tensor(stored)
    return images.unsqueeze(1) if images.ndim == 3 else images.permute(0, 3, 1, 2)


# ------------------------------------------------------------------------------------ reading files

def _unreadable(path: Path, exc: OSError, name: str) -> DataError:
    if isinstance(exc, PermissionError):
        return DataError(f"{path}: permission denied; make it readable (chmod u+r) or point --data-dir at a "
                         f"readable copy")
    why = {IsADirectoryError: "is a directory, not a data file", FileNotFoundError: "missing"}.get(
        type(exc), f"cannot read ({exc.strerror or exc})")
    return DataError(f"{path}: {why}; {_fix_hint(name)}")


def _read(path: Path, name: str) -> bytes:
    """The file's content, gunzipped if it is a .gz."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise _unreadable(path, exc, name) from None
    if not raw:
        raise DataError(f"{path}: file is empty; {_fix_hint(name)}")
    if path.suffix != ".gz":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: corrupt or truncated gzip ({exc}); {_fix_hint(name)}") from None


def _file_md5(path: Path, name: str) -> str:
    try:
        with path.open("rb") as f:
            return hashlib.file_digest(f, lambda: hashlib.md5(usedforsecurity=False)).hexdigest()
    except OSError as exc:
        raise _unreadable(path, exc, name) from None


def _required_paths(name: str, folder: Path) -> dict[str, Path]:
    """Each required file's path in `folder`; Fashion-MNIST's may be gzipped (then the .gz's path)."""
    if name != "fashion-mnist":
        return {f: folder / f for f in DATASETS[name]["md5"]}
    gz = any(os.path.lexists(folder / f"{f}.gz") for f in FASHION_FILES)  # a missing file is named like the rest
    return {f: folder / f if os.path.lexists(folder / f) or not gz else folder / f"{f}.gz" for f in FASHION_FILES}


def file_status(name: str, directory: Path) -> dict[str, str]:
    """Per required file in `directory`: "official", "checksum differs" or "missing" (unreadable: differs)."""
    name = canonical_name(name)
    spec, status = DATASETS[name], {}
    for fname, path in _required_paths(name, Path(directory)).items():
        if not path.is_file():
            status[path.name] = "missing"
            continue
        try:
            official = (_file_md5(path, name) in (spec["md5"][fname], spec["archives"].get(path.name))
                        or (path.suffix == ".gz" and hashlib.md5(_read(path, name)).hexdigest() == spec["md5"][fname]))
        except DataError:
            official = False
        status[path.name] = "official" if official else "checksum differs"
    return status


# ------------------------------------------------------------------------------------------ finding

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
        paths = _required_paths(name, folder).values()
        # lexists, not is_file: a directory or dangling link in a file's place must fail loudly when read.
        missing = [p for p in paths if not os.path.lexists(p)]
        if not missing:
            return folder
        if len(missing) < len(paths) and incomplete is None:
            incomplete = missing[0]
    if incomplete is not None:
        raise DataError(f"{incomplete}: missing (its folder holds the other {DATASETS[name]['title']} files); "
                        f"{_fix_hint(name)}")
    return None


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
        return _fashion_source(folder)
    return _cifar_source(name, folder, allow_unofficial)


def _cifar_class(name: str, official: bool) -> type:
    """torchvision's CIFAR class with our md5 table; with None md5s torchvision only checks files exist."""
    base, md5 = DATASET_CLASSES[name], DATASETS[name]["md5"] if official else {}
    return type(base.__name__, (base,), {
        "train_list": [[f, md5.get(f)] for f, _ in base.train_list],
        "test_list": [[f, md5.get(f)] for f, _ in base.test_list],
        "meta": {**base.meta, "md5": md5.get(base.meta["filename"])}})


def _cifar_source(name: str, folder: Path, allow_unofficial: bool) -> Source:
    official = True
    for fname, path in _required_paths(name, folder).items():
        if _file_md5(path, name) != DATASETS[name]["md5"][fname]:
            if not allow_unofficial:
                raise DataError(f"{path}: checksum differs from the official {DATASETS[name]['title']} file, so it "
                                f"is not unpickled (a pickle can run code); if you trust it (e.g. generated test "
                                f"data) pass --allow-unofficial-data, else {_fix_hint(name)}")
            official = False  # and read on: every file must at least be readable
    return Source(name, folder.parent, _cifar_class(name, official), official, str(folder))


# -------------------------------------------------------------------- Fashion-MNIST: checking, preparing

def _idx_count(path: Path, content: bytes, images: bool, name: str) -> int:
    """Items in an IDX file, after checking its header against Fashion-MNIST's shape and the file's length."""
    magic, header = (0x00000803, 16) if images else (0x00000801, 8)
    if len(content) < header:
        raise DataError(f"{path}: too short for an IDX header ({len(content)} bytes); {_fix_hint(name)}")
    found = int.from_bytes(content[:4], "big")
    if found != magic:
        raise DataError(f"{path}: IDX magic number is 0x{found:08x}, expected 0x{magic:08x} "
                        f"(wrong kind of file?); {_fix_hint(name)}")
    dims = [int.from_bytes(content[i:i + 4], "big") for i in range(4, header, 4)]
    side = DATASETS[name]["image_shape"][1:]
    if images and tuple(dims[1:]) != side:
        raise DataError(f"{path}: images are {dims[1]}x{dims[2]}, {DATASETS[name]['title']}'s are "
                        f"{side[0]}x{side[1]}; {_fix_hint(name)}")
    expected = header + dims[0] * (dims[1] * dims[2] if images else 1)
    if len(content) != expected:
        raise DataError(f"{path}: header promises {dims[0]} items ({expected} bytes) but the file has "
                        f"{len(content)} bytes; {_fix_hint(name)}")
    return dims[0]


def _read_fashion(paths: dict[str, Path]) -> dict[str, bytes]:
    """The four IDX files' contents, checked as torchvision does not: headers, lengths, counts, labels."""
    name, contents = "fashion-mnist", {f: _read(p, "fashion-mnist") for f, p in paths.items()}
    for split in ("train", "t10k"):
        images, labels = f"{split}-images-idx3-ubyte", f"{split}-labels-idx1-ubyte"
        n_images = _idx_count(paths[images], contents[images], True, name)
        n_labels = _idx_count(paths[labels], contents[labels], False, name)
        if n_labels != n_images:
            raise DataError(f"{paths[labels]}: {n_labels} labels for {n_images} images; {_fix_hint(name)}")
        top, classes = max(contents[labels][8:], default=0), DATASETS[name]["num_classes"]
        if top >= classes:
            raise DataError(f"{paths[labels]}: labels range up to {top}, expected 0..{classes - 1}; "
                            f"{_fix_hint(name)}")
    return contents


def _prepared_root(folder: Path) -> Path:
    """One cache folder per source folder: copies of different sources never mix, and a source's copy
    is never found on its own (only through its source)."""
    resolved = str(folder.resolve())
    slug = re.sub(r"[^A-Za-z0-9]+", "-", resolved).strip("-")[-40:]
    return default_cache_dir() / "prepared" / f"{slug}-{hashlib.sha256(resolved.encode()).hexdigest()[:10]}"


def _stamp(paths: dict[str, Path], raw: Path) -> dict | None:
    """What a prepared copy was made from (source sizes and times) and what it holds (sizes)."""
    try:
        stats = {str(p): p.stat() for p in paths.values()}
    except OSError:
        return None
    return {"source": {p: [st.st_size, st.st_mtime_ns] for p, st in stats.items()},
            "prepared": {f: (raw / f).stat().st_size if (raw / f).is_file() else None for f in paths}}


def _fashion_source(folder: Path) -> Source:
    paths = _required_paths("fashion-mnist", folder)
    if folder.parts[-2:] == ("FashionMNIST", "raw") and all(p.suffix != ".gz" for p in paths.values()):
        root, raw, ready = folder.parent.parent, folder, True  # torchvision's layout: used where it is
    else:
        root = _prepared_root(folder)
        raw = root / "FashionMNIST" / "raw"
        try:
            ready = json.loads((root / "source.json").read_text()) == _stamp(paths, raw)
        except (OSError, ValueError):
            ready = False
    contents = _read_fashion({f: raw / f for f in FASHION_FILES} if ready else paths)
    if not ready:
        _write_prepared(contents, paths, root, raw)
    official = all(hashlib.md5(contents[f]).hexdigest() == DATASETS["fashion-mnist"]["md5"][f] for f in contents)
    return Source("fashion-mnist", root, _FASHION, official, str(folder))


def _write_prepared(contents: dict[str, bytes], paths: dict[str, Path], root: Path, raw: Path) -> None:
    # Each file is written atomically and the stamp last, so an interrupted run is simply prepared again.
    try:
        raw.mkdir(parents=True, exist_ok=True)
        for fname, content in contents.items():
            atomic_write(raw / fname, lambda f, content=content: f.write(content))
        write_json(root / "source.json", _stamp(paths, raw))
    except OSError as exc:
        raise DataError(f"{raw}: cannot write the prepared copy there ({exc.strerror or exc}); "
                        f"set XDG_CACHE_HOME to a writable folder") from None


# ------------------------------------------------------------------------------------------- loading

def _labels_problem(name: str, images, labels) -> str | None:
    classes = DATASETS[name]["num_classes"]
    if len(labels) != len(images):
        return f"{len(labels)} labels for {len(images)} images"
    low, high = (int(labels.min()), int(labels.max())) if len(labels) else (0, 0)
    if low < 0 or high >= classes:
        return f"labels range {low}..{high}, expected 0..{classes - 1}"
    return None


def _try_load(dataset_class, root, train, name):
    """(the torchvision dataset, problem): torchvision's exceptions become the problem's text."""
    try:
        dataset = dataset_class(root, train=train, transform=starter_transform(name))
    except Exception as exc:  # anything a malformed (but trusted) file makes torchvision raise
        return None, f"torchvision cannot read it ({type(exc).__name__}: {' '.join(str(exc).split())})"
    return dataset, _labels_problem(name, _as_images(dataset.data), torch.as_tensor(dataset.targets))


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


def _load_split(source: Source, train: bool) -> VisionDataset:
    dataset, problem = _try_load(source.dataset_class, source.root, train, source.name)
    if problem:
        path, problem = _culprit(source, train, problem)
        raise DataError(f"{path}: {problem}; {_fix_hint(source.name)}")
    return dataset


def load_source(source: Source) -> Dataset:
    """Both splits of a found dataset, through torchvision with the starter's transform, checked."""
    train, test = _load_split(source, True), _load_split(source, False)
    expected = DATASETS[source.name]["num_classes"]
    if len(train.classes) != expected:  # only CIFAR's class names come from a file, its meta file
        meta = source.files_dir / source.dataset_class.meta["filename"]
        raise DataError(f"{meta}: {len(train.classes)} class names, expected {expected}; {_fix_hint(source.name)}")
    return Dataset(source.name, train, test, source.location, source.official)


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


# --------------------------------------------------------------------------------------- downloading

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
            got = _file_md5(path, name)
            if got != md5:
                return DataError(f"{url}{archive}: download has md5 {got}, expected {md5} (corrupt or not the "
                                 f"official file); nothing was kept -- retry, or pass --data-dir verified files")
    reason = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, tarfile.TarError):
        return DataError(f"{url}: unsafe or corrupt archive ({reason}); nothing was kept")
    return DataError(f"cannot download {DATASETS[name]['title']} from {url} ({reason}); check the network or "
                     f"--base-url, or put the files in a folder yourself and pass --data-dir")


def _found(name: str, root) -> Source | None:
    try:
        return find_source(name, root, allow_unofficial=True)
    except DataError:
        return None  # broken or incomplete: a download replaces it


def _install(name: str, tmp: Path, root: Path) -> Path:
    """Move the verified files from the download folder into `root`'s torchvision layout."""
    names = [*DATASETS[name]["md5"]] + ([*DATASETS[name]["archives"]] if name == "fashion-mnist" else [])
    layout = Path("FashionMNIST/raw") if name == "fashion-mnist" else Path(DATASET_CLASSES[name].base_folder)
    target = root / layout
    target.mkdir(parents=True, exist_ok=True)
    for fname in names:
        if (tmp / layout / fname).exists():
            os.replace(tmp / layout / fname, target / fname)
    return target


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
        try:
            with _download_guards():
                _downloader(name, url)(tmp)
        except Exception as exc:  # torchvision's download raises RuntimeError, URLError, OSError, TarError...
            raise _download_error(name, tmp, url, exc) from None
        got = find_source(name, tmp, allow_unofficial=True)
        if got is None or not got.official:
            raise DataError(f"{url}: the downloaded files are not the official {DATASETS[name]['title']} "
                            f"(checksums differ); nothing was kept")
        return replace(got, root=root, location=str(_install(name, tmp, root)))
    except OSError as exc:
        raise DataError(f"{root}: cannot write there ({exc.strerror or exc}); pass a writable --data-dir") from None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
