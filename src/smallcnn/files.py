"""The tooling's shared basics: the one-line user-facing error, and files (figures too) that are never
half-written."""

import csv
import io
import json
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt


class SmallCNNError(Exception):
    """Expected user-facing failure; str(e) is ONE line naming the file or value, what is wrong, what to do."""


def check_writable(path, directory: bool = True) -> Path:
    """Raise SmallCNNError (one line) unless files can be written at `path`, before any work starts.

    `path` is the folder a command writes into (directory=True) or the file it writes (directory=False).
    Nothing is created: the nearest folder that exists must be a folder, and a probe file made in it
    and removed at once proves it writable (os.access alone says yes to root, or on a read-only mount).
    """
    path = Path(path)
    if directory and path.exists() and not path.is_dir():
        raise SmallCNNError(f"{path} is a file; --out needs a directory")
    if not directory and path.is_dir():
        raise SmallCNNError(f"{path} is a directory; --out needs a file name")
    folder = path if directory else path.parent
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise SmallCNNError(f"cannot write {path}: {existing} is a file, not a folder")
    try:
        if not os.access(existing, os.W_OK | os.X_OK):
            raise PermissionError(f"permission denied: {existing}")
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".smallcnn-write-check.")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise SmallCNNError(f"cannot write {path}: {existing} is not writable "
                            f"({exc.strerror or exc}); choose another --out") from None
    return path


def atomic_write(path, write) -> None:
    """Call write(binary file) on a temporary file beside `path`, then rename it into place.

    The rename is atomic, so a reader (or a resumed run) sees the old file or the new one, never a
    half-written one -- even if the process is killed mid-write.
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


def current_umask() -> int:
    mask = os.umask(0)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


def write_text(path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode()))


def write_json(path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2))


def save_figure(fig, path) -> None:
    """The figure as a PNG at `path`, then closed."""
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)


def csv_text(rows: list[dict], fieldnames: list, **options) -> str:
    """The rows (dicts) as CSV text with a header line; options go to csv.DictWriter."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=fieldnames, **options)
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue()
