"""The per-part items of `smallcnn check` other than the model: data, loss & optimizer, training loop, run
training, plot, test accuracy and discussion, each judged from its cells (found by check_layout).

Items that need outputs say "cannot tell" for a part that was not executed at all; what the source settles
(a loss that is not cross-entropy, `epochs = 10`) is judged all the same.
"""

import ast
import re
from functools import cache

from smallcnn.notebook.check.cells import Cell, Finding, shorten
from smallcnn.notebook.check.layout import ITEM_CELLS, PART_OFFSET, Layout, flat, starter
from smallcnn.notebook.check.text import blocks, contradictions, sentences, split_answers, table3_claims
from smallcnn.notebook.check.values import dotted, parse_cell, value_of
from smallcnn.published import load_published

MIN_EPOCHS = 15
MIN_SENTENCES = 3
PART2_TARGET = 30.0  # the CIFAR-100 test accuracy (%) the assignment asks for
DATASETS = {1: {"name": "Fashion-MNIST", "train": 60000, "test": 10000},
            2: {"name": "CIFAR-100", "train": 50000, "test": 10000}}
QUESTIONS = {1: "ab", 2: "abc"}
STARTER_TEST = re.compile(r"\[(?:Fashion-MNIST|CIFAR-100) test\] Loss = [\d.]+ \| Acc = (\d+(?:\.\d+)?)%")
NUMBER = re.compile(r"(\d+(?:\.\d+)?)\s*(%?)")


@cache
def table3() -> dict[str, float]:
    """{classifier: Fashion-MNIST accuracy} of Table 3 of the Fashion-MNIST paper (published.json)."""
    rows = load_published()["fashion_mnist_table3"]["rows"]
    return {row["classifier"]: row["fashion_mnist"] for row in rows}


def code(cells: list[Cell]) -> list[Cell]:
    return [cell for cell in cells if cell.kind == "code"]


def executed(cells: list[Cell]) -> bool:
    return any(cell.count is not None or cell.outputs for cell in code(cells))


def not_run(part: int) -> Finding:
    return Finding("unknown", [f"Part {part} was not executed"])


def find_line(cells: list[Cell], pattern: str) -> tuple[Cell, str] | None:
    """The first (cell, line) whose line matches the pattern."""
    for cell in code(cells):
        for line in cell.source.splitlines():
            if re.search(pattern, line) and not line.lstrip().startswith("#"):
                return cell, line.strip()
    return None


def quote(found: tuple[Cell, str]) -> str:
    return found[0].quote(found[1])


def trees(cells: list[Cell]) -> tuple[list[ast.Module], list[str]]:
    """(syntax trees, problems): the code cells parsed, and one line for each cell that does not parse."""
    parsed, problems = [], []
    for cell in code(cells):
        try:
            parsed.append(parse_cell(cell))
        except (SyntaxError, ValueError, RecursionError) as exc:
            problems.append(f"cell {cell.index} does not parse: {getattr(exc, 'msg', exc)} "
                            f"(line {getattr(exc, 'lineno', '?')})")
    return parsed, problems


# --- 1) Data ---------------------------------------------------------------------------------------

def check_data(part: int, layout: Layout) -> Finding:
    """The datasets the DataLoaders read are defined (a train/validation split), a batch size is set, and the
    printed sizes (when shown) keep the 10,000 test images and take the validation set out of the training set."""
    cells = layout.item_cells(part, "data")
    parsed, flags = trees(cells)
    defined = assigned_names(parsed + trees(layout.part_cells(part))[0])
    where = f"cell {cells[-1].index}" if cells else "the data cell"
    flags += [f"{where}: {name} is never defined (a DataLoader reads it)" for name in loader_inputs(parsed)
              if name not in defined]
    batch = find_line(cells, r"^\s*batch_size\s*=\s*\S|DataLoader\(.*batch_size\s*=\s*\d")
    if batch is None:
        flags.append(f"{where}: no batch size is set")
    split = find_line(cells, r"=.*\b(random_split|Subset|train_test_split)\b") or find_line(cells, r"\bval\w*\s*=")
    sizes = next((m for cell in code(cells) for m in re.finditer(r"\((\d+),\s*(\d+),\s*(\d+)\)", cell.text_output)),
                 None)
    data = DATASETS[part]
    if sizes:
        train, val, test = map(int, sizes.groups())
        if test != data["test"]:
            flags.append(f'{where}: printed sizes "{sizes[0]}": {test} test images where {data["name"]} has '
                         f'{data["test"]}')
        if val == 0 or train + val > data["train"]:
            flags.append(f'{where}: printed sizes "{sizes[0]}": the validation set must come out of the '
                         f'{data["train"]} training images')
    if flags:
        return Finding("flag", flags)
    shown = f"; sizes {sizes[0]}" if sizes else ""
    return Finding("ok", [f"{quote(split) if split else 'the datasets are defined'}; {quote(batch)}{shown}"])


