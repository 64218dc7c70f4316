"""Files that are never half-written, with the usual permissions, and --out checked writable creating nothing."""

import json

import pytest

from smallcnn import files


def test_atomic_write_gives_outputs_the_usual_permissions(tmp_path):
    files.atomic_write(tmp_path / "out.txt", lambda f: f.write(b"done"))
    mask = files.current_umask()
    assert (tmp_path / "out.txt").read_text() == "done"
    assert (tmp_path / "out.txt").stat().st_mode & 0o777 == 0o666 & ~mask


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path):
    target = tmp_path / "metrics.json"
    files.write_json(target, {"old": 1})

    def fails_half_way(f):
        f.write(b'{"new": ')
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        files.atomic_write(target, fails_half_way)
    assert json.loads(target.read_text()) == {"old": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_check_writable_creates_nothing(tmp_path):
    assert files.check_writable(tmp_path / "new" / "run") == tmp_path / "new" / "run"
    assert files.check_writable(tmp_path / "x.ipynb", directory=False) == tmp_path / "x.ipynb"
    assert list(tmp_path.iterdir()) == []  # the probe file is gone, and no folder was made
