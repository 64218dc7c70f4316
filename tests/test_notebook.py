"""The notebook deliverable: a real --quick build on Fashion-MNIST, and --check on crafted notebooks."""

import ast
import copy
import inspect
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

import smallcnn.augment
import smallcnn.notebook
import smallcnn.evaluate
import smallcnn.models
import smallcnn.train
from smallcnn import answers
from smallcnn.cli import main
from smallcnn.notebook import (NotebookError, build_notebook, check_file, check_notebook, count_sentences,
                               forbidden_imports, inline_source, split_sections)

FASHION = Path("/usr/share/datasets/fashion-mnist")
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
THREE = "The model reached 88% accuracy. Its curves stay close together. More width should help it."


# --- the real build ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def quick_notebook(tmp_path_factory):
    if not (FASHION / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"real Fashion-MNIST is not installed in {FASHION} (make data installs it)")
    path = tmp_path_factory.mktemp("nb") / "quick.ipynb"
    assert main(["notebook", "--out", str(path), "--quick"]) == 0
    return path


def code_sources(nb):
    return [cell.source for cell in nb.cells if cell.cell_type == "code"]


def test_quick_notebook_passes_its_check(quick_notebook, capsys):
    assert main(["notebook", "--check", str(quick_notebook)]) == 0
    assert "OK: " in capsys.readouterr().out


def test_quick_notebook_never_imports_smallcnn(quick_notebook):
    nb = nbformat.read(quick_notebook, as_version=4)
    for source in code_sources(nb):
        lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, ast.Import):
                assert all(not a.name.startswith("smallcnn") for a in node.names), source
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("smallcnn"), source


@pytest.mark.parametrize("obj", [smallcnn.train.train_epoch, smallcnn.train.fit, smallcnn.train.make_optimizer,
                                 smallcnn.models.SmallCNN, smallcnn.augment.augment_batch,
                                 smallcnn.evaluate.evaluate, answers.describe_curves])
def test_quick_notebook_holds_the_real_source(quick_notebook, obj):
    nb = nbformat.read(quick_notebook, as_version=4)
    # A cell's source has no trailing newline; the definition itself must be there line for line.
    assert any(inspect.getsource(obj) in source + "\n" for source in code_sources(nb))


def test_quick_notebook_shows_results_and_marks_itself_incomplete(quick_notebook):
    nb = nbformat.read(quick_notebook, as_version=4)
    text = nbformat.writes(nb)
    assert nb.cells[0].source.startswith("# AI-use disclaimer")
    assert "incomplete as a deliverable" in nb.cells[1].source
    assert "Test accuracy: " in text and "image/png" in text
    assert "identical outputs to the spec order Conv -> ReLU -> MaxPool on 64 random images: True" in text
    if "CIFAR-100 is not available here" in text:
        assert "Part 2 did not run" in nb.cells[1].source


def test_full_build_uses_the_default_recipes():
    settings = next(c.source for c in build_notebook(quick=False, data_dir="/data").cells if "OVERRIDES =" in c.source)
    assert "OVERRIDES = {}" in settings and "DATA_DIR = '/data'" in settings and "DOWNLOAD = True" in settings
    assert smallcnn.train.default_config("fashion-mnist").epochs >= 15


# --- building blocks ---------------------------------------------------------------------------

def test_inline_source_drops_docstring_and_package_imports():
    source = '"""Doc."""\n\nimport math\nfrom smallcnn.train import (atomic_write,\n    fit)\n\n\ndef f():\n    return math.pi\n'
    docstring, code = inline_source(source, ["train"])
    assert docstring == "Doc."
    assert code == "import math\n\n\ndef f():\n    return math.pi\n"


@pytest.mark.parametrize("line, message", [
    ("import smallcnn.train", "cannot inline"),
    ("from smallcnn import train", "cannot inline"),
    ("from smallcnn.train import fit as go", "cannot inline"),
    ("from smallcnn.report import plot_curves", "not earlier in SOURCE_MODULES"),
])
def test_inline_source_refuses_imports_it_cannot_replace(line, message):
    with pytest.raises(NotebookError, match=message):
        inline_source(f"{line}\n", ["train"])


def test_split_sections_cuts_at_both_divider_styles():
    code = "import os\n\n# --- loading -----\ndef a(): pass\n# ------------- saving\ndef b(): pass\n# ------\nX = 1"
    assert split_sections(code) == ["import os", "# --- loading -----\ndef a(): pass",
                                    "# ------------- saving\ndef b(): pass\n# ------\nX = 1"]


def test_code_section_refuses_two_modules_defining_one_name(monkeypatch):
    monkeypatch.setattr(smallcnn.notebook, "SOURCE_MODULES", [("models", "one"), ("models", "again")])
    with pytest.raises(NotebookError, match="smallcnn/models.py defines 'ConvBlock', which smallcnn/models.py"):
        smallcnn.notebook.code_section()


@pytest.mark.parametrize("text, expected", [
    (THREE, 3),
    ("It reached 85.3% on the test set. That is fine, e.g. for a tiny net.", 2),
    ("Two words. Too short! Is this a sentence?", 1),
    ("No final stop here so nothing counts", 0),
])
def test_count_sentences(text, expected):
    assert count_sentences(text) == expected


def test_forbidden_imports_skips_magics_and_finds_submodules():
    source = "%matplotlib inline\n!ls\nimport os.path\nimport matplotlib.pyplot as plt\nfrom pandas.io import x\nfrom . import y"
    assert forbidden_imports(source) == [(5, "pandas.io"), (6, ".")]


def history(train_acc, val_acc, val_losses):
    return [{"epoch": i + 1, "train_loss": 1.0 - 0.01 * i, "val_loss": loss, "train_accuracy": train_acc,
             "val_accuracy": val_acc + 0.01 * i} for i, loss in enumerate(val_losses)]


