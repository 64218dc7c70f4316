"""`smallcnn notebook`: the course's starter notebook, completed, executed and written up.

The template (template.py) is the starter with every "CODE HERE" block filled in, in jupytext's percent
format. Its directive lines become the core's own source, copied verbatim (a test proves each copy
identical): `# core: NAME, ...` the core's definitions of those names, `# core imports` the imports they
need beyond the starter's, `# published: table3` Table 3 as data from published.json. The builder runs the
notebook beside its data/ folder in a fresh kernel, reads each part's results back as a typed record
(results.py), and writes the answer cells from them (answers.py). Part 2 runs only on the official
CIFAR-100 (checksums verified, found locally or downloaded); otherwise its cells stay unexecuted and the
notebook says why.
"""

import ast
import importlib
import re
import sys
import textwrap
import time
from pathlib import Path

import jupytext
import nbformat

from smallcnn import datasets, datastore
from smallcnn.files import SmallCNNError, atomic_write
from smallcnn.notebook import answers, results
from smallcnn.notebook.check import ITEMS, check_notebook
from smallcnn.published import load_published

CORE_MODULES = ("data", "models", "train", "metrics", "plots", "compare", "study")
TEMPLATE = Path(__file__).with_name("template.py")
STARTER = Path(__file__).parent / "starter" / "Assignment4_starter.ipynb"
QUICK = {"subset": 5000, "epochs": 2}  # a smoke test of the whole notebook, not the deliverable
CELL_TIMEOUT = 6 * 3600  # Part 2's study takes about twenty minutes on two CPU cores; a laptop may be slower
DATA_FOLDER = "data"  # the starter's data_dir, "./data": beside the notebook
PART2, ANSWER_CELLS = 19, {1: 18, 2: 37}  # the starter's cells: Part 2's heading, each part's answer cell
# The line the template adds after the starter's device line (Apple's GPU); --device replaces it.
DEVICE_LINE = 'device = torch.device("mps") if torch.backends.mps.is_available() else device  # an Apple GPU'


# Run before the notebook (`execute(..., prelude=...)`) by the tests and benchmarks that give Part 2 generated
# CIFAR-100 files: torchvision then reads them without their checksums. Never part of the deliverable.
GENERATED_CIFAR_PRELUDE = """import torchvision
class _Unchecked(torchvision.datasets.CIFAR100):  # generated files: not the official checksums
    train_list = [[name, None] for name, _ in torchvision.datasets.CIFAR100.train_list]
    test_list = [[name, None] for name, _ in torchvision.datasets.CIFAR100.test_list]
    meta = {**torchvision.datasets.CIFAR100.meta, "md5": None}
torchvision.datasets.CIFAR100 = _Unchecked"""


class NotebookError(SmallCNNError):
    """The notebook cannot be built or executed."""


# --- the core's source, object by object -----------------------------------------------------------

def core_definitions() -> dict[str, str]:
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


def top_level_names(node: ast.AST) -> list[str]:
    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    return []


def bound_names(source: str) -> set[str]:
    """The names a cell's imports bind (`import torch.nn as nn` binds nn, `import os, random` both)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {alias.asname or alias.name.split(".")[0] for alias in node.names}
    return names


def core_imports(already: set[str]) -> list[str]:
    """The imports the core modules need beyond the package's own and the names `already` bound."""
    simple, renamed, froms = set(), set(), {}
    for module_name in CORE_MODULES:
        module = importlib.import_module(f"smallcnn.core.{module_name}")
        for node in ast.parse(Path(module.__file__).read_text()).body:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if (alias.asname or alias.name) not in already:
                        (renamed.add(ast.unparse(ast.Import([alias]))) if alias.asname else simple.add(alias.name))
            elif isinstance(node, ast.ImportFrom) and not node.module.startswith("smallcnn"):
                names = {alias.name for alias in node.names if alias.name not in already}
                if names:
                    froms.setdefault(node.module, set()).update(names)
    lines = ([f"import {', '.join(sorted(simple))}"] if simple else []) + sorted(renamed)
    return lines + [f"from {module} import {', '.join(sorted(names))}" for module, names in sorted(froms.items())]


# --- the template: the completed starter ---------------------------------------------------------

def quick_edits() -> dict[str, str]:
    """What the quick build changes in the template's text: fewer epochs and training images."""
    split = "train_ds, val_ds = split_train_val(train_full, recipe.val_fraction, recipe.seed)"
    edits = {split: f"{split}\ntrain_ds = Subset(train_ds, range(min(len(train_ds), {QUICK['subset']})))  # quick"}
    for name in ("fashion-mnist", "cifar100"):
        edits[f'recipe = RECIPES["{name}"]'] = f'recipe = replace(RECIPES["{name}"], epochs={QUICK["epochs"]})'
    return edits


