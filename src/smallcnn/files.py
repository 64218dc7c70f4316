"""The tooling's shared basics: the one-line user-facing error, and files that are never half-written."""

import csv
import io
import json
import os
import tempfile
from pathlib import Path


class SmallCNNError(Exception):
    """Expected user-facing failure; str(e) is ONE line naming the file or value, what is wrong, what to do."""


def atomic_write(path, write):
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


def current_umask():
    mask = os.umask(0)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


def write_text(path, text):
    atomic_write(path, lambda f: f.write(text.encode()))


def write_json(path, obj):
    write_text(path, json.dumps(obj, indent=2))


def csv_text(rows, fieldnames, **options):
    """The rows (dicts) as CSV text with a header line; options go to csv.DictWriter."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=fieldnames, **options)
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue()
