"""How a command's expected failure must look: one `error:` line on stderr, and no work done before it."""

import pytest

# The three kinds of --out that cannot be written (see the `unwritable` fixture in conftest.py).
UNWRITABLE = pytest.mark.parametrize("unwritable", ["under-a-file", "proc", "read-only"], indirect=True)


def one_line_error(err):
    """True when stderr holds exactly one error line (after any warnings) and no traceback."""
    lines = [line for line in err.splitlines() if not line.startswith("warning: ")]
    return len(lines) == 1 and lines[0].startswith("error: ") and err.endswith("\n") and "Traceback" not in err


def no_data(*args, **kwargs):
    raise AssertionError("data was loaded before the output was checked")


def check_refused(err, path):
    assert one_line_error(err) and f"cannot write {path}" in err
