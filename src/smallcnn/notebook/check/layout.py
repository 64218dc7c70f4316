"""Which submitted cell is which starter cell, for `smallcnn check`; and the `structure` item.

The submission's cells are paired with the starter's by content, keeping their order (an alignment, as `diff`
pairs lines): the green boxes and headings are nearly always unchanged and anchor everything; a code cell
pairs by the starter lines it still holds. So one added cell is reported as added after its neighbour
instead of shifting every item, and each item finds its cells wherever the student's edits put them.
"""

import json
import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import cache
from pathlib import Path

from smallcnn.notebook.check.cells import DISCLOSURE_WORDS, Cell, Finding, read_cells, shorten

STARTER_FILE = Path(__file__).parents[1] / "starter" / "Assignment4_starter.ipynb"
PART2_HEADING = 19  # Part 1 is starter cells 0-18, Part 2 cells 19-37
PART_OFFSET = {1: 0, 2: PART2_HEADING}
# The starter cells that hold each item's work in Part 1 (Part 2's are these plus PART2_HEADING).
ITEM_CELLS = {"data": (3, 4), "model": (6,), "loss": (8,), "loop": (10,), "run": (12,), "plot": (14,),
              "test": (16,), "discussion": (18,)}
ANSWER_CELLS = (18, 37)  # empty code cells in the starter: students make them the markdown answers
IMPORT_CELLS = (1, 20)  # may gain imports, and a line or two after `device = ...` (Apple's MPS)
GIVEN_CELLS = (1, 3, 20, 22)  # complete code in the starter, not to be altered
CODE_MARK = "# CODE HERE"
PLACEHOLDERS = ("...", "batch_size =", "epochs =", "def train_one_epoch(...):", "def evaluate(...):")
MOVED = 0.8  # an added cell this much like a missing starter cell is that cell, moved


@cache
def starter() -> tuple[Cell, ...]:
    """The course's starter notebook (shipped with the package), 38 cells."""
    return tuple(read_cells(json.loads(STARTER_FILE.read_text(encoding="utf-8"))))


def flat(text: str) -> str:
    """The text with every run of white space made one space: layout differences are not changes."""
    return " ".join(text.split())


def lines(cell: Cell, comments: bool = True) -> list[str]:
    """The cell's non-blank lines, white space normalized; comment lines left out unless `comments`."""
    found = [flat(line) for line in cell.source.splitlines() if line.strip()]
    return found if comments else [line for line in found if not line.startswith("#")]


def similarity(given: Cell, cell: Cell) -> float:
    """How alike a starter cell and a submitted one are: 0 (cannot be the same cell) to 1 (unchanged)."""
    if given.index in ANSWER_CELLS:  # the answers in markdown, or the starter's empty code cell left as it was
        if cell.kind == "markdown" and not cell.blank:
            return 1.0
        return 0.6 if cell.kind == "code" and cell.blank else 0.3 if cell.kind in ("code", "markdown") else 0.0
    if cell.kind != given.kind:
        return 0.0
    if given.kind == "markdown":
        a, b = flat(given.source), flat(cell.source)
        if a in b:
            return 1.0 if a == b else 0.95  # cell 0 grows the AI disclosure
        if 2 * min(len(a), len(b)) < 0.5 * (len(a) + len(b)):
            return 0.0  # the ratio can reach 0.5 only between texts of similar length
        matcher = SequenceMatcher(None, a, b, autojunk=False)
        ratio = matcher.ratio() if matcher.quick_ratio() >= 0.5 else 0.0
        return ratio if ratio >= 0.5 else 0.0
    wanted = {line for line in lines(given) if line not in PLACEHOLDERS}
    return max(len(wanted & set(lines(cell))) / max(len(wanted), 1), 0.05)  # a code cell in its place is kept