def template_text(quick: bool = False, device: str = "auto") -> str:
    """The template's text, with the quick build's smaller settings or a fixed device where asked.

    `device` is what --device gave (checked before any work, see settings.pick_device): anything but auto
    replaces the template's Apple-GPU line after the starter's own device line with that device."""
    text = TEMPLATE.read_text()
    edits = quick_edits() if quick else {}
    if device != "auto":
        edits[DEVICE_LINE] = f"device = torch.device({device!r})  # chosen when this notebook was built"
    for old, new in edits.items():
        if old not in text:
            raise NotebookError(f"the template no longer holds {old!r}")
        text = text.replace(old, new)
    return text


def fill_code(source: str, definitions: dict, imports: list[str], published: str) -> str:
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


def published_table3() -> str:
    """Table 3 as literal data with its citation, from published.json (no figure typed in)."""
    table = load_published()["fashion_mnist_table3"]
    pairs = [f"{r['classifier']!r}: {r['fashion_mnist']!r}" for r in table["rows"]]
    lines = ",\n    ".join(", ".join(pairs[i:i + 3]) for i in range(0, len(pairs), 3))
    comment = textwrap.wrap(f"{table['citation']} Table 3's Fashion-MNIST column: each classifier family's best "
                            f"mean test accuracy.", 98)
    return "\n".join(f"# {line}" for line in comment) + f"\nTABLE3_ACCURACY = {{\n    {lines}}}"


def build_notebook(quick: bool = False, device: str = "auto") -> nbformat.NotebookNode:
    """The unexecuted notebook: the template's cells, the core's definitions and the published data filled in."""
    nb = jupytext.reads(template_text(quick, device), fmt="py:percent")
    definitions, published = core_definitions(), published_table3()
    imports = core_imports(bound_names(nb.cells[1].source))
    for cell in nb.cells:
        cell.metadata = {}
        if cell.cell_type == "code":
            cell.source = fill_code(cell.source, definitions, imports, published)
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    return nbformat.validator.normalize(nbformat.from_dict(nb))[1]


# --- execution --------------------------------------------------------------------------------------

