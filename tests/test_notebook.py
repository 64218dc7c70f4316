"""The deliverable: the course's starter, completed. Its cells are the starter's, one for one; its code is
the package's core, verbatim; it runs anywhere; `smallcnn check` finds nothing of ours to flag."""

import ast
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from fakedata import write_cifar100
from smallcnn.cli import main
from smallcnn.core import train
from smallcnn.core.study import STUDY
from smallcnn.notebook import build, results
from smallcnn.notebook.check import check_notebook

STARTER = json.loads(build.STARTER.read_text())["cells"]
GIVEN_CELLS = (1, 3, 20, 22)  # the starter's complete code cells: imports, seed and device; the datasets
IMPORT_CELLS = (1, 20)
ANSWER_CELLS = (18, 37)
PLACEHOLDERS = re.compile(r"^\s*\.\.\.\s*$|^\s*(batch_size|epochs) = $|def \w+\(\.\.\.\):", re.MULTILINE)
def source(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def needs_fashion():
    if build.datastore.find_source("fashion-mnist") is None:
        pytest.skip("real Fashion-MNIST is not installed (make data installs it)")


@pytest.fixture(scope="module", params=[False, True], ids=["full", "quick"])
def built(request):
    return build.build_notebook(quick=request.param)


def code_cells(nb):
    return [cell for cell in nb.cells if cell.cell_type == "code"]


# --- the starter's cells, one for one --------------------------------------------------------------------

def test_the_same_38_cells_in_the_starters_order(built):
    kinds = [cell.cell_type for cell in built.cells]
    expected = [cell["cell_type"] for cell in STARTER]
    for index in ANSWER_CELLS:
        expected[index] = "markdown"  # empty code cells in the starter: the answers go there
    assert len(built.cells) == len(STARTER) == 38 and kinds == expected


def test_every_box_and_heading_is_the_starters_byte_for_byte(built):
    for index, cell in enumerate(STARTER):
        if cell["cell_type"] == "markdown" and index != 0:
            assert built.cells[index].source == source(cell), f"cell {index}"
    # Cell 0: the AI-use disclaimer above the unchanged Part 1 heading, the student's declaration marked.
    assert built.cells[0].source.endswith(source(STARTER[0]))
    assert built.cells[0].source.startswith("**AI-use disclaimer.**")
    assert "Replace this line with your own statement of how you used AI tools" in built.cells[0].source


def test_the_given_code_cells_stay_as_given(built):
    for index in GIVEN_CELLS:
        given = source(STARTER[index]).rstrip().splitlines()
        mine = built.cells[index].source.rstrip().splitlines()
        if index not in IMPORT_CELLS:
            assert mine == given, f"cell {index}"
            continue
        # The import cells may gain imports, and one line after the given device line (Apple's GPU).
        added = [line for line in mine if line not in given]
        assert [line for line in mine if line in given] == given, f"cell {index}: the given lines, in order"
        device = mine.index("device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')")
        assert mine[device + 1] == build.DEVICE_LINE
        assert all(line.startswith(("import ", "from ")) for line in added if line != build.DEVICE_LINE), added


def test_every_code_here_cell_keeps_the_starters_comments_in_order_and_no_placeholder(built):
    for index, cell in enumerate(STARTER):
        if cell["cell_type"] != "code" or index in GIVEN_CELLS or index in ANSWER_CELLS:
            continue
        comments = [line.strip() for line in source(cell).splitlines() if line.strip().startswith("#")]
        mine = iter(line.strip() for line in built.cells[index].source.splitlines())
        assert all(comment in mine for comment in comments), f"cell {index}: a starter comment is missing"
        assert not PLACEHOLDERS.search(built.cells[index].source), f"cell {index}: a placeholder is left"
        ast.parse(built.cells[index].source)  # and it is Python


def test_the_given_lines_that_make_sense_are_kept(built):
    cells = {index: built.cells[index].source for index in range(38)}
    for part in (0, 19):
        assert "model = SmallCNN" in cells[6 + part] and cells[6 + part].rstrip().endswith("\nmodel")
        assert cells[8 + part].rstrip().endswith("\ncriterion, optimizer")
        assert "for epoch in range(1, epochs + 1):" in cells[12 + part]
        for name in ("train_losses", "val_losses", "train_accs", "val_accs"):
            assert f"{name}.append(" in cells[12 + part]
        assert cells[4 + part].rstrip().endswith("len(train_ds), len(val_ds), len(test_ds)")
    assert '[Fashion-MNIST test] Loss = {test_loss:.4f} | Acc = {test_acc*100:.2f}%' in cells[16]
    assert '[CIFAR-100 test] Loss = {test_loss:.4f} | Acc = {test_acc*100:.2f}%' in cells[35]


def test_the_starters_interfaces(built):
    code = "\n".join(cell.source for cell in code_cells(built))
    tree = ast.parse(code)
    functions = {node.name: [a.arg for a in node.args.args] for node in ast.walk(tree)
                 if isinstance(node, ast.FunctionDef)}
    assert functions["train_one_epoch"][:5] == ["model", "dataloader", "optimizer", "criterion", "device"]
    assert functions["evaluate"][:4] == ["model", "dataloader", "criterion", "device"]
    small = next(node for node in ast.walk(tree) if isinstance(node, ast.ClassDef) and node.name == "SmallCNN")
    assert {n.name for n in small.body if isinstance(n, ast.FunctionDef)} >= {"__init__", "forward"}
    assigned = {t.id for node in ast.walk(tree) if isinstance(node, ast.Assign) for t in node.targets
                if isinstance(t, ast.Name)}
    assert {"train_loader", "val_loader", "test_loader", "epochs", "batch_size"} <= assigned


# --- what a TA reads ---------------------------------------------------------------------------------------

def test_no_code_line_over_100_characters_but_the_starters_own(built):
    starters = {line for cell in STARTER for line in source(cell).splitlines()}
    long = [line for cell in code_cells(built) for line in cell.source.splitlines()
            if len(line) > 100 and line not in starters]
    assert long == []


def test_no_tooling_scaffolding_and_no_metadata_of_ours(built):
    code = "\n".join(cell.source for cell in code_cells(built))
    for word in ("cifar10\"", "resume", "checkpoint", "budget", "on_epoch_end", "step=", "smallcnn", "QUICK"):
        assert word not in code, word
    assert all(not cell.metadata for cell in built.cells)
    assert "smallcnn" not in json.dumps(built.metadata)
    assert not any(line.startswith("#") for index in ANSWER_CELLS for line in built.cells[index].source.splitlines())


def test_every_definition_in_the_notebook_is_the_core_source_verbatim(built):
    core = build.core_definitions()
    defined = []
    for cell in code_cells(built):
        for node in ast.parse(cell.source).body:
            for name in build.top_level_names(node):
                if name in core:
                    assert core[name] in cell.source, f"{name} in the notebook differs from the package source"
                    defined.append(name)
    assert {"SmallCNN", "TensorLoader", "train_one_epoch", "evaluate", "make_training", "train_entry",
            "plot_losses"} <= set(defined)
    ours = {node.name for cell in code_cells(built) for node in ast.parse(cell.source).body
            if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    assert ours - set(core) == {"set_seed"}  # the starter's own; every other definition is the core's


def test_a_changed_core_definition_would_be_caught(built):
    core = dict(build.core_definitions())
    changed = core["train_one_epoch"].replace("optimizer.step()", "optimizer.step()  # changed")
    assert changed not in "".join(cell.source for cell in code_cells(built))


def test_a_recipe_value_reaches_the_notebook(monkeypatch):
    """The cells copy RECIPES from the package: a changed value is what the notebook runs."""
    real = build.core_definitions

    def patched():
        found = real()
        found["RECIPES"] = found["RECIPES"].replace('"fashion-mnist": TrainConfig(',
                                                    '"fashion-mnist": TrainConfig(momentum=0.77, ')
        return found

    monkeypatch.setattr(build, "core_definitions", patched)
    cell = build.build_notebook().cells[4].source
    namespace = {}
    imports = "\n".join(build.core_imports(set()))
    exec(f"{imports}\nimport torch\n{cell.split('recipe = ')[0]}", namespace)
    assert namespace["RECIPES"]["fashion-mnist"].momentum == 0.77 != train.RECIPES["fashion-mnist"].momentum


def test_the_quick_and_device_edits_each_find_their_text():
    quick = build.template_text(quick=True)
    for new in build.quick_edits().values():
        assert new in quick
    assert quick.count("train_ds = Subset(train_ds") == 2  # both parts
    fixed = build.template_text(device="cuda:0")
    assert fixed.count("device = torch.device('cuda:0')  # chosen when this notebook was built") == 2
    assert build.DEVICE_LINE not in fixed


def test_a_bad_device_is_one_line_before_any_work(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(build, "make_notebook", lambda *a, **k: pytest.fail("the build started"))
    for device in ("banana", "mps", "cuda:7"):
        assert main(["notebook", "--out", str(tmp_path / "hw.ipynb"), "--device", device]) == 2
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and repr(device) in err[0]


def test_the_results_probe_reads_each_field_by_its_expression():
    code = results.probe_code(results.Part1)
    assert code.startswith("print(__import__('json').dumps({") and "'train_images': len(train_ds)" in code
    record = results.from_output(results.Part2, json.dumps({f: 1 for f in results.Part2.__dataclass_fields__}))
    assert record.chosen == 1


# --- building for real ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def quick_notebook(tmp_path_factory):
    needs_fashion()
    path = tmp_path_factory.mktemp("nb") / "quick.ipynb"
    assert main(["notebook", "--out", str(path), "--quick"]) == 0  # the builder runs `smallcnn check` too
    return path


@pytest.mark.slow
def test_the_quick_notebook_runs_part_1_and_passes_the_check(quick_notebook):
    nb = nbformat.read(quick_notebook, as_version=4)
    items = {item.item: item for item in check_notebook(nb)}
    assert {name for name, item in items.items() if item.status == "ok"} >= {
        "p1.data", "p1.model", "p1.loss", "p1.loop", "p1.plot", "p1.test", "p1.discussion", "p2.model",
        "structure", "libraries", "python"}
    assert items["disclosure"].status == "unknown" and "placeholder" in items["disclosure"].reasons[0]
    assert nb.cells[0].source.startswith("> **This notebook is incomplete as a deliverable:**")
    counts = [cell.execution_count for cell in code_cells(nb) if cell.execution_count]
    assert counts == list(range(1, len(counts) + 1))  # in order, once, with no probe of ours between
    answers = nb.cells[18].source
    test_line = next(o.text for o in nb.cells[16].outputs if "[Fashion-MNIST test]" in o.get("text", ""))
    accuracy = re.search(r"Acc = (\d+\.\d+%)", test_line)[1]
    assert "**(a)**" in answers and "**(b)**" in answers and accuracy in answers


@pytest.mark.slow
def test_the_notebook_alone_runs_part_1_elsewhere(quick_notebook, tmp_path):
    """The .ipynb copied alone to an empty folder with data/ in torchvision's layout, run by a kernel that cannot
    import smallcnn, with its own HOME and (where this machine allows a private mount namespace) tmpfs over the
    offline copies the builder used: Part 1 runs through and prints its test accuracy."""
    folder = tmp_path / "elsewhere"
    shutil.copytree(build.datastore.find_source("fashion-mnist").files_dir, folder / "data" / "FashionMNIST" / "raw")
    shutil.copy(quick_notebook, folder / "hw4.ipynb")
    assert sorted(p.name for p in folder.iterdir()) == ["data", "hw4.ipynb"]
    command = [sys.executable, str(Path(__file__).with_name("elsewhere.py")), str(folder / "hw4.ipynb")]
    hidden = [p for p in (Path("/usr/share/datasets"), build.datastore.default_cache_dir()) if p.is_dir()]
    mounts = "".join(f"mount -t tmpfs none {shlex.quote(str(p))} && " for p in hidden)
    private = ["unshare", "-m", "--propagation", "private", "sh", "-c", mounts + shlex.join(command)]
    if shutil.which("unshare") and subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0:
        command = private
    done = subprocess.run(command, capture_output=True, text=True, timeout=1200,
                          env={**os.environ, "PYTHONPATH": "", "HOME": str(tmp_path / "home")})
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["error"] is None, result["error"]
    assert "smallcnn importable: False" in result["outputs"]
    assert re.search(r"\[Fashion-MNIST test\] Loss = \d+\.\d+ \| Acc = \d+\.\d+%", result["outputs"])
    assert "Device: cpu" in result["outputs"]


def test_full_build_without_cifar_is_written_but_fails_unless_allowed(tmp_path, monkeypatch):
    """No CIFAR-100 and no network: the notebook is still written, and the build says why and exits 2."""
    needs_fashion()
    monkeypatch.setattr(build, "find_data", lambda data_dir, quick: (
        build.datastore.find_source("fashion-mnist"), None, "the official CIFAR-100 is not available"))
    calls = []
    monkeypatch.setattr(build, "execute", lambda nb, cwd, run_part2: calls.append((run_part2, cwd)) or (None, None))
    monkeypatch.setattr(build.answers, "part1_answers", lambda part1: "**(a)** A. B. C.\n\n**(b)** A. B. C.")
    monkeypatch.setattr(build, "check_built", lambda nb, quick, part2_ran: [])
    out = tmp_path / "full.ipynb"
    assert main(["notebook", "--out", str(out)]) == 2
    assert out.exists() and calls == [(False, tmp_path)]
    assert (tmp_path / "data" / "FashionMNIST" / "raw").is_dir()  # the data folder the notebook reads
    assert "Part 2 was not executed" in nbformat.read(out, as_version=4).cells[37].source


@pytest.mark.slow
def test_part2_runs_end_to_end_on_generated_cifar100(tmp_path):
    """The quick notebook with Part 2 on generated CIFAR-100 files (the checksum refusal lifted in this kernel
    only): every cell runs, the study is chosen on validation, and the check holds nothing against it."""
    needs_fashion()
    write_cifar100(tmp_path / "data", n_train=2000, n_test=10000)  # the real test set's size
    build.link_data(tmp_path / "data", [build.datastore.find_source("fashion-mnist")])
    nb = build.build_notebook(quick=True)
    part1, part2 = build.execute(nb, tmp_path, run_part2=True, prelude=build.GENERATED_CIFAR_PRELUDE)
    build.write_up(nb, part1, part2, ["this is the quick version"])
    nbformat.write(nb, tmp_path / "part2.ipynb")
    assert build.check_built(nb, quick=True, part2_ran=True) == []
    assert part2.chosen == max(part2.study, key=lambda row: row["val_accuracy"])["entry"]
    assert [row["entry"] for row in part2.study] == list(STUDY)  # the same fixed list on every machine
    answers = nb.cells[37].source
    assert all(f"**({letter})**" in answers for letter in "abc") and part2.chosen in answers
    printed = "".join(o.get("text", "") for o in nb.cells[35].outputs)
    assert f"Acc = {100 * part2.test_acc:.2f}%" in printed and f"test accuracy {part2.adapted_acc:.2%}" in printed