@pytest.mark.parametrize("run", [
    history(0.80, 0.79, [0.6, 0.5, 0.45, 0.44]),   # underfitting, still improving
    history(0.99, 0.85, [0.4, 0.35, 0.45, 0.6]),   # overfitting
    history(0.97, 0.96, [0.2, 0.15, 0.14, 0.14]),  # good fit
])
def test_answers_have_at_least_three_sentences(run):
    metrics = {"variant": "spec", "dataset": "fashion-mnist", "test_accuracy": 0.8, "params": 2741, "epochs": 4,
               "best_epoch": 4, "best_val_accuracy": 0.8, "per_class_accuracy": {"a": 0.9, "b": 0.5, "c": 0.7},
               "confusion_matrix": [[9, 1, 0], [4, 5, 1], [1, 2, 7]]}
    model = smallcnn.models.build_model("spec", 3, 32, 100)
    reference = smallcnn.models.build_model("spec")
    for text in (answers.summarise_result(metrics, run), answers.improvement_ideas(run, metrics),
                 answers.compare_convergence(run, run, 100, 10), answers.gap_to_reference(metrics, model),
                 answers.adaptation_effect(model, reference)):
        assert count_sentences(text) >= 3, text


# --- --check on crafted notebooks --------------------------------------------------------------

def code(source, count, *outputs):
    cell = new_code_cell(source, execution_count=count)
    cell.outputs = list(outputs)
    return cell


def stdout(text):
    return new_output("stream", name="stdout", text=text)


def good_notebook():
    return new_notebook(cells=[
        new_markdown_cell("# AI-use disclaimer\n\nWritten with AI assistance."),
        new_markdown_cell("## 1.5 Training"),
        code("#CODE HERE\n%matplotlib inline\nimport torch\nprint('epoch 1/1')", 1, stdout("epoch 1/1\n")),
        new_markdown_cell("## 1.6 Training and validation loss"),
        code("#CODE HERE\nimport matplotlib.pyplot as plt", 2,
             new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"})),
        new_markdown_cell("## 1.7 Test accuracy"),
        code("#CODE HERE\nprint('Test accuracy: 88.00%')", 3, stdout("Test accuracy: 88.00%\n")),
        new_markdown_cell("### 1.8a Comparison"),
        code("#EXPLAIN HERE\nprint(answer)", 4, stdout(THREE)),
        new_markdown_cell(f"#EXPLAIN HERE\n{THREE}"),
    ])


def unexecuted(nb):
    nb.cells[2].execution_count = None


def out_of_order(nb):
    nb.cells[4].execution_count, nb.cells[6].execution_count = 3, 2


def error_output(nb):
    nb.cells[6].outputs.append(new_output("error", ename="ValueError", evalue="boom", traceback=[]))


def pandas_import(nb):
    nb.cells[4].source += "\nimport pandas as pd"


def smallcnn_import(nb):
    nb.cells[2].source += "\nfrom smallcnn import x"


def two_sentences(nb):
    nb.cells[8].outputs = [stdout("The model reached 88% accuracy. Its curves stay close together.")]


def no_plot(nb):
    nb.cells[4].outputs = []


def no_mark(nb):
    nb.cells[6].source = "print('Test accuracy: 88.00%')"


def no_disclaimer(nb):
    nb.cells.pop(0)


@pytest.mark.parametrize("spoil, message", [
    (unexecuted, "cell 3: not executed"),
    (out_of_order, "cell 5: execution count 3 where 2 was expected"),
    (error_output, "cell 7: error output: ValueError: boom"),
    (pandas_import, "cell 5: forbidden import 'pandas'"),
    (smallcnn_import, "cell 3: forbidden import 'smallcnn'"),
    (two_sentences, "cell 9: the explanation has 2 sentences; at least 3 are needed"),
    (no_plot, "Part 1: no loss plot"),
    (no_mark, "cell 7: code cell does not start with '#CODE HERE'"),
    (no_disclaimer, "cell 1: the first cell must be the markdown AI-use disclaimer"),
])
def test_check_rejects_a_bad_notebook_with_a_specific_message(tmp_path, capsys, spoil, message):
    nb = copy.deepcopy(good_notebook())
    spoil(nb)
    path = tmp_path / "bad.ipynb"
    nbformat.write(nb, path)
    assert main(["notebook", "--check", str(path)]) == 1
    assert message in capsys.readouterr().err


def test_check_accepts_a_good_notebook(tmp_path, capsys):
    path = tmp_path / "good.ipynb"
    nbformat.write(good_notebook(), path)
    assert main(["notebook", "--check", str(path)]) == 0
    assert "OK: 4 code cells executed in order" in capsys.readouterr().out
    assert check_file(path)[0] == []


def test_check_requires_part2_results_only_when_part2_ran():
    nb = good_notebook()
    nb.cells += [new_markdown_cell("## 2.5 Training"), code("#CODE HERE\nprint('epoch 1/1')", 5, stdout("epoch 1/1\n"))]
    problems, _ = check_notebook(nb)
    assert problems == ["Part 2: no loss plot (an image/png output) in item 2.6",
                        "Part 2: no test accuracy printed in item 2.7 ('Test accuracy: NN.NN%')"]
    nb.cells[-1].outputs = []
    assert check_notebook(nb) == ([], "OK: 5 code cells executed in order, no errors, allowed imports only; "
                                      "Part 1 test accuracy 88.00%; Part 2 did not run")


def test_check_reports_an_unreadable_file(tmp_path, capsys):
    path = tmp_path / "broken.ipynb"
    path.write_text("{not json")
    assert main(["notebook", "--check", str(path)]) == 2
    assert "cannot read" in capsys.readouterr().err
