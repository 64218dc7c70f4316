"""`smallcnn notebook --check`: does a notebook meet the assignment's rules and this project's?

Any notebook can be checked, not only one this package built: the AI-use disclaimer first; the
assignment's structure (Part 1 items 1-8 with 8(a) and 8(b), Part 2 items 1-7 with 7(a)-(c), each question
answered in an "#EXPLAIN HERE" markdown cell); code cells that start with "#CODE HERE", ran once in order
without errors, import only the allowed libraries, contain no tooling and no path of the machine that
built them, give every function a docstring,
stay within MAX_CODE_LINES with enough comments; and, for every part that ran, the spec model printed in
the assignment's order, a loss plot, a printed test accuracy, and answers of 3-8 sentences whose
percentages appear in the outputs or among the cited published figures.
"""

import ast
import re
import sys

import nbformat

from smallcnn.files import SmallCNNError
from smallcnn.notebook import answers

CODE_MARK, EXPLAIN_MARK = "#CODE HERE", "#EXPLAIN HERE"
ALLOWED_IMPORTS = {"torch", "torchvision", "numpy", "matplotlib", "sklearn"} | set(sys.stdlib_module_names)
MAX_CODE_LINES = 500
PLACEHOLDER = "_Replace this line with your own statement"  # the disclaimer's blank for the student


def output_text(cell):
    """Everything a code cell printed or displayed as text."""
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type in ("execute_result", "display_data"):
            parts.append(output.get("data", {}).get("text/plain", ""))
    return "".join(parts)


PART_ITEMS = {1: 8, 2: 7}
QUESTIONS = {1: ("8(a)", "8(b)"), 2: ("7(a)", "7(b)", "7(c)")}
ITEMS_WITHOUT_CODE = {(2, 7)}  # Part 2's item 7 holds only the questions
# Names that belong to the tooling, never to the notebook a student hands in.
TOOLING_WORDS = ("checkpoint", "resume", "atomic", "argparse", "tempfile", "umask", "throughput", "answer_")
SENTENCE_END = re.compile(r"(?<!\be\.g\.)(?<!\bi\.e\.)(?<!\bcf\.)(?<!\bvs\.)(?<!\bal\.)(?<=[.!?])\s+", re.IGNORECASE)
PERCENT = re.compile(r"\d+\.\d+%")
LAYER_ORDER = re.compile(r"\b(Conv2d|ReLU|MaxPool2d|Linear)\(")
# A path or name of the machine that built the notebook: absolute folders, a home folder, a Windows drive.
MACHINE_PATH = re.compile(r"(?<![\w.])(?:/(?:home|root|usr|tmp|var|opt|Users|Volumes|mnt|media|data|scratch|private|"
                          r"work|srv|etc)/|~/)|(?<![\w\\])[A-Za-z]:(?:\\{1,2}|/)(?=\w)")


def count_sentences(text):
    """Sentences of prose (table rows left out): pieces ending in . ! or ? that hold at least 3 words."""
    prose = " ".join(line for line in text.splitlines() if not line.lstrip().startswith("|"))
    pieces = SENTENCE_END.split(prose.strip())
    return sum(1 for p in pieces if p.endswith((".", "!", "?")) and len(re.findall(r"[A-Za-z]\S*", p)) >= 3)


def outline(nb):
    """[(part, item, question, cell index, cell)]: every cell tagged with the headings above it."""
    tagged, part, item, question = [], 0, None, None
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            if heading := re.match(r"#\s+Part\s+(\d)", cell.source):
                part, item, question = int(heading[1]), None, None
            elif heading := re.match(r"##\s+(\d+)\.", cell.source):
                item, question = int(heading[1]), None
            elif heading := re.match(r"##\s+\D", cell.source):
                item, question = None, None
            elif heading := re.match(r"###\s+(\d+\([a-z]\))", cell.source):
                question = heading[1]
        tagged.append((part, item, question, index, cell))
    return tagged


def code_lines(source):
    """(code lines, comment and docstring lines) of one cell, blank lines and the #CODE HERE mark left out."""
    lines = source.splitlines()
    docstring = set()
    try:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and ast.get_docstring(node) is not None:
                docstring |= set(range(node.body[0].lineno, node.body[0].end_lineno + 1))
    except SyntaxError:
        pass
    code = comments = 0
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped or stripped == CODE_MARK:
            continue
        if number in docstring or stripped.startswith("#"):
            comments += 1
        else:
            code += 1
            comments += "  # " in line  # a comment at the end of a code line
    return code, comments


