"""`smallcnn notebook`: build, execute and check the assignment's deliverable, one Jupyter notebook.

The notebook follows the assignment item by item. Its code cells are the core's own functions, copied
from the package source when the notebook is built (a test proves every copy is identical), followed
by a few lines that call them; it imports only torch, torchvision, numpy, matplotlib and the standard
library (scikit-learn, which the assignment also allows, serves `smallcnn compare`). The builder
executes it in a fresh kernel, reads the results back from the kernel, and only then writes each
"#EXPLAIN HERE" cell and the introduction from those results (answers.py).
Part 2 runs only on the official CIFAR-100 (checksums verified, found locally or downloaded);
otherwise its cells stay unexecuted and the notebook says why.
"""

import ast
import copy
import importlib
import json
import re
import sys
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from smallcnn import datastore
from smallcnn.files import SmallCNNError, atomic_write
from smallcnn.notebook import answers
from smallcnn.notebook.oldcheck import EXPLAIN_MARK, check_notebook, output_text

CORE_MODULES = ("data", "models", "train", "plots", "compare", "study")
QUICK = {"subset": 5000, "epochs": 2, "study_minutes": 1}  # a smoke test of the whole notebook, not the deliverable
CELL_TIMEOUT = 3600
DATA_FOLDER = "data"  # the template's DATA_DIR: beside the notebook


class NotebookError(SmallCNNError):
    """The notebook cannot be built or executed."""


# --- the core's source, object by object -----------------------------------------------------------

def core_definitions():
    """{name: source} of every top-level function, class and constant of the core modules."""
    found = {}
    for module_name in CORE_MODULES:
        module = importlib.import_module(f"smallcnn.core.{module_name}")
        source = Path(module.__file__).read_text()
        lines = source.splitlines()
        for node in ast.parse(source).body:
            names = top_level_names(node)
            if not names:
                continue
            first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            while first > 1 and lines[first - 2].startswith("#"):  # keep the comment lines just above
                first -= 1
            for name in names:
                found[name] = "\n".join(lines[first - 1:node.end_lineno])
    return found


def top_level_names(node):
    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    return []


def core_imports():
    """The core modules' imports without the package's own: the standard library on one line, then the rest."""
    stdlib, plain, names = {"math", "platform"}, set(), {}
    for module_name in CORE_MODULES:
        module = importlib.import_module(f"smallcnn.core.{module_name}")
        for node in ast.parse(Path(module.__file__).read_text()).body:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    simple = alias.name in sys.stdlib_module_names and not alias.asname
                    (stdlib.add(alias.name) if simple else plain.add(ast.unparse(ast.Import([alias]))))
            elif isinstance(node, ast.ImportFrom) and not node.module.startswith("smallcnn"):
                names.setdefault(node.module, set()).update(alias.name for alias in node.names)
    froms = [f"from {module} import {', '.join(sorted(found))}" for module, found in sorted(names.items())]
    return [f"import {', '.join(sorted(stdlib))}", *sorted(plain), *froms]


# --- the template: the notebook's cells, in the percent format -------------------------------------------

TEMPLATE = Path(__file__).with_name("template.py")
CELL = re.compile(r"^# %%(?: \[markdown\])?.*$", re.MULTILINE)
# What the quick build changes in the template: every replaced text must be there (a test proves it).
QUICK_EDITS = {
    **{f'default_config("{name}")': f'default_config("{name}", subset={QUICK["subset"]}, epochs={QUICK["epochs"]})'
       for name in ("fashion-mnist", "cifar100")},
    "STUDY_MINUTES = 8": f"STUDY_MINUTES = {QUICK['study_minutes']}"}
AUTO_DEVICE = ('DEVICE = torch.accelerator.current_accelerator() if torch.accelerator.is_available() '
               'else torch.device("cpu")')


def template_cells(text):
    """[(kind, tags, source)] of the template: kind "code" or "markdown", tags after the marker."""
    markers = list(CELL.finditer(text))
    cells = []
    for marker, following in zip(markers, markers[1:] + [None]):
        body = text[marker.end():following.start() if following else len(text)].strip("\n")
        header = marker.group(0)
        if "[markdown]" in header:
            lines = [line[2:] if line.startswith("# ") else line.lstrip("#") for line in body.splitlines()]
            cells.append(("markdown", header.split("]", 1)[1].split(), "\n".join(lines).strip()))
        else:
            cells.append(("code", header[4:].split(), body.strip()))
    return cells


