"""Find, download, verify and parse Fashion-MNIST, CIFAR-10 and CIFAR-100 into uint8 NCHW arrays.

Self-contained on purpose (standard library, numpy, torch only) so it can be pasted into a notebook.
Every expected failure is a `DataError` whose message is one line: the file, what is wrong, what to do.
"""

import gzip
import hashlib
import http.client
import io
import os
import pickle
import shutil
import struct
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class SmallCNNError(Exception):
    """Expected user-facing failure; str(e) is ONE line naming the file, what is wrong and what to do."""


class DataError(SmallCNNError):
    """A dataset is missing, unreadable, malformed or could not be downloaded."""


FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
KRIZ_URL = "https://www.cs.toronto.edu/~kriz/"

# "md5" lists the checksums that make a file official: of its bytes or, for a .gz, of its content.
# Fashion-MNIST: the first md5 is upstream's .gz (the same as torchvision's); Debian's
# dataset-fashion-mnist package recompressed the files (different .gz bytes, identical content), so
# the second is the md5 of the decompressed IDX file, measured from that package (upstream git 55506a9).
# CIFAR md5s are the official ones, as also listed in torchvision/datasets/cifar.py.
DATASETS = {
    "fashion-mnist": {
        "title": "Fashion-MNIST",
        "format": "idx",
        "image_shape": (1, 28, 28),
        "sizes": (60_000, 10_000),  # training, test images
        "folders": ("FashionMNIST/raw", "fashion-mnist"),
        "system_dirs": ("/usr/share/datasets/fashion-mnist",),
        "url": FASHION_URL,
        "archives": {
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
        "md5": {
            "train-images-idx3-ubyte": ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
            "train-labels-idx1-ubyte": ("25c81989df183df01b3e8a0aad5dffbe", "9018921c3c673c538a1fc5bad174d6f9"),
            "t10k-images-idx3-ubyte": ("bef4ecab320f06d8554ea6380940ec79", "8181f5470baa50b63fa0f6fddb340f0a"),
            "t10k-labels-idx1-ubyte": ("bb300cfdad3c16e7a12a480ee83cd310", "15d484375f8d13e6eb1aabb0c3f46965"),
        },
        "classes": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    },
    "cifar100": {
        "title": "CIFAR-100",
        "format": "cifar",
        "image_shape": (3, 32, 32),
        "sizes": (50_000, 10_000),
        "folders": ("cifar-100-python",),
        "system_dirs": (),
        "url": KRIZ_URL,
        "archives": {"cifar-100-python.tar.gz": "eb9058c3a382ffc7106e4002c42a8d85"},
        "md5": {
            "train": ("16019d7e3df5f24257cddd939b257f8d",),
            "test": ("f0ef6b0ae62326f3e7ffdfab6717acfc",),
            "meta": ("7973b15100ade9c7d40fb424638fde48",),
        },
        "train_files": ("train",),
        "test_files": ("test",),
        "meta_file": "meta",
        "label_key": "fine_labels",
        "names_key": "fine_label_names",
        "num_classes": 100,
    },
    "cifar10": {
        "title": "CIFAR-10",
        "format": "cifar",
        "image_shape": (3, 32, 32),
        "sizes": (50_000, 10_000),
        "folders": ("cifar-10-batches-py",),
        "system_dirs": (),
        "url": KRIZ_URL,
        "archives": {"cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a"},
        "md5": {
            "data_batch_1": ("c99cafc152244af753f735de768cd75f",),
            "data_batch_2": ("d4bba439e000b95fd0a9bffe97cbabec",),
            "data_batch_3": ("54ebc095f3ab1f0389bbae665268c751",),
            "data_batch_4": ("634d18415352ddfa80567beed471001a",),
            "data_batch_5": ("482c414d41f54cd18b22e5b47cb7c3cb",),
            "test_batch": ("40351d587109b95175f43aff81a1287e",),
            "batches.meta": ("5ff9c542aee3614f3951f8cda6e48888",),
        },
        "train_files": tuple(f"data_batch_{i}" for i in range(1, 6)),
        "test_files": ("test_batch",),
        "meta_file": "batches.meta",
        "label_key": "labels",
        "names_key": "label_names",
        "num_classes": 10,
    },
}

ALIASES = {
    "fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist", "fmnist": "fashion-mnist",
    "cifar-100": "cifar100", "cifar_100": "cifar100", "cifar-10": "cifar10", "cifar_10": "cifar10",
}


@dataclass(frozen=True, eq=False)
class Dataset:
    name: str
    train_images: np.ndarray = field(repr=False)
    train_labels: np.ndarray = field(repr=False)
    test_images: np.ndarray = field(repr=False)
    test_labels: np.ndarray = field(repr=False)
    classes: tuple[str, ...] = field(repr=False)
    location: str
    official: bool

    @property
    def identity(self) -> str:
        title = DATASETS[self.name]["title"]
        if self.official:
            return f"official {title} files, checksums verified"
        return f"NOT the official {title}: checksums differ (e.g. generated test data)"


def dataset_shape(name: str) -> tuple[int, int, int]:
    """(channels, side, classes): what a model for this dataset takes in and predicts."""
    spec = DATASETS[canonical_name(name)]
    channels, side, _ = spec["image_shape"]
    return channels, side, spec.get("num_classes") or len(spec["classes"])


def canonical_name(name: str) -> str:
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}")
    return key


