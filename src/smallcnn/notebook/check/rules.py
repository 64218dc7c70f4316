"""The notebook-wide items of `smallcnn check`: the AI disclosure, the execution, the libraries, the Python
version (the assignment's Deliverables section).
"""

import ast
import re
import sys

from smallcnn.notebook.check.cells import DISCLOSURE_WORDS, Cell, Finding, shorten
from smallcnn.notebook.check.items import code, executed, test_accuracy
from smallcnn.notebook.check.layout import IMPORT_CELLS, PART_OFFSET, Layout, starter
from smallcnn.notebook.check.values import parse_cell

# What our own deliverable's first cell says until the student writes their declaration there.
DISCLOSURE_PLACEHOLDER = "Replace this line with your own statement of how you used AI tools"
PROVENANCE_GAP = 10.0  # percentage points between the last validation and the test accuracy
MAX_LISTED = 3  # reasons of one kind listed before "and N more"


def listed(problems: list[str]) -> list[str]:
    extra = len(problems) - MAX_LISTED
    return problems[:MAX_LISTED] + ([f"... and {extra} more like these"] if extra > 0 else [])


# --- the AI disclosure -----------------------------------------------------------------------------

def check_disclosure(cells: list[Cell]) -> Finding:
    """An AI-use disclosure in the first text block, and not our deliverable's placeholder."""
    texts = [cell for cell in cells if cell.kind == "markdown"]
    first = texts[0] if texts else None
    if first and DISCLOSURE_PLACEHOLDER in first.source:
        return Finding("unknown", [f"{first.quote(DISCLOSURE_PLACEHOLDER)}: the student's own declaration is "
                                   "still the placeholder: replace it"])
    if first and (line := disclosure_line(first)):
        return Finding("ok", [first.quote(line)])
    later = next((cell for cell in texts[1:] if disclosure_line(cell)), None)
    if later:
        return Finding("flag", [f"{later.quote(disclosure_line(later))}: not in the first text block "
                                f"(found in cell {later.index})"])
    return Finding("flag", ["no AI-use disclosure: the assignment wants it in the first text block"])


def disclosure_line(cell: Cell) -> str:
    return next((line for line in cell.source.splitlines() if DISCLOSURE_WORDS.search(line)), "")


# --- execution -------------------------------------------------------------------------------------

def check_execution(layout: Layout) -> Finding:
    """Every code cell executed, in order, without errors, and each test accuracy from the model trained just
    above it. A Part 2 that never ran makes the item "cannot tell", not a flag. Counts that skip numbers or do
    not start at 1 (a cell re-run in place, Run All without a restart) are noted, not flagged."""
    part2_ran = executed(layout.part_cells(2))
    part2 = {cell.index for cell in layout.part_cells(2)}
    cells = [cell for cell in code(layout.cells) if part2_ran or cell.index not in part2]
    flags = listed([f"cell {cell.index}: error output {shorten(output.error, 80)}"
                    for cell in cells for output in cell.outputs if output.kind == "error"])
    notes = [f"cell {cell.index}: {output.skipped}" for cell in layout.cells for output in cell.outputs
             if output.skipped]
    missing = [str(cell.index) for cell in cells if cell.count is None and not cell.blank]
    if missing:
        flags.append(f"cells {', '.join(missing)} not executed: run all cells before handing in")
    ran = [cell for cell in cells if cell.count is not None]
    disorder, skips = [], []
    for run in runs(ran, layout):
        found = order_problems(run)
        disorder, skips = disorder + found[0], skips + found[1]
    flags += listed(disorder)
    notes += listed(skips)
    for part in (1, 2) if part2_ran else (1,):
        flags += provenance(part, layout, bool(disorder))
    not_run = [] if part2_ran else ["Part 2 was not executed"]
    if flags:
        return Finding("flag", flags + not_run + notes)
    summary = (f"{len(ran)} code cells ran in order ([{ran[0].count}]-[{ran[-1].count}])" if ran
               else "no code cell ran")
    return Finding("ok" if part2_ran else "unknown", not_run + [summary] + notes)


def runs(cells: list[Cell], layout: Layout) -> list[list[Cell]]:
    """The executed cells as one run, or as two where Part 2 ran in a fresh kernel of its own: its import cell
    (which imports and seeds everything again) counted [1]."""
    part2_import = layout.cell(IMPORT_CELLS[1])
    if part2_import is not None and part2_import.count == 1 and part2_import in cells:
        split = cells.index(part2_import)
        return [cells[:split], cells[split:]]
    return [cells]


def order_problems(cells: list[Cell]) -> tuple[list[str], list[str]]:
    """(flags, notes) for the execution counts in notebook order: a count lower than the one above it is a cell
    run out of order (flagged); a first count other than 1, or a count skipping numbers, is noted."""
    flags, notes = [], []
    if cells and cells[0].count != 1:
        notes.append(f"cell {cells[0].index}: counts start at [{cells[0].count}], not [1]: not one Run All from "
                     "a fresh kernel (not flagged)")
    for previous, cell in zip(cells, cells[1:]):
        if cell.count <= previous.count:
            flags.append(f"cell {cell.index} [{cell.count}] ran before cell {previous.index} [{previous.count}] "
                         "above it: out of order")
        elif cell.count != previous.count + 1:
            notes.append(f"counts jump from [{previous.count}] (cell {previous.index}) to [{cell.count}] "
                         f"(cell {cell.index}): a cell ran more than once (not flagged)")
    return flags, notes