def loader_inputs(parsed: list[ast.Module]) -> list[str]:
    """The names of the datasets the cells' DataLoader(...) calls read (the given lines read train_ds, val_ds)."""
    names = [dotted(node.args[0]) for tree in parsed for node in ast.walk(tree)
             if isinstance(node, ast.Call) and dotted(node.func).endswith("DataLoader") and node.args]
    return list(dict.fromkeys(name for name in names if name)) or ["train_ds", "val_ds"]


def assigned_names(parsed: list[ast.Module]) -> set[str]:
    """Every name the code assigns, tuple targets (`train_ds, val_ds = ...`) included."""
    names = set()
    for node in (node for tree in parsed for node in ast.walk(tree) if isinstance(node, ast.Assign)):
        for target in node.targets:
            names |= {dotted(t) for t in (target.elts if isinstance(target, ast.Tuple | ast.List) else [target])}
    return names


# --- 3) Loss & Optimizer ---------------------------------------------------------------------------

def check_loss(part: int, layout: Layout) -> Finding:
    """nn.CrossEntropyLoss and torch.optim.SGD, read from the source (and the printed pair, when shown)."""
    cells = layout.item_cells(part, "loss")
    search = with_helpers(cells + [cell for cell in layout.part_cells(part) if cell not in cells], layout)
    loss = find_line(search, r"\bCrossEntropyLoss\s*\(")
    sgd = find_line(search, r"\bSGD\s*\(")
    other = find_line(search, r"\boptim\.(?!SGD\b|lr_scheduler)[A-Z]\w*\s*\(|\b(Adam|AdamW|RMSprop|Adagrad)\s*\(")
    functional = find_line(search, r"\bF\.cross_entropy\s*\(|\bnll_loss\s*\(")
    where = f"cell {cells[0].index}" if cells else f"Part {part}"
    flags, unknowns = [], []
    if other:
        flags.append(f"{quote(other)}: the assignment asks for torch.optim.SGD")
    if sgd is None and other is None:
        flags.append(f"{where}: no torch.optim.SGD optimizer")
    if loss is None and functional:
        unknowns.append(f"{quote(functional)}: the same loss as nn.CrossEntropyLoss, not the module asked for")
    elif loss is None:
        flags.append(f"{where}: no nn.CrossEntropyLoss criterion")
    printed = next((c.text_output for c in code(cells) if "Parameter Group" in c.text_output), "")
    if printed and not (re.search(r"CrossEntropyLoss\(", printed) and re.search(r"\bSGD \(", printed)):
        flags.append(f'{where}: the printed pair "{shorten(printed, 50)}" is not CrossEntropyLoss and SGD')
    if flags or unknowns:
        return Finding("flag" if flags else "unknown", flags + unknowns)
    return Finding("ok", [f"{quote(loss)}; {quote(sgd)}"])