def default_cache_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "smallcnn"


def _default_root() -> Path:
    return Path(os.environ.get("SMALLCNN_DATA") or default_cache_dir())


def _fix_hint(name: str) -> str:
    return f"delete it and re-download with `smallcnn data fetch {name}`, or point --data-dir at a good copy"


# ---------------------------------------------------------------------------------------- finding

def _file_path(spec: dict, directory: Path, fname: str) -> Path:
    """The path a required file has in `directory`; IDX files may be gzipped or not."""
    if spec["format"] == "idx" and not os.path.lexists(directory / fname):
        return directory / f"{fname}.gz"
    return directory / fname


def _holds_dataset(spec: dict, directory: Path) -> bool:
    # lexists, not is_file: a directory or dangling link in a file's place must fail loudly at load time.
    return all(os.path.lexists(_file_path(spec, directory, f)) for f in spec["md5"])


def _layouts(spec: dict, root: Path) -> list[Path]:
    return [root] + [root / folder for folder in spec["folders"]]


def _search_dirs(spec: dict) -> list[Path]:
    roots = [Path(os.environ["SMALLCNN_DATA"])] if os.environ.get("SMALLCNN_DATA") else []
    roots.append(default_cache_dir())
    candidates = [d for root in roots for d in _layouts(spec, root)]
    return candidates + [Path(d) for d in spec["system_dirs"]]


def find_dataset(name, data_dir=None) -> Path | None:
    """The directory holding the dataset's files, or None; an explicit `data_dir` is the only place looked."""
    spec = DATASETS[canonical_name(name)]
    if data_dir is not None:
        root = Path(data_dir).expanduser()
        if root.exists() and not root.is_dir():
            raise DataError(f"{root}: not a directory; pass --data-dir a directory holding the dataset files")
        candidates = _layouts(spec, root)
    else:
        candidates = _search_dirs(spec)
    return next((d for d in candidates if _holds_dataset(spec, d)), None)


# ---------------------------------------------------------------------------------------- reading

def _read_bytes(path: Path, name: str) -> bytes:
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not a data file; remove it and re-download with "
                        f"`smallcnn data fetch {name}`") from None
    except PermissionError:
        raise DataError(f"{path}: permission denied; make it readable (chmod u+r) or point --data-dir "
                        f"at a readable copy") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc}); {_fix_hint(name)}") from None
    if not raw:
        raise DataError(f"{path}: file is empty; {_fix_hint(name)}")
    return raw


def _decompress(path: Path, raw: bytes, name: str) -> bytes:
    if path.suffix != ".gz":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: corrupt or truncated gzip ({exc}); {_fix_hint(name)}") from None


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _is_official(spec: dict, fname: str, raw: bytes, content: bytes) -> bool:
    accepted = spec["md5"][fname]
    return _md5(raw) in accepted or (content is not raw and _md5(content) in accepted)


def file_status(name, directory) -> dict[str, str]:
    """Per required file: "official", "checksum differs" or "missing" (unreadable files count as differing)."""
    spec = DATASETS[canonical_name(name)]
    status = {}
    for fname in spec["md5"]:
        path = _file_path(spec, Path(directory), fname)
        if not path.is_file():
            status[path.name] = "missing"
            continue
        try:
            raw = _read_bytes(path, name)
            official = _is_official(spec, fname, raw, _decompress(path, raw, name))
        except DataError:
            official = False
        status[path.name] = "official" if official else "checksum differs"
    return status


IDX_IMAGES, IDX_LABELS = 0x00000803, 0x00000801


