"""`smallcnn check PATH...`: a TA's checker for any submission of Homework 4, judged against the course's starter.

Each of the starter's items (Part 1 and Part 2, 1) Data to 8) Discussion prompts, with the starter's points) and
each notebook-wide rule of the assignment (structure, AI disclosure, execution, libraries, Python 3.12) gets
`ok`, `flag` or `unknown` ("cannot tell") with one-line reasons that quote the cell. Submissions are untrusted:
they are only read (JSON, `ast`, regular expressions), never executed, imported or unpickled, and a file that
cannot be read costs one line, never the rest of the folder.

The modules of this package do the work: cells (reading safely), layout (which cell is which; the
structure), values (plain expressions, worked out without running them), model and arch (the model),
items (the other items), text (answers and Table 3 claims), rules (disclosure, execution, libraries, Python).
"""

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from smallcnn.files import SmallCNNError, check_writable, csv_text, write_text
from smallcnn.notebook.check import items as check_items
from smallcnn.notebook.check import rules as check_rules
from smallcnn.notebook.check.arch import check_model
from smallcnn.notebook.check.cells import Finding, Unreadable, read_cells, read_notebook
from smallcnn.notebook.check.layout import ITEM_CELLS, PART_OFFSET, Layout, check_structure, layout_of
from smallcnn.notebook.check.rules import DISCLOSURE_PLACEHOLDER

__all__ = ["DISCLOSURE_PLACEHOLDER", "ITEMS", "Item", "Report", "add_check_command", "check_notebook", "check_path",
           "main"]

PART_ITEMS = (("data", "Data", 1, 1), ("model", "Model", 3, 4), ("loss", "Loss & Optimizer", 1, 1),
              ("loop", "Training loop", 1, 1), ("run", "Run training", 1, 1), ("plot", "Plot", 1, 1),
              ("test", "Evaluate on test set", 1, 1), ("discussion", "Discussion prompts", 2, 4))
# (id, title, points): the starter's items with its points (Part 1: 11, Part 2: 14), then the notebook-wide
# rules, which carry no points of their own.
ITEMS = tuple((f"p{part}.{name}", title, points[part - 1]) for part in (1, 2) for name, title, *points in PART_ITEMS
              ) + (("structure", "Notebook structure", None), ("disclosure", "AI-use disclosure", None),
                   ("execution", "Execution", None), ("libraries", "Libraries", None), ("python", "Python 3.12", None))
STATUS_WORDS = {"flag": "FLAG", "unknown": "UNKNOWN", "ok": "ok"}
TABLE_MARKS = {"flag": "FLAG", "unknown": "?", "ok": "ok"}


@dataclass
class Item:
    """One item's verdict, as `--json` writes it."""
    item: str
    title: str
    points: int | None
    status: str  # ok, flag or unknown
    reasons: list[str]


@dataclass
class Report:
    """One file's items, or why it could not be read (then `items` is empty)."""
    file: str
    items: list[Item]
    error: str = ""

    @property
    def flagged(self) -> list[Item]:
        return [item for item in self.items if item.status == "flag"]


# --- checking --------------------------------------------------------------------------------------

def model_item(part: int, layout: Layout) -> Finding:
    """The model cell and every code cell above it (whose classes and constants it may use)."""
    slot = layout.item_cells(part, "model")
    if not slot:
        return Finding("flag", [f"the model cell (starter cell {ITEM_CELLS['model'][0] + PART_OFFSET[part]}) "
                                "is missing"])
    before = [cell for cell in layout.cells[:slot[0].index] if cell.kind == "code"]
    return check_model(part, before, [cell for cell in slot if cell.kind == "code"])


# Each part's items, checked as check(part, layout).
PART_CHECKS = {"data": check_items.check_data, "model": model_item, "loss": check_items.check_loss,
               "loop": check_items.check_loop, "run": check_items.check_run, "plot": check_items.check_plot,
               "test": check_items.check_test, "discussion": check_items.check_discussion}


def check_notebook(nb: dict) -> list[Item]:
    """Every item of ITEMS for a parsed notebook (a JSON dict, or nbformat's NotebookNode, also a dict).

    Raises Unreadable where the dict is no nbformat 4 notebook.
    """
    layout = layout_of(read_cells(nb))
    findings = {f"p{part}.{name}": guarded(check, part, layout)
                for part in (1, 2) for name, check in PART_CHECKS.items()}
    findings |= {"structure": guarded(check_structure, layout),
                 "disclosure": guarded(check_rules.check_disclosure, layout.cells),
                 "execution": guarded(check_rules.check_execution, layout),
                 "libraries": guarded(check_rules.check_libraries, layout.cells),
                 "python": guarded(check_rules.check_python, nb.get("metadata"))}
    return [Item(item, title, points, findings[item].status, findings[item].reasons) for item, title, points in ITEMS]


def guarded(check, *args) -> Finding:
    """One item's check; a failure of the checker itself on a strange notebook costs that item, not the file."""
    try:
        return check(*args)
    except Exception as exc:  # untrusted input can reach corners nobody foresaw: report it, check the rest
        return Finding("unknown", [f"the checker could not read this item ({type(exc).__name__}: {exc})"])


def check_path(path) -> Report:
    """The report on one notebook file (error set and no items where it cannot be read)."""
    try:
        return Report(str(path), check_notebook(read_notebook(path)))
    except Unreadable as exc:
        return Report(str(path), [], str(exc))