def with_helpers(cells: list[Cell], layout: Layout) -> list[Cell]:
    """The cells, then the cells elsewhere in the notebook that define a function they call (Part 2 may reuse
    the make_optimizer of Part 1)."""
    called = {node.func.id for tree in trees(cells)[0] for node in ast.walk(tree)
              if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    if not called:
        return cells
    defines = re.compile(rf"^\s*def ({'|'.join(map(re.escape, called))})\s*\(", re.MULTILINE)
    return cells + [cell for cell in code(layout.cells) if cell not in cells and defines.search(cell.source)]


# --- 4) Training loop ------------------------------------------------------------------------------

def check_loop(part: int, layout: Layout) -> Finding:
    """train_one_epoch steps the optimizer, evaluate does not, both return their loss, both losses are kept."""
    cells = layout.item_cells(part, "loop")
    flags = trees(cells)[1]
    functions = definitions(cells + [cell for cell in layout.part_cells(part) if cell not in cells])
    missing = [name for name in ("train_one_epoch", "evaluate") if name not in functions]
    if missing:
        where = f"cell {cells[0].index}: " if cells else ""
        return Finding("flag", flags + [f"{where}no {' and no '.join(missing)} function (the given training loop "
                                        "calls it)"])
    train_cell, evaluate_cell = functions["train_one_epoch"][1], functions["evaluate"][1]
    calls = {name: {node.func.attr for node in ast.walk(f) if isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)} for name, (f, _) in functions.items()}
    unknowns, notes = [], []
    for name in ("train_one_epoch", "evaluate"):
        function, cell = functions[name]
        if not any(isinstance(node, ast.Return) and node.value is not None for node in ast.walk(function)):
            flags.append(f"cell {cell.index}: {name} returns nothing: the loss it computes is lost")
    if not {"backward", "step"} <= calls["train_one_epoch"]:
        flags.append(f"cell {train_cell.index}: train_one_epoch never calls loss.backward() and optimizer.step()")
    elif "zero_grad" not in calls["train_one_epoch"]:
        unknowns.append(f"cell {train_cell.index}: train_one_epoch never calls zero_grad(): gradients may pile up")
    if {"backward", "step"} & calls["evaluate"]:
        flags.append(f"cell {evaluate_cell.index}: evaluate calls backward() or step(): it trains on the data it "
                     "evaluates")
    source = "\n".join(cell.source for cell in code(layout.part_cells(part)))
    kept = re.findall(r"^.*\.append\(.*$", source, re.MULTILINE)
    for which, pattern in (("training", r"train|tr_"), ("validation", r"val")):
        if not any("loss" in line.lower() and re.search(pattern, line, re.I) for line in kept):
            unknowns.append(f"Part {part}: cannot tell where the {which} loss of each epoch is kept")
    if not re.search(r"no_grad|inference_mode", source):
        notes.append(f"cell {evaluate_cell.index}: evaluate runs without torch.no_grad() (not flagged)")
    if flags or unknowns:
        return Finding("flag" if flags else "unknown", flags + unknowns + notes)
    return Finding("ok", [f"cell {train_cell.index}: train_one_epoch steps SGD and returns its loss, evaluate returns "
                          "the validation loss; both losses kept per epoch"] + notes)


def definitions(cells: list[Cell]) -> dict[str, tuple[ast.FunctionDef, Cell]]:
    """{name: (function, its cell)} of the functions the cells define (the first definition of a name)."""
    found = {}
    for cell in code(cells):
        parsed = trees([cell])[0]
        for node in (node for tree in parsed for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)):
            found.setdefault(node.name, (node, cell))
    return found


# --- 5) Run training -------------------------------------------------------------------------------

def check_run(part: int, layout: Layout) -> Finding:
    """At least 15 epochs, from `epochs = N` and from the epochs the outputs show."""
    cells = layout.item_cells(part, "run")
    setting = find_line(cells, r"^\s*(epochs|EPOCHS|num_epochs|n_epochs|NUM_EPOCHS)\s*=")
    value = value_of(ast.parse(setting[1]).body[0].value, {}) if setting and simple(setting[1]) else None
    numbers = [int(m[1]) for cell in code(cells)
               for m in re.finditer(r"\bepoch\s*[:#]?\s*\[?\s*(\d+)", cell.text_output, re.IGNORECASE)]
    shown = max(numbers) + (min(numbers) == 0) if numbers else 0  # "Epoch 0" ... "Epoch 14" is 15 epochs
    flags = [f"{quote(setting)}: the number of epochs is not set"] if setting and setting[1].endswith("=") else []
    if isinstance(value, int) and value < MIN_EPOCHS:
        flags.append(f"{quote(setting)}: {value} epochs where the assignment asks for at least {MIN_EPOCHS}")
    if shown and shown < MIN_EPOCHS:
        flags.append(f"cell {cells[0].index}: the outputs show {shown} epochs (at least {MIN_EPOCHS} needed)")
    if flags:
        return Finding("flag", flags)
    source = f"{quote(setting)}" if setting else "no epochs = N line"
    if not executed(cells):
        return Finding("unknown", [f"Part {part} was not executed" if not executed(layout.part_cells(part))
                                   else f"cell {cells[0].index if cells else '?'} was not executed", source])
    if shown:
        return Finding("ok", [f"{source}; the outputs show {shown} epochs"])
    status = "ok" if isinstance(value, int) else "unknown"
    return Finding(status, [f"{source}; the outputs show no epoch numbers"])