def align(given, cells) -> dict[int, int]:
    """{starter index: submitted index}: the order-keeping pairing with the greatest total similarity."""
    scores = [[similarity(g, c) for c in cells] for g in given]
    best = [[0.0] * (len(cells) + 1) for _ in range(len(given) + 1)]
    for i in range(1, len(given) + 1):
        for j in range(1, len(cells) + 1):
            paired = best[i - 1][j - 1] + scores[i - 1][j - 1] if scores[i - 1][j - 1] else -1.0
            best[i][j] = max(best[i - 1][j], best[i][j - 1], paired)
    pairs, i, j = {}, len(given), len(cells)
    while i and j:
        if best[i][j] == best[i][j - 1]:  # on a tie the later submitted cell is the added one
            j -= 1
        elif best[i][j] == best[i - 1][j]:
            i -= 1
        else:
            pairs[i - 1], i, j = j - 1, i - 1, j - 1
    return dict(sorted(pairs.items()))


@dataclass
class Layout:
    """A submission's cells and which starter cell each one is."""
    cells: list[Cell]
    pairs: dict[int, int]  # starter index -> submitted index, in order
    moved: dict[int, int]  # starter index -> submitted index, for a starter cell found out of its place

    def cell(self, starter_index: int) -> Cell | None:
        index = self.pairs.get(starter_index, self.moved.get(starter_index))
        return None if index is None else self.cells[index]

    def slot(self, starter_index: int) -> list[Cell]:
        """The submitted cell of a starter cell and the cells added right after it."""
        cell = self.cell(starter_index)
        if cell is None:
            return []
        known = set(self.pairs.values()) | set(self.moved.values())
        found = [cell]
        for following in self.cells[cell.index + 1:]:
            if following.index in known:
                break
            found.append(following)
        return found

    def item_cells(self, part: int, item: str) -> list[Cell]:
        return [cell for index in ITEM_CELLS[item] for cell in self.slot(index + PART_OFFSET[part])]

    def part_cells(self, part: int) -> list[Cell]:
        """The submitted cells of one part: those before or after the first cell of Part 2's."""
        split = next((j for i, j in self.pairs.items() if i >= PART2_HEADING), len(self.cells))
        return self.cells[:split] if part == 1 else self.cells[split:]


def layout_of(cells: list[Cell]) -> Layout:
    given = starter()
    pairs = align(given, cells)
    moved = {}
    loose = [cell for cell in cells if cell.index not in pairs.values()]
    for index in (i for i in range(len(given)) if i not in pairs and i not in ANSWER_CELLS):
        scored = [(similarity(given[index], cell), cell.index) for cell in loose if cell.index not in moved.values()]
        score, found = max(scored, default=(0.0, None))
        if score >= MOVED and not cells[found].blank:
            moved[index] = found
    return Layout(cells, pairs, moved)


# --- describing starter cells ----------------------------------------------------------------------

def label(index: int) -> str:
    """A starter cell as a TA names it: "the '2) Model' box", "the Part 1 heading", "starter cell 6 (...)"."""
    cell = starter()[index]
    if index in ANSWER_CELLS:
        return f"the answer cell after {label(index - 1)}"
    if box := re.search(r"<h3>(.*?)</h3>", cell.source):
        title = re.sub(r"\s*\(\d+ points?\)", "", box[1]).strip()  # "8) Discussion prompts (2 point)"
        return f"the '{title}' box"
    if cell.kind == "markdown":
        return f"the {cell.first_line().lstrip('# ').split(':')[0]} heading"
    part = 1 if index < PART2_HEADING else 2
    if index in IMPORT_CELLS:
        return f"the Part {part} import cell"
    box = next(i for i in range(index, -1, -1) if starter()[i].kind == "markdown")
    return f"starter cell {index} (the code of {label(box)})"


# --- the structure item ----------------------------------------------------------------------------

def check_structure(layout: Layout) -> Finding:
    """Cells added, missing or moved; boxes, headings and given code altered; placeholders left."""
    flags, notes = [], []
    for index, found in layout.moved.items():
        flags.append(f"{layout.cells[found].quote(layout.cells[found].first_line())}: {label(index)}, moved")
    flags += [f"{label(index)} is missing" for index in range(len(starter()))
              if index not in layout.pairs and index not in layout.moved]
    added_flags, added_notes = added_cells(layout)
    flags += added_flags
    notes += added_notes
    dropped = []
    for index, found in layout.pairs.items():
        given, cell = starter()[index], layout.cells[found]
        if given.kind == "markdown":
            flags += altered_text(index, given, cell)
        elif index in GIVEN_CELLS:
            flags += altered_code(given, cell, index in IMPORT_CELLS)
        elif CODE_MARK in given.source and dropped_comments(given, cell):
            dropped.append(str(cell.index))
    flags += placeholders_left(layout.cells)
    if dropped:
        notes.append(f"starter comment lines dropped in cells {', '.join(dropped)} (not flagged)")
    if flags:
        return Finding("flag", flags + notes)
    return Finding("ok", [f"every starter cell in its place ({len(layout.cells)} cells)"] + notes)