def non_blank_lines(source):
    """The lines the size limit counts: every non-blank line but the #CODE HERE mark (comments included once)."""
    return sum(1 for line in source.splitlines() if line.strip() not in ("", CODE_MARK))


def parse_code(source):
    """The syntax tree of a code cell, its IPython magics (% and ! lines) blanked out."""
    return ast.parse("\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()))


def forbidden_imports(source):
    """Modules imported outside ALLOWED_IMPORTS (IPython % and ! lines are skipped)."""
    tree = parse_code(source)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] not in ALLOWED_IMPORTS]
        elif isinstance(node, ast.ImportFrom) and (node.level or node.module.split(".")[0] not in ALLOWED_IMPORTS):
            found.append(node.module or ".")
    return found


def undocumented(source):
    """The functions and methods defined in the code that have no docstring (a class documents its __init__)."""
    try:
        tree = parse_code(source)
    except SyntaxError:
        return []
    return [node.name for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef) and ast.get_docstring(node) is None and node.name != "__init__"]


def tooling_names(source):
    """The identifiers in the code that name a tool's job (checkpoints, resume, atomic writes, ...)."""
    try:
        tree = parse_code(source)
    except SyntaxError:
        return []
    names = set()
    for node in ast.walk(tree):
        for field in ("id", "attr", "name", "arg", "module"):
            value = getattr(node, field, None)
            if isinstance(value, str) and any(word in value.lower() for word in TOOLING_WORDS):
                names.add(value)
    return sorted(names)


def check_structure(tagged):
    problems = []
    for part, items in PART_ITEMS.items():
        if not any(p == part for p, *_ in tagged):
            problems.append(f"no '# Part {part}' heading")
            continue
        for item in range(1, items + 1):
            cells = [c for p, i, q, _, c in tagged if p == part and i == item and q is None]
            if not cells:
                problems.append(f"Part {part}: no heading '## {item}. ...'")
            elif (part, item) not in ITEMS_WITHOUT_CODE and not any(c.cell_type == "code" for c in cells):
                problems.append(f"Part {part} item {item}: no '#CODE HERE' code cell")
        for question in QUESTIONS[part]:
            cells = [c for p, i, q, _, c in tagged if p == part and q == question]
            if not any(c.cell_type == "markdown" and c.source.startswith(EXPLAIN_MARK) for c in cells):
                problems.append(f"Part {part}: question {question} has no '#EXPLAIN HERE' markdown cell")
    return problems


def check_code(nb):
    """Markers, execution order, errors, imports, tooling, size and comments of every code cell."""
    problems, previous, total_code, total_comments, size = [], 0, 0, 0, 0
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        where = f"cell {index + 1}"
        if not cell.source.startswith(CODE_MARK):
            problems.append(f"{where}: a code cell must start with {CODE_MARK!r}")
        count = cell.get("execution_count")
        if count is not None:
            if count != previous + 1:
                problems.append(f"{where}: execution count {count} after {previous}: run all cells once, in order")
            previous = count
        problems += [f"{where}: error output {o.ename}: {o.evalue}" for o in cell.get("outputs", [])
                     if o.output_type == "error"]
        try:
            problems += [f"{where}: forbidden import {m!r}" for m in forbidden_imports(cell.source)]
        except SyntaxError as exc:
            problems.append(f"{where}: the code does not parse ({exc.msg})")
        problems += [f"{where}: function {name}() has no docstring" for name in undocumented(cell.source)]
        if tooling := tooling_names(cell.source):
            problems.append(f"{where}: tooling has no place in the notebook ({', '.join(tooling)})")
        code, comments = code_lines(cell.source)
        total_code, total_comments = total_code + code, total_comments + comments
        size += non_blank_lines(cell.source)
        if code + comments >= 8 and comments < 0.15 * code:
            problems.append(f"{where}: {comments} comment/docstring lines for {code} code lines (at least 15% needed)")
    if size > MAX_CODE_LINES:
        problems.append(f"the notebook has {size} non-blank code lines (at most {MAX_CODE_LINES})")
    if total_comments < 0.2 * total_code:
        problems.append(f"{total_comments} comment/docstring lines for {total_code} code lines (at least 20% needed)")
    return problems