def simple(line: str) -> bool:
    try:
        return isinstance(ast.parse(line).body[0], ast.Assign)
    except SyntaxError:
        return False


# --- 6) Plot ---------------------------------------------------------------------------------------

def check_plot(part: int, layout: Layout) -> Finding:
    """An image output, from a plot of the training and the validation loss (drawn in the cell, or by a
    function the cell calls that is defined elsewhere, such as Part 1's plotting helper)."""
    cells = layout.item_cells(part, "plot")
    plotted = " ".join(line.strip() for cell in with_helpers(code(cells), layout) for line in cell.source.splitlines()
                       if re.search(r"\.plot\(", line))
    if plotted and not re.search(r"val", plotted, re.IGNORECASE):
        return Finding("flag", [f'cell {cells[0].index}: "{shorten(plotted, 60)}" plots no validation loss'])
    if not executed(layout.part_cells(part)):
        return not_run(part)
    image = next((cell for cell in code(cells) if cell.has_image), None)
    elsewhere = next((cell for cell in code(layout.part_cells(part)) if cell.has_image), None)
    if image is None and elsewhere is None:
        return Finding("flag", [f"cell {cells[0].index if cells else '?'}: no image output (the loss plot)"])
    image = image or elsewhere
    if not plotted:
        return Finding("unknown", [f"cell {image.index} shows an image; cannot tell that it plots both losses"])
    return Finding("ok", [f"cell {image.index}: an image of \"{shorten(plotted, 60)}\""])


# --- 7) Evaluate on test set -----------------------------------------------------------------------

def test_accuracy(part: int, layout: Layout) -> tuple[float, Cell, str] | None:
    """(accuracy in %, cell, printed line): the last starter-format test print of the test cell, else the last
    other line there that names a test accuracy ("Test accuracy: 88.4%", "Accuracy on test set: 0.884")."""
    cells = code(layout.item_cells(part, "test"))
    for cell in reversed(cells):
        if found := list(STARTER_TEST.finditer(cell.text_output)):
            return float(found[-1][1]), cell, found[-1][0]
    for cell in reversed(cells):
        for line in reversed(cell.text_output.splitlines()):
            if value := other_test_accuracy(line):
                return value, cell, line.strip()
    return None


def other_test_accuracy(line: str) -> float | None:
    """The accuracy (in %) a line like "Test Loss: 0.31, Test Acc: 0.884" prints: after the word accuracy, the
    first number with a % sign, else the last number (a fraction if at most 1)."""
    lower = line.lower()
    if "test" not in lower or "acc" not in lower:
        return None
    numbers = NUMBER.findall(line[lower.index("acc"):])
    if not numbers:
        return None
    value, percent = next(((v, p) for v, p in numbers if p), numbers[-1])
    value = float(value)
    return value if percent or value > 1 else value * 100


def check_test(part: int, layout: Layout) -> Finding:
    """A printed test accuracy; in Part 2 at least 30%."""
    if not executed(layout.part_cells(part)):
        return not_run(part)
    found = test_accuracy(part, layout)
    if found is None:
        cells = layout.item_cells(part, "test")
        return Finding("flag", [f"cell {cells[0].index if cells else '?'}: no printed test accuracy"])
    value, cell, line = found
    if part == 2 and value < PART2_TARGET:
        return Finding("flag", [f"{cell.quote(line)}: {value:.2f}% is under the {PART2_TARGET:.0f}% the assignment "
                                "asks for on CIFAR-100"])
    return Finding("ok", [cell.quote(line)])