def added_cells(layout: Layout) -> tuple[list[str], list[str]]:
    """(flags, notes) for the cells that are no starter cell; a blank one is harmless, and so is one holding the
    AI disclosure (whose place the disclosure item judges)."""
    flags, notes = [], []
    known = {j: i for i, j in {**layout.pairs, **layout.moved}.items()}
    after = None
    for cell in layout.cells:
        if cell.index in known:
            after = known[cell.index]
            continue
        place = f"added after {label(after)}" if after is not None else "added before the Part 1 heading"
        if cell.blank:
            notes.append(f"cell {cell.index}: a blank {cell.kind} cell {place} (not flagged)")
        elif cell.kind == "markdown" and DISCLOSURE_WORDS.search(cell.source):
            notes.append(f"{cell.quote(cell.first_line())}: the AI disclosure in a cell of its own, {place} "
                         "(not flagged here)")
        else:
            flags.append(f"{cell.quote(cell.first_line())}: a {cell.kind} cell {place}")
    return flags, notes


def altered_text(index: int, given: Cell, cell: Cell) -> list[str]:
    """A heading or box that is not the starter's; the first cell may gain text (the AI disclosure)."""
    if flat(given.source) == flat(cell.source) or (index == 0 and flat(given.source) in flat(cell.source)):
        return []
    was = [line for line in lines(given) if line not in lines(cell)]
    now = [line for line in lines(cell) if line not in lines(given)]
    change = f'"{shorten(was[0], 50)}" became "{shorten(now[0], 50)}"' if was and now else (
        f'"{shorten(was[0], 50)}" removed' if was else f'"{shorten(now[0], 50)}" added')
    return [f"cell {cell.index}: {label(index)} is altered: {change}"]


def altered_code(given: Cell, cell: Cell, import_cell: bool) -> list[str]:
    """Given code changed: lines removed or changed, lines added (an import cell may add imports and a device
    choice right after `device = ...`). Comments and IPython magics are not code."""
    want = lines(given, comments=False)
    have = [line for line in lines(cell, comments=False) if not line.startswith(("%", "!"))]
    problems = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, want, have, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        removed, added = want[i1:i2], have[j1:j2]
        if import_cell:
            after_device = j1 > 0 and have[j1 - 1].startswith("device =")
            if removed and added and all(line.startswith("device =") for line in removed[:1] + added[:1]):
                removed, added, after_device = removed[1:], added[1:], True  # the device line rewritten
            added = [line for line in added if not is_import(line)]
            if after_device and all(re.search(r"device|mps|backends|^else:", line) for line in added):
                added = []
        problems += [f"{cell.quote(line)}: a given line changed or removed" for line in removed[:1]]
        problems += [f"{cell.quote(line)}: a line added to the given code" for line in added[:1]]
    return problems


def is_import(line: str) -> bool:
    return bool(re.match(r"(import\s+\w|from\s+[\w.]+\s+import\s)", line))


def dropped_comments(given: Cell, cell: Cell) -> bool:
    have = set(lines(cell))
    return any(line.startswith("#") and line not in have for line in lines(given))


def placeholders_left(cells: list[Cell]) -> list[str]:
    """The starter's blanks still in code cells: `...` lines, `batch_size = `, `def train_one_epoch(...):`."""
    problems = []
    for cell in cells:
        found = [line for line in lines(cell) if line in PLACEHOLDERS] if cell.kind == "code" else []
        if found:
            listed = ", ".join(f'"{line}"' for line in dict.fromkeys(found))
            problems.append(f"cell {cell.index}: the starter's placeholder {listed} left")
    return problems
