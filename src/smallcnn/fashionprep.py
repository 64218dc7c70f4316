"""Fashion-MNIST made ready for torchvision: its IDX files checked (headers, lengths, counts, labels), and
files not in torchvision's layout (Debian's gzipped ones) prepared once into the user cache.

A prepared copy is stamped with what it was made from, so a changed or damaged one is prepared again;
the source folder itself is never written.
"""

import hashlib
import json
import re
from pathlib import Path

from smallcnn.datafiles import read_content, required_paths
from smallcnn.datasets import DATASET_CLASSES, DATASETS, FASHION_FILES, DataError, Source, default_cache_dir, fix_hint
from smallcnn.files import atomic_write, write_json

NAME = "fashion-mnist"


def fashion_source(folder: Path) -> Source:
    """The Fashion-MNIST found in `folder`, where torchvision can read it: in place, or a prepared copy."""
    paths = required_paths(NAME, folder)
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
    official = all(hashlib.md5(contents[f]).hexdigest() == DATASETS[NAME]["md5"][f] for f in contents)
    return Source(NAME, root, DATASET_CLASSES[NAME], official, str(folder))


def _idx_count(path: Path, content: bytes, images: bool) -> int:
    """Items in an IDX file, after checking its header against Fashion-MNIST's shape and the file's length."""
    magic, header = (0x00000803, 16) if images else (0x00000801, 8)
    if len(content) < header:
        raise DataError(f"{path}: too short for an IDX header ({len(content)} bytes); {fix_hint(NAME)}")
    found = int.from_bytes(content[:4], "big")
    if found != magic:
        raise DataError(f"{path}: IDX magic number is 0x{found:08x}, expected 0x{magic:08x} "
                        f"(wrong kind of file?); {fix_hint(NAME)}")
    dims = [int.from_bytes(content[i:i + 4], "big") for i in range(4, header, 4)]
    side = DATASETS[NAME]["image_shape"][1:]
    if images and tuple(dims[1:]) != side:
        raise DataError(f"{path}: images are {dims[1]}x{dims[2]}, {DATASETS[NAME]['title']}'s are "
                        f"{side[0]}x{side[1]}; {fix_hint(NAME)}")
    expected = header + dims[0] * (dims[1] * dims[2] if images else 1)
    if len(content) != expected:
        raise DataError(f"{path}: header promises {dims[0]} items ({expected} bytes) but the file has "
                        f"{len(content)} bytes; {fix_hint(NAME)}")
    return dims[0]


def _read_fashion(paths: dict[str, Path]) -> dict[str, bytes]:
    """The four IDX files' contents, checked as torchvision does not: headers, lengths, counts, labels."""
    contents = {f: read_content(p, NAME) for f, p in paths.items()}
    for split in ("train", "t10k"):
        images, labels = f"{split}-images-idx3-ubyte", f"{split}-labels-idx1-ubyte"
        n_images = _idx_count(paths[images], contents[images], True)
        n_labels = _idx_count(paths[labels], contents[labels], False)
        if n_labels != n_images:
            raise DataError(f"{paths[labels]}: {n_labels} labels for {n_images} images; {fix_hint(NAME)}")
        top, classes = max(contents[labels][8:], default=0), DATASETS[NAME]["num_classes"]
        if top >= classes:
            raise DataError(f"{paths[labels]}: labels range up to {top}, expected 0..{classes - 1}; "
                            f"{fix_hint(NAME)}")
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