def fill_code(source, definitions, imports, published):
    """A code cell's source with each directive line replaced by what it names."""
    lines = []
    for line in source.splitlines():
        if line.startswith("# core: "):
            lines += ["\n\n".join(definitions[name.strip()] for name in line[len("# core: "):].split(",")), ""]
        elif line == "# core imports":
            lines += imports
        elif line == "# published: table3":
            lines.append(published)
        else:
            lines.append(line)
    return re.sub(r"\n{4,}", "\n\n\n", "\n".join(lines)).strip()


def published_table3():
    """Table 3 as literal data with its citation, from published.json (no figure typed in)."""
    table = answers.load_published()["fashion_mnist_table3"]
    pairs = [f"{r['classifier']!r}: {r['fashion_mnist']!r}" for r in table["rows"]]
    lines = ",\n    ".join(", ".join(pairs[i:i + 3]) for i in range(0, len(pairs), 3))
    return f"# {table['citation']}\n# {table['table']} Its Fashion-MNIST column, as published.\n" \
           f"TABLE3_ACCURACY = {{\n    {lines}}}"


def template_text(quick=False, device="auto"):
    """The template's text, with the quick build's smaller settings or a fixed device where asked."""
    text = TEMPLATE.read_text()
    edits = dict(QUICK_EDITS) if quick else {}
    if device != "auto":
        edits[AUTO_DEVICE] = f"DEVICE = torch.device({device!r})"
    for old, new in edits.items():
        if old not in text:
            raise NotebookError(f"the template no longer holds {old!r}")
        text = text.replace(old, new)
    return text


def build_notebook(quick=False, device="auto"):
    """The unexecuted notebook: the template's cells, the core's definitions and the published data filled in."""
    definitions, imports, published = core_definitions(), core_imports(), published_table3()
    cells = []
    for kind, tags, source in template_cells(template_text(quick, device)):
        if kind == "code":
            cell = new_code_cell(fill_code(source, definitions, imports, published))
        else:
            cell = new_markdown_cell(source)
            for tag in tags:
                key, _, value = tag.partition("=")
                cell.metadata.setdefault("smallcnn", {})[key] = value or True
        cells.append(cell)
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


# --- execution --------------------------------------------------------------------------------------

# Read back from the kernel after the last cell: the results the explanations are written from.
RESULTS_CODE = """
import dataclasses as _dataclasses, json as _json
_part = lambda config, model, state, test_accuracy, classes, splits: {
    "config": _dataclasses.asdict(config), "epochs": config.epochs, "params": count_parameters(model),
    "history": state.history, "test_accuracy": test_accuracy, "num_classes": len(classes),
    "train_images": len(splits.train_y), "val_images": len(splits.val_y)}
_results = {"part1": {**_part(config1, model1, state1, test_accuracy1, classes1, splits1), "per_class": per_class1,
                      "confusions": confusions1, "ranked": ranked1}}
if "chosen_test_accuracy2" in globals():
    _chosen = next(row for row in study2 if row["entry"] == chosen2)
    _results["part2"] = {**_part(config2, model2, state2, test_accuracy2, classes2, splits2), "study": study2,
                         "chosen": chosen2, "chosen_change": _chosen["change"], "chosen_params": _chosen["params"],
                         "chosen_test_accuracy": chosen_test_accuracy2}
print(_json.dumps(_results))
"""


def part2_cells(nb):
    """Indices of the cells from the Part 2 heading on."""
    start = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.startswith("# Part 2"))
    return range(start, len(nb.cells))