def provenance(part: int, layout: Layout, out_of_order: bool) -> list[str]:
    """A test accuracy that cannot come from the model trained above it: the model cell re-run after the
    training and before the test, or a test far from the last validation accuracy in a disordered run."""
    offset = PART_OFFSET[part]
    model, train, test = (layout.cell(index + offset) for index in (6, 12, 16))
    if None in (model, train, test) or None in (model.count, train.count, test.count):
        return []
    if train.count < model.count < test.count:
        return [f"cell {test.index} [{test.count}]: the test ran on a model rebuilt after training (model cell "
                f"{model.index} ran as [{model.count}], after the training cell {train.index} [{train.count}])"]
    found, val = test_accuracy(part, layout), last_validation_accuracy(train)
    if out_of_order and found and val is not None and abs(found[0] - val) > PROVENANCE_GAP:
        return [f"{found[1].quote(found[2])}: {found[0]:.2f}% is {abs(found[0] - val):.1f} points from the last "
                f"validation accuracy {val:.2f}%, and cells ran out of order: not the model trained above"]
    return []


def last_validation_accuracy(cell: Cell) -> float | None:
    """The validation accuracy (in %) on the last line of the training output that prints one."""
    for line in reversed(cell.text_output.splitlines()):
        tail = re.split(r"val", line, flags=re.IGNORECASE)
        if len(tail) > 1 and (match := re.search(r"acc\w*\s*[:=]?\s*(\d+(?:\.\d+)?)\s*(%?)", tail[-1], re.I)):
            value = float(match[1])
            return value * 100 if value <= 1 and not match[2] else value
    return None


# --- libraries -------------------------------------------------------------------------------------

def allowed_libraries() -> set[str]:
    """The top-level modules the starter's import cells import, and scikit-learn."""
    modules = set()
    for index in IMPORT_CELLS:
        modules |= {name for name, _ in imports(starter()[index])}
    return modules | {"sklearn"}


def imports(cell: Cell) -> list[tuple[str, str]]:
    """[(top-level module, line)] a code cell imports (read with ast; line by line where it does not parse)."""
    lines = cell.source.splitlines()
    try:
        tree = parse_cell(cell)
    except (SyntaxError, ValueError, RecursionError):
        return [(m[2].split(".")[0], m[0].strip()) for line in lines
                if (m := re.match(r"\s*(import|from)\s+([\w.]+)", line))]
    found = []
    for node in ast.walk(tree):
        line = lines[node.lineno - 1].strip() if hasattr(node, "lineno") else ""
        if isinstance(node, ast.Import):
            found += [(alias.name.split(".")[0], line) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append(((node.module or "").split(".")[0] if not node.level else "." * node.level, line))
        elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in (
                "__import__", "import_module") and node.args and isinstance(node.args[0], ast.Constant):
            found.append((str(node.args[0].value).split(".")[0], line))
    return found


def check_libraries(cells: list[Cell]) -> Finding:
    """Only the starter's libraries and scikit-learn; the standard library is reported, package installs flagged."""
    allowed = allowed_libraries()
    flags, standard, used = [], {}, set()
    for cell in code(cells):
        flags += [f"{cell.quote(line)}: installs packages" for line in cell.source.splitlines()
                  if re.match(r"\s*[!%]\s*(pip|conda|mamba|uv)\b.*\binstall\b", line)]
        for module, line in imports(cell):
            if module in allowed:
                used.add(module)
            elif module in sys.stdlib_module_names:
                standard.setdefault(module, cell.index)
            else:
                flags.append(f"{cell.quote(line)}: {module} is not among the starter's libraries or scikit-learn")
    notes = [f"standard library too: {', '.join(f'{m} (cell {i})' for m, i in standard.items())} (not flagged)"
             ] if standard else []
    if flags:
        return Finding("flag", flags + notes)
    return Finding("ok", [f"imports {', '.join(sorted(used)) or 'nothing'}: the starter's libraries"] + notes)


# --- Python ----------------------------------------------------------------------------------------

def check_python(metadata) -> Finding:
    """Python 3.12, from language_info.version or else a version in the kernelspec's name."""
    metadata = metadata if isinstance(metadata, dict) else {}
    info = metadata.get("language_info") if isinstance(metadata.get("language_info"), dict) else {}
    spec = metadata.get("kernelspec") if isinstance(metadata.get("kernelspec"), dict) else {}
    version, where = str(info.get("version", "")), "language_info.version"
    if not re.match(r"\d+\.\d+", version):
        named = re.search(r"3\.\d+", f"{spec.get('display_name', '')} {spec.get('name', '')}")
        version, where = (named[0], "the kernelspec") if named else ("", "")
    if not version:
        return Finding("unknown", ["the kernel metadata names no Python version (no language_info.version)"])
    if re.match(r"3\.12(\D|$)", version):
        return Finding("ok", [f"Python {version} ({where})"])
    return Finding("flag", [f"Python {version} ({where}) where the assignment asks for 3.12"])
