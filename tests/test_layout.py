"""The layout is the architecture: the core imports only the notebook's libraries, the tooling wraps it."""

import ast
import json
import sys
from pathlib import Path

import smallcnn

PACKAGE = Path(smallcnn.__file__).parent
NOTEBOOK_LIBRARIES = {"torch", "torchvision", "numpy", "matplotlib"}


def imported_modules(path):
    """Every module a file imports, by its full dotted name."""
    return imported_modules_of(path.read_text())


def imported_modules_of(source):
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add(node.module)
    return found


def test_the_core_imports_only_the_notebooks_libraries_and_itself():
    core = sorted((PACKAGE / "core").glob("*.py"))
    assert {p.stem for p in core} >= {"data", "models", "train", "plots", "compare", "study"}
    for path in core:
        for module in imported_modules(path):
            top = module.split(".")[0]
            allowed = top in NOTEBOOK_LIBRARIES or top in sys.stdlib_module_names or module.startswith("smallcnn.core")
            assert allowed, f"{path.name} imports {module}: the core may import only the notebook's libraries"


def test_a_tooling_import_in_the_core_would_be_caught(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from smallcnn import runs\nimport nbformat\n")
    assert imported_modules(bad) == {"smallcnn", "nbformat"}  # neither passes the rule above


def test_the_notebook_template_imports_only_what_the_starters_import_cells_import():
    """The template's own imports are the starter's given ones; the core's come in by the `# core imports`
    line, and the cells never import the package."""
    starter = json.loads((PACKAGE / "notebook" / "starter" / "Assignment4_starter.ipynb").read_text())
    given = {module for cell in starter["cells"] if "".join(cell["source"]).startswith("# import something")
             for module in imported_modules_of("".join(cell["source"]))}
    assert given >= {"torch", "torchvision", "numpy", "matplotlib.pyplot"}
    assert imported_modules(PACKAGE / "notebook" / "template.py") == given