def execute(nb, cwd, run_part2: bool, prelude: str | None = None) -> tuple:
    """Run the notebook's code cells in a fresh python3 kernel in `cwd`; returns (Part1, Part2 or None).

    Without Part 2, its cells keep no outputs. `prelude` (tests only) runs first, outside the notebook.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd)}})
    with client.setup_kernel():
        reply = client.wait_for_reply(client.kc.kernel_info())  # the kernel's Python, for the metadata
        nb.metadata["language_info"] = reply["content"]["language_info"]
        try:
            if prelude:
                probe(client, prelude)
            run_cells(client, nb, range(0, PART2))
            part1 = results.from_output(results.Part1, probe(client, results.probe_code(results.Part1)))
            part2 = None
            if run_part2:
                run_cells(client, nb, range(PART2, len(nb.cells)))
                part2 = results.from_output(results.Part2, probe(client, results.probe_code(results.Part2)))
        except CellExecutionError as exc:
            raise NotebookError(f"a cell failed: {str(exc).strip().splitlines()[-1]}") from None
    return part1, part2


def run_cells(client, nb, indices) -> None:
    for index in indices:
        if nb.cells[index].cell_type == "code":
            client.execute_cell(nb.cells[index], index)


def probe(client, code: str) -> str:
    """Run code in the kernel outside the notebook (no execution count); returns what it printed."""
    cell = nbformat.v4.new_code_cell(code)
    notebook, client.nb = client.nb, nbformat.v4.new_notebook(cells=[cell])  # nbclient stores the cell in it
    try:
        client.execute_cell(cell, 0, store_history=False)
    finally:
        client.nb = notebook
    return "".join(output.get("text", "") for output in cell.outputs if output.output_type == "stream")


# --- building the deliverable ----------------------------------------------------------------------

def find_data(data_dir, quick: bool) -> tuple:
    """(Fashion-MNIST source, CIFAR-100 source or None, reason Part 2 cannot run or None), found offline."""
    fashion = datastore.find_source("fashion-mnist", data_dir)
    if fashion is None:
        raise NotebookError("Fashion-MNIST not found; install it (`apt-get install dataset-fashion-mnist` or "
                            "`smallcnn data fetch fashion-mnist`) or pass --data-dir")
    try:
        cifar = datastore.find_source("cifar100", data_dir)
        if cifar is None and not quick:
            cifar = datastore.fetch("cifar100", data_dir)
    except datasets.DataError as exc:  # its text can name this machine's folders: for the terminal only
        print(f"note: CIFAR-100: {exc}", file=sys.stderr)
        return fashion, None, "the official CIFAR-100 could not be found or downloaded on the machine that built it"
    if cifar is None:
        return fashion, None, "the quick build does not download CIFAR-100"
    if not cifar.official:
        print(f"note: CIFAR-100: the files in {cifar.location} are {cifar.identity}", file=sys.stderr)
        return fashion, None, "the CIFAR-100 files found are not the official ones"
    return fashion, cifar, None


def link_data(folder: Path, sources: list) -> None:
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


def incompleteness(quick: bool, part2_reason: str | None) -> list[str]:
    quick_build = (f"this is the quick version ({QUICK['subset']:,} training images, {QUICK['epochs']} epochs), "
                   f"a smoke test below the assignment's 15 epochs")
    return [quick_build] * quick + [f"Part 2 was not executed: {part2_reason}"] * bool(part2_reason)


def write_up(nb, part1, part2, reasons: list[str]) -> None:
    """The answer cells from the results; an incomplete notebook says so at the top of its first cell."""
    nb.cells[ANSWER_CELLS[1]].source = answers.part1_answers(part1)
    nb.cells[ANSWER_CELLS[2]].source = (answers.part2_answers(part1, part2) if part2 else
                                        f"*Not answered: {reasons[-1]}.*")
    if reasons:
        notice = "\n".join(f"> - {reason}" for reason in reasons)
        nb.cells[0].source = f"> **This notebook is incomplete as a deliverable:**\n>\n{notice}\n\n{nb.cells[0].source}"


def write_notebook(nb, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: f.write(nbformat.writes(nb).encode()))


def write_html(nb, path: Path) -> None:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nb)
    atomic_write(path, lambda f: f.write(body.encode()))


def check_built(nb, quick: bool, part2_ran: bool) -> list[str]:
    """What `smallcnn check` holds against the built notebook, beyond what is expected: the disclosure
    (the student's own declaration is theirs to write), Part 2 when it could not run, and the quick
    build's short runs."""
    expected_unknown = {"disclosure"} | (set() if part2_ran else {"execution"} | {item for item, *_ in ITEMS
                                                                                   if item.startswith("p2.")})
    expected_flag = {"p1.run", "p2.run", "p2.test"} if quick else set()
    return [f"{item.item}: {item.status}: {'; '.join(item.reasons)}" for item in check_notebook(nb)
            if (item.status == "flag" and item.item not in expected_flag)
            or (item.status == "unknown" and item.item not in expected_unknown)]


def make_notebook(out, quick: bool = False, data_dir=None, allow_incomplete: bool = False, html: bool = False,
                  device: str = "auto", log=print) -> list[str]:
    """Build, execute, write up and save the notebook; returns the reasons it is incomplete (none: complete).

    The notebook runs in its own folder and reads its datasets from `data/` there, as it would anywhere.
    A notebook that could not run Part 2 is still written; unless allow_incomplete, that is an error.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)  # the command line checked that it can be written
    fashion, cifar, part2_reason = find_data(data_dir, quick)
    link_data(out.parent / DATA_FOLDER, [source for source in (fashion, cifar) if source])
    nb = build_notebook(quick, device)
    start = time.perf_counter()
    try:
        part1, part2 = execute(nb, out.parent, run_part2=part2_reason is None)
    except NotebookError as exc:
        write_notebook(nb, out)
        raise NotebookError(f"{exc}; the partly executed notebook is in {out}") from None
    log(f"executed in {time.perf_counter() - start:.0f} s")
    reasons = incompleteness(quick, part2_reason)
    write_up(nb, part1, part2, reasons)
    write_notebook(nb, out)
    if html:
        write_html(nb, out.with_suffix(".html"))
    problems = check_built(nb, quick, part2 is not None)
    if problems:
        raise NotebookError(f"{out} was written but `smallcnn check` flags it:\n" + "\n".join(problems))
    for reason in reasons:
        print(f"warning: incomplete deliverable: {reason}", file=sys.stderr)
    if part2_reason and not (allow_incomplete or quick):
        raise NotebookError(f"{out} was written without Part 2 ({part2_reason}); pass --allow-incomplete to accept")
    return reasons