def execute(nb, cwd, run_part2):
    """Run the notebook's code cells in a fresh python3 kernel; returns the results read back from it.

    Without Part 2, its cells are left out of the run and keep no outputs.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    skipped = set() if run_part2 else set(part2_cells(nb))
    runnable = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and i not in skipped]
    run_nb = new_notebook(cells=[copy.deepcopy(nb.cells[i]) for i in runnable] + [new_code_cell(RESULTS_CODE)],
                          metadata=copy.deepcopy(nb.metadata))
    client = NotebookClient(run_nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd)}})
    try:
        client.execute()
    except CellExecutionError as exc:
        failure = str(exc).strip().splitlines()[-1]
        copy_outputs(run_nb, nb, runnable)
        raise NotebookError(f"a cell failed: {failure}") from None
    copy_outputs(run_nb, nb, runnable)
    nb.metadata["language_info"] = run_nb.metadata.get("language_info", {})
    return json.loads(output_text(run_nb.cells[-1]))


def copy_outputs(run_nb, nb, runnable):
    for source, index in zip(run_nb.cells, runnable):
        nb.cells[index].outputs = source.get("outputs", [])
        nb.cells[index].execution_count = source.get("execution_count")
        if "execution" in source.metadata:  # nbclient's timestamps: when each cell started and ended
            nb.cells[index].metadata["execution"] = source.metadata["execution"]


# --- the explanations and the introduction, from the results ----------------------------------------

def write_explanations(nb, results, part2_reason):
    references = answers.load_published()["cifar100_references"]["results"]
    part1, part2 = results["part1"], results.get("part2")
    texts = {"8a": lambda: answers.answer_8a(part1), "8b": lambda: answers.answer_8b(part1),
             "7a": lambda: answers.answer_7a(part1, part2), "7b": lambda: answers.answer_7b(part2, references),
             "7c": lambda: answers.answer_7c(part2)}
    for cell in nb.cells:
        key = cell.metadata.get("smallcnn", {}).get("answer")
        if key:
            text = texts[key]() if key.startswith("8") or part2 else f"*Not written: {part2_reason}*"
            cell.source = f"{EXPLAIN_MARK}\n\n{text}"


def recipe(part):
    """One line of a part's settings, from the configuration it ran with."""
    c = part["config"]
    return (f"{c['epochs']} epochs of SGD (batch size {c['batch_size']}, peak learning rate {c['lr']}, momentum "
            f"{c['momentum']}, one-cycle schedule), augmentation: {c['augment']}")


def introduction(quick, results, seconds, part2_reason):
    part1 = results["part1"]
    lines = ["# Introduction",
             "This notebook trains the assignment's small convolutional network on Fashion-MNIST (Part 1) and, "
             "adapted to colour images and 100 classes, on CIFAR-100 (Part 2). Every choice is made on a "
             "validation split taken at random from the training set; the test set is used only to report.",
             "",
             f"- Part 1: {recipe(part1)}; test accuracy {part1['test_accuracy']:.2%} (item 7).",
             "- Part 2: " + (part2_line(results["part2"]) if "part2" in results else f"not run ({part2_reason})."),
             f"- Executed top to bottom in {seconds / 60:.1f} minutes with Python {sys.version.split()[0]} and the "
             f"library versions printed in the first code cell."]
    if quick:
        lines.insert(1, f"> **Quick version ({quick_words()}): a smoke test of the notebook, below the "
                        f"assignment's 15 epochs; not the deliverable.**\n")
    return "\n".join(lines)


def part2_line(part2):
    """Part 2 in one line: the adapted network's recipe, the model chosen on validation and both test accuracies."""
    return (f"{recipe(part2)}; my implementation, chosen on validation among the adapted network and the study's "
            f"variants, is {part2['chosen']} with test accuracy {part2['chosen_test_accuracy']:.2%}; the adapted "
            f"network itself reached {part2['test_accuracy']:.2%} (item 6).")


# --- building the deliverable ----------------------------------------------------------------------

def find_data(data_dir, quick):
    """(Fashion-MNIST source, CIFAR-100 source or None, reason Part 2 cannot run or None), found offline."""
    fashion = datastore.find_source("fashion-mnist", data_dir)
    if fashion is None:
        raise NotebookError("Fashion-MNIST not found; install it (`apt-get install dataset-fashion-mnist` or "
                            "`smallcnn data fetch fashion-mnist`) or pass --data-dir")
    try:
        cifar = datastore.find_source("cifar100", data_dir)
        if cifar is None and not quick:
            cifar = datastore.fetch("cifar100", data_dir)
    except datastore.DataError as exc:  # its text can name this machine's folders: for the terminal only
        print(f"note: CIFAR-100: {exc}", file=sys.stderr)
        return fashion, None, "the official CIFAR-100 could not be found or downloaded on the machine that built it"
    if cifar is None:
        return fashion, None, "the quick build does not download CIFAR-100"
    if not cifar.official:
        print(f"note: CIFAR-100: the files in {cifar.location} are {cifar.identity}", file=sys.stderr)
        return fashion, None, "the CIFAR-100 files found are not the official ones"
    return fashion, cifar, None