def _parse_idx(path: Path, content: bytes, magic: int, spec: dict, name: str) -> np.ndarray:
    header = 16 if magic == IDX_IMAGES else 8
    if len(content) < header:
        raise DataError(f"{path}: too short for an IDX header ({len(content)} bytes); {_fix_hint(name)}")
    found = struct.unpack(">I", content[:4])[0]
    if found != magic:
        raise DataError(f"{path}: IDX magic number is 0x{found:08x}, expected 0x{magic:08x} "
                        f"(wrong kind of file?); {_fix_hint(name)}")
    dims = struct.unpack(f">{header // 4 - 1}I", content[4:header])
    side = spec["image_shape"][1:]
    if dims[1:] not in ((), side):
        raise DataError(f"{path}: images are {dims[1]}x{dims[2]}, {spec['title']}'s are {side[0]}x{side[1]}; "
                        f"{_fix_hint(name)}")
    expected = header + int(np.prod(dims))
    if len(content) != expected:
        raise DataError(f"{path}: header promises {dims[0]} items ({expected} bytes) but the file has "
                        f"{len(content)} bytes; {_fix_hint(name)}")
    return np.frombuffer(content, np.uint8, offset=header).reshape(dims)


def _check_labels(path: Path, labels: np.ndarray, num_classes: int, count: int, name: str) -> np.ndarray:
    if len(labels) != count:
        raise DataError(f"{path}: {len(labels)} labels for {count} images; {_fix_hint(name)}")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataError(f"{path}: labels range {labels.min()}..{labels.max()}, expected 0..{num_classes - 1}; "
                        f"{_fix_hint(name)}")
    return labels.astype(np.int64)


def _read_idx_file(spec: dict, directory: Path, fname: str, magic: int, name: str):
    path = _file_path(spec, directory, fname)
    raw = _read_bytes(path, name)
    content = _decompress(path, raw, name)
    return path, _parse_idx(path, content, magic, spec, name), _is_official(spec, fname, raw, content)


def _read_idx_split(spec: dict, directory: Path, prefix: str, name: str) -> tuple[np.ndarray, np.ndarray, bool]:
    _, images, images_ok = _read_idx_file(spec, directory, f"{prefix}-images-idx3-ubyte", IDX_IMAGES, name)
    path, labels, labels_ok = _read_idx_file(spec, directory, f"{prefix}-labels-idx1-ubyte", IDX_LABELS, name)
    labels = _check_labels(path, labels, len(spec["classes"]), len(images), name)
    return images[:, None], labels, images_ok and labels_ok


# Official CIFAR pickles hold only dicts, lists, strings and numpy arrays, so nothing else may be
# constructed: a tampered pickle could otherwise run arbitrary code via __reduce__.
_CIFAR_PICKLE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),  # protocol 5 arrays
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("_codecs", "encode"),  # how Python 3 writes bytes at protocol 2
}


class _CifarUnpickler(pickle.Unpickler):
    def __init__(self, file, path: Path, name: str):
        super().__init__(file, encoding="latin1")
        self.path, self.name = path, name

    def find_class(self, module, name):
        if (module, name) not in _CIFAR_PICKLE_GLOBALS:
            raise DataError(f"{self.path}: pickle asks for {module}.{name}, which no CIFAR file needs "
                            f"(tampered?); refusing to load it -- {_fix_hint(self.name)}")
        if module.startswith("numpy.core."):
            # Py2-era files name numpy.core, which numpy 2 renamed to numpy._core (the old name warns).
            try:
                return super().find_class(module.replace("numpy.core.", "numpy._core.", 1), name)
            except ImportError:
                pass
        return super().find_class(module, name)


def _as_str(value):
    return value.decode("latin1") if isinstance(value, bytes) else value


def _read_pickle(path: Path, raw: bytes, name: str, keys: tuple[str, ...]) -> dict:
    try:
        obj = _CifarUnpickler(io.BytesIO(raw), path, name).load()
    except DataError:
        raise
    except Exception as exc:  # any failure decoding untrusted bytes means the file is not a CIFAR pickle
        raise DataError(f"{path}: not a readable CIFAR pickle ({type(exc).__name__}); {_fix_hint(name)}") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}: pickle holds a {type(obj).__name__}, expected a dict; {_fix_hint(name)}")
    obj = {_as_str(k): v for k, v in obj.items()}
    missing = [k for k in keys if k not in obj]
    if missing:
        raise DataError(f"{path}: pickle lacks key(s) {', '.join(missing)} (another dataset's file?); "
                        f"{_fix_hint(name)}")
    return obj