def notebook_files(paths) -> list[Path | Report]:
    """The files to check, in order: files as given, folders searched for *.ipynb (not in .ipynb_checkpoints).
    A folder without notebooks, or a path that does not exist, is a Report with its error."""
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts and p.is_file())
            found += inside or [Report(str(path), [], "no notebooks (*.ipynb) in this folder")]
        elif path.exists():
            found.append(path)
        else:
            found.append(Report(str(path), [], "no such file or folder"))
    return found


# --- reporting -------------------------------------------------------------------------------------

def human_report(report: Report) -> str:
    """A header line, then each item: flagged ones first, then those it cannot tell, then the ok ones."""
    if report.error:
        return f"{report.file}: cannot read: {report.error}"
    counts = {status: sum(item.status == status for item in report.items) for status in STATUS_WORDS}
    lines = [f"{report.file}: {counts['flag']} flagged, {counts['unknown']} cannot tell, {counts['ok']} ok"]
    for status in STATUS_WORDS:
        for item in (item for item in report.items if item.status == status):
            points = f"({item.points})" if item.points is not None else "(-)"
            head = f"  {STATUS_WORDS[status]:<7}  {item.item:<13}  {points:>3}  {item.title}: "
            lines.append(head + (item.reasons[0] if item.reasons else ""))
            lines += [" " * len(head) + reason for reason in item.reasons[1:]]
    return "\n".join(lines)


SHORT_LABELS = {"discussion": "disc", "structure": "struct", "disclosure": "discl", "execution": "exec",
                "libraries": "libs", "python": "py"}


def short_label(item: str) -> str:
    """A table column's label: "1.data" for p1.data, "discl" for disclosure."""
    part, _, name = item.rpartition(".")
    return f"{part[1:]}.{SHORT_LABELS.get(name, name)}" if part else SHORT_LABELS[name]


def table(reports: list[Report]) -> str:
    """One row per notebook, one column per item (ok, FLAG or ? for cannot tell), and the number flagged."""
    width = max(len(report.file) for report in reports)
    labels = [short_label(item) for item, _, _ in ITEMS]
    rows = [f"{'file':<{width}}  " + " ".join(f"{label:<{max(len(label), 4)}}" for label in labels) + "  flagged"]
    for report in reports:
        if report.error:
            rows.append(f"{report.file:<{width}}  cannot read: {report.error}")
            continue
        marks = [TABLE_MARKS[item.status] for item in report.items]
        rows.append(f"{report.file:<{width}}  " + " ".join(f"{mark:<{max(len(label), 4)}}" for mark, label in
                                                             zip(marks, labels)) + f"  {len(report.flagged)}")
    return "\n".join(rows)


def csv_table(reports: list[Report]) -> str:
    """The table as CSV: file, each item's status, the number flagged, and the error of an unreadable file."""
    fields = ["file"] + [item for item, _, _ in ITEMS] + ["flagged", "error"]
    rows = [{"file": r.file, **{item.item: item.status for item in r.items},
             "flagged": len(r.flagged) if not r.error else "", "error": r.error} for r in reports]
    return csv_text(rows, fields)


def exit_status(reports: list[Report]) -> int:
    """2 if a file could not be read, else 1 if anything is flagged, else 0."""
    if any(report.error for report in reports):
        return 2
    return 1 if any(report.flagged for report in reports) else 0


# --- the command -----------------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="notebooks, or folders searched for *.ipynb")
    parser.add_argument("--json", action="store_true",
                        help="print a JSON list: one object per notebook with its file and items")
    parser.add_argument("--csv", metavar="FILE", help="write the table (one row per notebook) to FILE as CSV")


def add_check_command(subparsers) -> None:
    """Register `check` on an argparse subparsers object; its handler returns the exit status."""
    parser = subparsers.add_parser("check", help="check submissions of the homework against the course's starter "
                                                 "notebook, item by item")
    add_arguments(parser)
    parser.set_defaults(handler=run_check)


def run_check(args: argparse.Namespace) -> int:
    """The command: a report per notebook as each is checked (or JSON at the end), then the table."""
    if args.csv:
        check_writable(args.csv, directory=False)  # before 200 notebooks are read
    reports = []
    for found in notebook_files(args.paths):
        report = found if isinstance(found, Report) else check_path(found)
        reports.append(report)
        if not args.json:
            print(human_report(report) + "\n", flush=True)
    if args.json:
        print(json.dumps([{"file": r.file, **({"error": r.error} if r.error else {}),
                           "items": [asdict(item) for item in r.items]} for r in reports], indent=2))
    elif len(reports) > 1:
        print(table(reports))
    if args.csv:
        try:
            write_text(args.csv, csv_table(reports))
        except OSError as exc:
            raise SmallCNNError(f"cannot write {args.csv}: {exc.strerror or exc}") from None
    return exit_status(reports)


def main(argv: list[str] | None = None) -> int:
    """`smallcnn check PATH... [--json] [--csv FILE]` on its own; returns the exit status."""
    parser = argparse.ArgumentParser(prog="smallcnn check", description=__doc__.splitlines()[0])
    add_arguments(parser)
    try:
        return run_check(parser.parse_args(argv))
    except SmallCNNError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
