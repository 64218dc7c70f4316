"""The command line's own work: `smallcnn data` and `data fetch` (what they print, a bad file's one line and
exit 2), a train command without a dataset, and notebook's --out checked before it builds anything.
The work of each command is tested with its module (test_trainrun.py, test_studyrun.py, ...).
"""

import os
from pathlib import Path

import pytest

from clierrors import UNWRITABLE, check_refused, no_data, one_line_error
from datahelpers import DEBIAN_FASHION, needs_real_fashion, pretend_official
from smallcnn.cli import main

pytestmark = pytest.mark.usefixtures("isolated_cache")  # see conftest.py


# --- smallcnn data ------------------------------------------------------------------------------------------

def assert_cli_one_line_error(capsys, argv, *patterns):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith("error: ") and "Traceback" not in captured.err
    for pattern in patterns:
        assert pattern in captured.err, captured.err
    return captured.out


@needs_real_fashion
def test_cli_data_reports_real_fashion_official(capsys):
    assert main(["data"]) == 0
    out = capsys.readouterr().out
    assert f"Fashion-MNIST: {DEBIAN_FASHION} -- 60000 train" in out and "official Fashion-MNIST files" in out
    assert "CIFAR-100: not found" in out and "checksum differs" not in out


def test_cli_bad_file_exits_2_with_one_line(fashion_dir, capsys):
    path = fashion_dir / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:20])
    out = assert_cli_one_line_error(capsys, ["data", "--data-dir", str(fashion_dir)], str(path), "truncated gzip")
    assert "Fashion-MNIST: unusable" in out and "CIFAR-100: not found" in out


def test_cli_refuses_generated_cifar_without_the_flag(cifar100_dir, capsys):
    out = assert_cli_one_line_error(capsys, ["data", "--data-dir", str(cifar100_dir.parent)],
                                    str(cifar100_dir / "train"), "--allow-unofficial-data")
    assert "CIFAR-100: unusable" in out


def test_cli_lists_per_file_status(cifar100_dir, capsys):
    assert main(["data", "--data-dir", str(cifar100_dir.parent), "--allow-unofficial-data"]) == 0
    out = capsys.readouterr().out
    assert f"CIFAR-100: {cifar100_dir} -- 300 train / 100 test, 100 classes; NOT the official CIFAR-100" in out
    assert "checksum differs" in out and "Fashion-MNIST: not found" in out


def test_cli_fetch_downloads_then_is_a_no_op(tmp_path, served_cifar100, monkeypatch, capsys):
    folder, url = served_cifar100
    pretend_official(monkeypatch, "cifar100", folder)
    dest = tmp_path / "dest"
    assert main(["data", "fetch", "cifar-100", "--data-dir", str(dest), "--base-url", url]) == 0
    assert capsys.readouterr().out == f"{dest / 'cifar-100-python'}: official CIFAR-100 files, checksums verified\n"
    os.remove(next(Path(tmp_path / "served").rglob("*.tar.gz")))  # a second fetch must not touch the network
    assert main(["data", "--data-dir", str(dest), "fetch", "cifar100", "--base-url", url]) == 0
    assert "official CIFAR-100 files, checksums verified" in capsys.readouterr().out


def test_cli_fetch_unknown_name(capsys):
    assert_cli_one_line_error(capsys, ["data", "fetch", "imagenet"], "valid names")


# --- smallcnn train ------------------------------------------------------------------------------------------

def test_unknown_dataset_lists_the_valid_names(capsys):
    assert main(["train", "imagenet"]) == 2
    err = capsys.readouterr().err
    assert one_line_error(err) and "imagenet" in err and "fashion-mnist" in err and "cifar100" in err


def test_train_needs_a_dataset_or_resume(capsys):
    assert main(["train"]) == 2
    assert "name a dataset" in capsys.readouterr().err


# --- smallcnn notebook ---------------------------------------------------------------------------------------

@UNWRITABLE
def test_notebook_checks_its_out_before_building(unwritable, monkeypatch, capsys):
    notebook = pytest.importorskip("smallcnn.notebook.build")
    monkeypatch.setattr(notebook, "make_notebook", no_data)
    assert main(["notebook", "--out", str(unwritable / "smallcnn.ipynb"), "--quick"]) == 2
    check_refused(capsys.readouterr().err, unwritable / "smallcnn.ipynb")