def _parse_cifar_batch(path: Path, batch: dict, spec: dict, name: str) -> tuple[np.ndarray, np.ndarray]:
    data = batch["data"]
    image_shape = spec["image_shape"]
    row = int(np.prod(image_shape))
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == row):
        shape = getattr(data, "shape", type(data).__name__)
        raise DataError(f"{path}: 'data' is {shape} {getattr(data, 'dtype', '')}, expected N x {row} uint8; "
                        f"{_fix_hint(name)}")
    try:
        labels = np.asarray(batch[spec["label_key"]], dtype=np.int64).reshape(-1)
    except (TypeError, ValueError):
        raise DataError(f"{path}: '{spec['label_key']}' is not a list of integers; {_fix_hint(name)}") from None
    labels = _check_labels(path, labels, spec["num_classes"], len(data), name)
    return data.reshape(-1, *image_shape), labels


def _read_cifar(spec: dict, directory: Path, name: str):
    official, parts = True, {}
    for fname in spec["md5"]:
        path = directory / fname
        raw = _read_bytes(path, name)
        official &= _is_official(spec, fname, raw, raw)
        if fname == spec["meta_file"]:
            meta = _read_pickle(path, raw, name, (spec["names_key"],))
            classes = tuple(_as_str(c) for c in meta[spec["names_key"]])
            if len(classes) != spec["num_classes"]:
                raise DataError(f"{path}: {len(classes)} class names, expected {spec['num_classes']}; "
                                f"{_fix_hint(name)}")
        else:
            batch = _read_pickle(path, raw, name, ("data", spec["label_key"]))
            parts[fname] = _parse_cifar_batch(path, batch, spec, name)
    train, test = ([parts[f] for f in spec[key]] for key in ("train_files", "test_files"))
    arrays = [np.concatenate([p[i] for p in split]) for split in (train, test) for i in (0, 1)]
    return arrays, classes, official


def _read_dataset(name: str, directory: Path) -> Dataset:
    spec = DATASETS[name]
    if spec["format"] == "idx":
        *train, train_ok = _read_idx_split(spec, directory, "train", name)
        *test, test_ok = _read_idx_split(spec, directory, "t10k", name)
        arrays, classes, official = [*train, *test], spec["classes"], train_ok and test_ok
    else:
        arrays, classes, official = _read_cifar(spec, directory, name)
    return Dataset(name, *arrays, classes=classes, location=str(directory), official=bool(official))


def load_dataset(name, data_dir=None, download=True, base_url=None) -> Dataset:
    """Find, verify and parse a dataset, downloading it first if it is nowhere and `download` is set.

    Looked for, without network, in: `data_dir` alone if given (downloads go into it); else
    $SMALLCNN_DATA, the user cache, then system copies (Debian's Fashion-MNIST). Each root may hold the
    files flat or in torchvision's layout. Files that parse but differ from the official checksums still
    load, with `official=False`.
    """
    name = canonical_name(name)
    directory = find_dataset(name, data_dir)
    if directory is None:
        if not download:
            where = data_dir if data_dir is not None else ", ".join(map(str, _search_dirs(DATASETS[name])))
            raise DataError(f"{DATASETS[name]['title']} not found (looked in {where}); run "
                            f"`smallcnn data fetch {name}` or pass --data-dir a directory holding its files")
        directory = download_dataset(name, data_dir, base_url)
    return _read_dataset(name, directory)


# ------------------------------------------------------------------------------------- writing files

