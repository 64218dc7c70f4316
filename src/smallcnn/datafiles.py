"""A dataset's files on disk: where each required file is, its bytes and its md5 (a file that cannot be
read is a one-line `DataError` naming it), and whether each is the official file.
"""

import gzip
import hashlib
import os
import zlib
from pathlib import Path

from smallcnn.datasets import DATASETS, FASHION_FILES, DataError, canonical_name, fix_hint


def _unreadable(path: Path, exc: OSError, name: str) -> DataError:
    if isinstance(exc, PermissionError):
        return DataError(f"{path}: permission denied; make it readable (chmod u+r) or point --data-dir at a "
                         f"readable copy")
    why = {IsADirectoryError: "is a directory, not a data file", FileNotFoundError: "missing"}.get(
        type(exc), f"cannot read ({exc.strerror or exc})")
    return DataError(f"{path}: {why}; {fix_hint(name)}")


def read_content(path: Path, name: str) -> bytes:
    """The file's content, gunzipped if it is a .gz."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise _unreadable(path, exc, name) from None
    if not raw:
        raise DataError(f"{path}: file is empty; {fix_hint(name)}")
    if path.suffix != ".gz":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: corrupt or truncated gzip ({exc}); {fix_hint(name)}") from None


def file_md5(path: Path, name: str) -> str:
    try:
        with path.open("rb") as f:
            return hashlib.file_digest(f, lambda: hashlib.md5(usedforsecurity=False)).hexdigest()
    except OSError as exc:
        raise _unreadable(path, exc, name) from None


def required_paths(name: str, folder: Path) -> dict[str, Path]:
    """Each required file's path in `folder`; Fashion-MNIST's may be gzipped (then the .gz's path)."""
    if name != "fashion-mnist":
        return {f: folder / f for f in DATASETS[name]["md5"]}
    gz = any(os.path.lexists(folder / f"{f}.gz") for f in FASHION_FILES)  # a missing file is named like the rest
    return {f: folder / f if os.path.lexists(folder / f) or not gz else folder / f"{f}.gz" for f in FASHION_FILES}


def file_status(name: str, directory: Path) -> dict[str, str]:
    """Per required file in `directory`: "official", "checksum differs" or "missing" (unreadable: differs)."""
    name = canonical_name(name)
    spec, status = DATASETS[name], {}
    for fname, path in required_paths(name, Path(directory)).items():
        if not path.is_file():
            status[path.name] = "missing"
            continue
        try:
            official = (file_md5(path, name) in (spec["md5"][fname], spec["archives"].get(path.name))
                        or (path.suffix == ".gz" and hashlib.md5(read_content(path, name)).hexdigest()
                            == spec["md5"][fname]))
        except DataError:
            official = False
        status[path.name] = "official" if official else "checksum differs"
    return status