def part_ran(tagged, part):
    return any(c.cell_type == "code" and c.get("execution_count") for p, *_, c in tagged if p == part)


def outputs_of(tagged, part, item):
    cells = [c for p, i, q, _, c in tagged if p == part and i == item and c.cell_type == "code"]
    return "".join(output_text(c) for c in cells), [o for c in cells for o in c.get("outputs", [])
                                                  if "image/png" in o.get("data", {})]


def published_percentages():
    """Every accuracy in published.json as the answers write it: cited figures, not this run's outputs."""
    published = answers.load_published()
    values = [r["fashion_mnist"] for r in published["fashion_mnist_table3"]["rows"]]
    values += [r["accuracy"] for r in published["cifar100_references"]["results"]]
    return {answers.pct(value) for value in values}


def check_results(nb, tagged):
    """Executed parts: the spec model printed in order, loss plots, test accuracy, answers that match outputs."""
    problems = []
    if not part_ran(tagged, 1):
        return ["Part 1 was not executed"]
    if not nb.metadata.get("language_info", {}).get("version", "").startswith("3.12"):
        problems.append("the kernel was not Python 3.12 (metadata language_info.version)")
    layers = LAYER_ORDER.findall(outputs_of(tagged, 1, 1)[0])
    if layers != ["Conv2d", "ReLU", "MaxPool2d"] * 3 + ["Linear"]:
        problems.append(f"Part 1 item 1 must print the spec model in the assignment's order; found {layers}")
    all_outputs = "".join(output_text(c) for c in nb.cells if c.cell_type == "code")
    cited = published_percentages()
    for part, (plot_item, accuracy_item) in {1: (5, 7), 2: (5, 6)}.items():
        if not part_ran(tagged, part):
            continue
        if not outputs_of(tagged, part, plot_item)[1]:
            problems.append(f"Part {part} item {plot_item}: no loss plot")
        if not re.search(r"Test accuracy: \d+\.\d+%", outputs_of(tagged, part, accuracy_item)[0]):
            problems.append(f"Part {part} item {accuracy_item}: no 'Test accuracy: NN.NN%' printed")
        for cell_part, _, question, index, cell in tagged:
            if cell_part != part or cell.cell_type != "markdown" or not cell.source.startswith(EXPLAIN_MARK):
                continue
            text = cell.source[len(EXPLAIN_MARK):]
            if not 3 <= count_sentences(text) <= 8:
                problems.append(f"cell {index + 1} ({question}): {count_sentences(text)} sentences (3 to 8 wanted)")
            problems += [f"cell {index + 1} ({question}): {number} appears in no output above nor in published.json"
                         for number in PERCENT.findall(text) if number not in all_outputs and number not in cited]
    return problems


def machine_paths(nb):
    """Every cell that names a place on the machine that built it (in its source or its outputs)."""
    found = []
    for index, cell in enumerate(nb.cells):
        text = cell.source + (output_text(cell) if cell.cell_type == "code" else "")
        found += [f"cell {index + 1}: {m.group(0)!r} names a place on one machine; the notebook must run anywhere"
                  for m in MACHINE_PATH.finditer(text)]
    return found


def check_notebook(nb):
    """(problems, summary): an empty problem list means the notebook passes every rule above."""
    problems = machine_paths(nb)
    if not nb.cells or nb.cells[0].cell_type != "markdown" or not re.search(r"\bAI\b", nb.cells[0].source):
        problems.append("cell 1: the first cell must be the markdown AI-use disclaimer")
    tagged = outline(nb)
    problems += check_structure(tagged) + check_code(nb) + check_results(nb, tagged)
    ran = [part for part in PART_ITEMS if part_ran(tagged, part)]
    summary = (f"OK: {sum(c.cell_type == 'code' for c in nb.cells)} code cells, parts executed: "
               f"{', '.join(map(str, ran)) or 'none'}")
    if nb.cells and PLACEHOLDER in nb.cells[0].source:
        summary += "; note: the AI-use declaration is still the placeholder, for the student to write"
    return problems, summary


def check_file(path):
    try:
        nb = nbformat.read(str(path), as_version=4)
    except (OSError, ValueError) as exc:
        raise SmallCNNError(f"cannot read {path} as a notebook: {exc}") from None
    return check_notebook(nb)