def atomic_write(path, write):
    """Call write(binary file) on a temporary file beside `path`, then rename it into place.

    The rename is atomic, so a reader (or a resumed run) sees the old file or the new one, never
    a half-written one -- even if the process is killed mid-write.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; outputs get the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def current_umask():
    mask = os.umask(0)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


# ------------------------------------------------------------------------------------- downloading

def _show_progress(label: str, done: int, total: int | None) -> None:
    total_text = f"/{total / 1e6:.1f} MB ({100 * done // total}%)" if total else " MB"
    print(f"\r  {label}: {done / 1e6:.1f}{total_text}", end="", file=sys.stderr, flush=True)


def _fetch(url: str, dest: Path, md5: str, progress: bool) -> None:
    """Download `url` to `dest` through a temp file that only becomes `dest` once its md5 matches."""
    live = progress and sys.stderr.isatty()
    if progress:
        print(f"downloading {url}", file=sys.stderr)

    def download(out):
        digest = hashlib.md5(usedforsecurity=False)
        with urllib.request.urlopen(url, timeout=30) as response:
            total, done = int(response.headers.get("Content-Length") or 0) or None, 0
            while chunk := response.read(1 << 20):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if live:
                    _show_progress(dest.name, done, total)
        if live:
            print(file=sys.stderr)
        if digest.hexdigest() != md5:
            raise DataError(f"{url}: download has md5 {digest.hexdigest()}, expected {md5} (corrupt or not the "
                            f"official file); nothing was kept -- retry, or place verified files in --data-dir")

    try:
        atomic_write(dest, download)
    except urllib.error.HTTPError as exc:
        raise DataError(f"{url}: server answered HTTP {exc.code}; check --base-url, or place the files "
                        f"in {dest.parent} yourself and pass --data-dir") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DataError(f"cannot download {url} ({reason}); check the network, or place the files in "
                        f"{dest.parent} yourself and pass --data-dir") from None


def _extract(archive: Path, folder: str, names, target: Path, name: str) -> None:
    """Copy only the expected members out of a tarball: archive paths never become filesystem paths."""
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{folder}."))
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for fname in names:
                member = tar.getmember(f"{folder}/{fname}")
                if not member.isfile():
                    raise DataError(f"{archive}: {member.name} is not a regular file; {_fix_hint(name)}")
                with tar.extractfile(member) as src, open(staging / fname, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        target.mkdir(parents=True, exist_ok=True)
        for fname in names:
            os.replace(staging / fname, target / fname)
    except (KeyError, tarfile.TarError, EOFError, zlib.error) as exc:
        raise DataError(f"{archive}: archive lacks expected files or is corrupt ({exc}); retry the download") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def download_dataset(name, dest_dir=None, base_url=None, progress=True) -> Path:
    """Download and verify the dataset's missing files into `dest_dir` (default: $SMALLCNN_DATA or the cache)."""
    name = canonical_name(name)
    spec = DATASETS[name]
    root = Path(dest_dir).expanduser() if dest_dir is not None else _default_root()
    existing = find_dataset(name, root)
    if existing is not None:
        differing = [f for f, s in file_status(name, existing).items() if s != "official"]
        if differing:
            raise DataError(f"{existing / differing[0]}: already there but not the official file; "
                            f"delete it to re-download, or use another --data-dir")
        return existing
    target = root / spec["folders"][0]
    base = (base_url or spec["url"]).rstrip("/") + "/"
    try:
        target.mkdir(parents=True, exist_ok=True)
        _download_missing(spec, name, target, base, progress)
    except OSError as exc:
        raise DataError(f"{target}: cannot write there ({exc.strerror or exc}); pass a writable --data-dir") from None
    finally:
        _remove_empty_dirs(target, root)
    return target


def _download_missing(spec: dict, name: str, target: Path, base: str, progress: bool) -> None:
    for archive, md5 in spec["archives"].items():
        if not archive.endswith(".tar.gz"):
            if not os.path.lexists(_file_path(spec, target, archive.removesuffix(".gz"))):
                _fetch(base + archive, target / archive, md5, progress)
            continue
        missing = [f for f in spec["md5"] if not os.path.lexists(target / f)]
        download = target.parent / archive
        _fetch(base + archive, download, md5, progress)
        try:
            _extract(download, spec["folders"][0], missing, target, name)
        finally:
            download.unlink()


def _remove_empty_dirs(target: Path, root: Path) -> None:
    """After a failed download, leave no empty folders of ours behind in the destination."""
    while target != root and target.is_dir() and not any(target.iterdir()):
        target.rmdir()
        target = target.parent


# ---------------------------------------------------------------------------------------- splitting

def split_train_val(labels, val_fraction=0.1, seed=0, stratify=True) -> tuple[np.ndarray, np.ndarray]:
    """Sorted, disjoint train/validation index arrays covering all samples; the same seed gives the same split."""
    if not 0 < val_fraction < 1:
        raise DataError(f"val_fraction must be between 0 and 1 (exclusive), got {val_fraction}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(labels == c) for c in np.unique(labels)] if stratify else [np.arange(len(labels))]
    val = np.concatenate([rng.permutation(g)[:round(len(g) * val_fraction)] for g in groups] or [[]])
    val = np.sort(val.astype(np.int64))
    train = np.setdiff1d(np.arange(len(labels), dtype=np.int64), val)
    return train, val