# --- 8) Discussion prompts -------------------------------------------------------------------------

def check_discussion(part: int, layout: Layout) -> Finding:
    """Each of (a), (b) (and (c)) answered in at least 3 sentences; Part 1's (a) agrees with Table 3. In a part
    that never ran, answers that fall short are "cannot tell": the results they would discuss are missing too
    (our deliverable where CIFAR-100 was unavailable). No answers at all is a flag either way."""
    box = ITEM_CELLS["discussion"][0] - 1 + PART_OFFSET[part]
    cells = layout.slot(box)[1:] + layout.item_cells(part, "discussion")  # answers may sit above the empty cell
    text = "\n\n".join(cell.source if cell.kind == "markdown" else comment_text(cell) for cell in cells)
    where = f"cell {cells[0].index}" if cells else "the answer cell"
    if not text.strip():
        return Finding("flag", [f"{where}: no answers (the cell after the Discussion box is empty)"])
    finding = judge_answers(part, layout, text, where)
    if finding.status == "flag" and not executed(layout.part_cells(part)):
        return Finding("unknown", [f"Part {part} was not executed"] + finding.reasons)
    return finding


def judge_answers(part: int, layout: Layout, text: str, where: str) -> Finding:
    """The sentences of each sub-answer and, in Part 1, the Table 3 claims of (a)."""
    box = ITEM_CELLS["discussion"][0] - 1 + PART_OFFSET[part]
    question = flat(" ".join(block for _, block in blocks(starter()[box].source))).lower()
    letters = QUESTIONS[part]
    answers = split_answers(text, letters)
    if not answers:
        total = len(own_sentences(text, question))
        reason = f"{where}: no ({')/('.join(letters)}) markers; {total} sentences in all"
        if total < MIN_SENTENCES * len(letters):
            return Finding("flag", [f"{reason}, fewer than {MIN_SENTENCES} per question"])
        return Finding("unknown", [f"{reason}: check by hand which answers which"])
    counts = {letter: len(own_sentences(answers[letter], question)) for letter in answers}
    flags = [f"{where}: no ({letter}) answer found" for letter in letters if letter not in answers]
    flags += [f'{where}: ({letter}) has {count} sentence{"s" * (count != 1)} (at least {MIN_SENTENCES}): '
              f'"{shorten(answers[letter].lstrip("*_:.) "), 50)}"' for letter, count in counts.items()
              if count < MIN_SENTENCES]
    summary = f"{where}: " + ", ".join(f"({letter}) {count} sentences" for letter, count in counts.items())
    if part == 2:
        return Finding("flag" if flags else "ok", flags or [summary])
    claims, said, sure = claim_check(answers.get("a", text), layout, where)
    if flags or claims:
        return Finding("flag", flags + claims)
    return Finding("ok" if sure else "unknown", [f"{summary}; {said}"])


def claim_check(answer: str, layout: Layout, where: str) -> tuple[list[str], str, bool]:
    """(flags, summary, whether the claims could be compared) for Part 1's (a): its better/worse claims against
    Table 3 and the printed test accuracy."""
    claims = table3_claims(answer)
    if not claims:
        return [], "cannot tell what (a) calls better or worse than the CNN: check by hand", False
    found = test_accuracy(1, layout)
    if found is None:
        return [], "cannot compare its Table 3 claims: no printed test accuracy", False
    flags = [f"{where}: {problem}" for problem in contradictions(answer, table3(), found[0])]
    named = {polarity: ", ".join(dict.fromkeys(n for _, n, p in claims if p == polarity)) for polarity in
             ("better", "worse")}
    said = "; ".join(f"{names} {polarity}" for polarity, names in named.items() if names)
    return flags, f"its Table 3 claims ({said}) agree with the printed {found[0]:.2f}%", True


def own_sentences(text: str, box: str) -> list[str]:
    """The answer's sentences without the question, where the student copied it from the box."""
    return [s for s in sentences(text) if flat(s).lower().rstrip(".?") not in box]


def comment_text(cell: Cell) -> str:
    """An answer written in a code cell: its comment lines as prose."""
    return "\n".join(line.strip().lstrip("#").strip() for line in cell.source.splitlines())