def show_data(folder, sources):
    """Make each dataset found offline visible in the notebook's data folder, in torchvision's layout.

    The notebook reads `data/` beside itself, exactly as it will on a TA's machine; here each dataset's
    folder there is a link to the verified copy the tooling found. A link to any other copy is replaced; a
    real folder already there (the user's own data) is left alone.
    """
    for source in sources:
        name = source.files_dir.relative_to(source.root).parts[0]  # FashionMNIST or cifar-100-python
        link, verified = folder / name, (Path(source.root) / name).resolve()
        if link.is_symlink() and link.resolve() != verified:
            link.unlink()  # a link to another copy, or a dangling one from an earlier build
        if not link.exists():
            folder.mkdir(parents=True, exist_ok=True)
            link.symlink_to(verified, target_is_directory=True)


def finish(nb, results, quick, seconds, part2_reason):
    """Write the explanations and the introduction; mark an incomplete deliverable in its first cells."""
    write_explanations(nb, results, part2_reason)
    intro = next(c for c in nb.cells if c.metadata.get("smallcnn", {}).get("introduction"))
    intro.source = introduction(quick, results, seconds, part2_reason)
    reasons = incompleteness(quick, part2_reason)
    if reasons:
        nb.cells.insert(1, new_markdown_cell("> **This notebook is incomplete as a deliverable:**\n>\n"
                              + "\n".join(f"> - {reason}" for reason in reasons)))
    return reasons


def quick_words():
    return (f"{QUICK['subset']:,} training images, {QUICK['epochs']} epochs, a {QUICK['study_minutes']}-minute "
            f"architecture study")


def incompleteness(quick, part2_reason):
    reasons = [f"this is the --quick version ({quick_words()}), below the assignment's 15 epochs"] if quick else []
    if part2_reason:
        reasons.append(f"Part 2 did not run: {part2_reason}")
    return reasons


def write_notebook(nb, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: f.write(nbformat.writes(nb).encode()))


def write_html(nb, path):
    try:
        from nbconvert import HTMLExporter
    except ImportError:
        raise NotebookError("--html needs nbconvert (pip install nbconvert)") from None
    body, _ = HTMLExporter().from_notebook_node(nb)
    atomic_write(path, lambda f: f.write(body.encode()))


def make_notebook(out, quick=False, data_dir=None, allow_incomplete=False, html=False, device="auto", log=print):
    """Build, execute, write up, save and check the notebook; returns the check's summary line.

    The notebook runs in its own folder and reads its datasets from `data/` there, as it would anywhere.
    A notebook that could not run Part 2 is still written; unless allow_incomplete, that is an error.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)  # the command line checked that it can be written
    fashion, cifar, part2_reason = find_data(data_dir, quick)
    show_data(out.parent / DATA_FOLDER, [source for source in (fashion, cifar) if source])
    nb = build_notebook(quick, device)
    start = time.perf_counter()
    try:
        results = execute(nb, out.parent, run_part2=part2_reason is None)
    except NotebookError as exc:
        write_notebook(nb, out)
        raise NotebookError(f"{exc}; the partly executed notebook is in {out}") from None
    seconds = time.perf_counter() - start
    log(f"executed in {seconds:.0f} s")
    reasons = finish(nb, results, quick, seconds, part2_reason)
    write_notebook(nb, out)
    if html:
        write_html(nb, out.with_suffix(".html"))
    problems, summary = check_notebook(nb)
    if problems:
        raise NotebookError(f"{out} was written but fails its check:\n" + "\n".join(problems))
    for reason in reasons:
        print(f"warning: incomplete deliverable: {reason}", file=sys.stderr)
    if part2_reason and not (allow_incomplete or quick):
        raise NotebookError(f"{out} was written without Part 2 ({part2_reason}); pass --allow-incomplete to accept")
    return summary
