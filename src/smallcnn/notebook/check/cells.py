"""Reading a submitted notebook safely, for `smallcnn check`: JSON only, with size limits, every cell normalized.

Submissions are untrusted, so nothing in them is executed, imported or unpickled: the file is parsed with the
standard library's `json`, and each cell becomes a plain `Cell` whose source and outputs are strings, whatever
shape the JSON gave them (a list of lines or one string; missing keys; outputs too big to read).
"""

import json
import os
import re
from dataclasses import dataclass, field

MAX_FILE_BYTES = 200 * 1024 * 1024  # a bigger notebook is refused before it is read
MAX_OUTPUT_CHARS = 10 * 1024 * 1024  # a bigger single output is dropped while parsing, never looked at
IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml")
STATUSES = ("flag", "unknown", "ok")  # an item's status: flagged, "cannot tell", or ok
# Words that make a text an AI-use disclosure (AI itself in capitals only: "ai" is in too many words).
DISCLOSURE_WORDS = re.compile(r"\bA\.?I\b|(?i:\b(?:chat\s?gpt|gpt-?\d|copilot|claude|gemini|generative|llms?|"
                              r"large language models?|artificial intelligence|disclaimer|disclosure|declaration)\b)")


class Unreadable(Exception):
    """The file cannot be checked at all; str(e) is the one-line reason."""


@dataclass
class Output:
    """One output of a code cell, as text: what it printed or displayed, and its error if it was one."""
    kind: str  # the output_type: stream, execute_result, display_data, error; "skipped" when over the size limit
    text: str = ""  # a stream's text or the text/plain of a result
    mimetypes: tuple[str, ...] = ()
    error: str = ""  # "ename: evalue" of an error output
    skipped: str = ""  # why the output was not read


@dataclass
class Cell:
    """One cell of a notebook; `index` counts from 0, as Jupyter's cell list does."""
    index: int
    kind: str  # code, markdown, raw (anything else is kept as given)
    source: str
    count: int | None = None  # the execution count
    outputs: list[Output] = field(default_factory=list)

    @property
    def text_output(self) -> str:
        """Everything the cell printed or displayed as text."""
        return "".join(output.text for output in self.outputs)

    @property
    def has_image(self) -> bool:
        return any(kind in IMAGE_TYPES for output in self.outputs for kind in output.mimetypes)

    @property
    def blank(self) -> bool:
        return not self.source.strip()

    def quote(self, text: str) -> str:
        """`cell N: "text"`, the text on one line and shortened: how every reason points at a cell."""
        return f'cell {self.index}: "{shorten(text)}"'

    def first_line(self) -> str:
        return next((line.strip() for line in self.source.splitlines() if line.strip()), "")


@dataclass
class Finding:
    """An item's verdict: its status (one of STATUSES) and one-line reasons."""
    status: str
    reasons: list[str]


def shorten(text: str, limit: int = 70) -> str:
    """The text on one line, cut to `limit` characters with an ellipsis."""
    one_line = re.sub(r"\s+", " ", text).strip()
    return one_line if len(one_line) <= limit else one_line[:limit - 1] + "…"


# --- the file --------------------------------------------------------------------------------------

def read_notebook(path) -> dict:
    """The notebook's JSON, or Unreadable: over 200 MB, not UTF-8, not JSON (or cut short), not nbformat 4."""
    try:
        size = os.path.getsize(path)
        if size > MAX_FILE_BYTES:
            raise Unreadable(f"{size / 1024 ** 2:.0f} MB: over the {MAX_FILE_BYTES // 1024 ** 2} MB limit, not read")
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise Unreadable(f"cannot read the file: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None
    del data  # the bytes are not needed beside their text while the JSON is parsed
    return parse_notebook(text)


def parse_notebook(text: str) -> dict:
    """Parse the JSON text of a notebook; outputs over the size limit are replaced while parsing."""
    try:
        nb = json.loads(text, object_hook=drop_huge_output)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
            raise Unreadable(f"truncated JSON: it stops at line {exc.lineno}, column {exc.colno}") from None
        raise Unreadable(f"not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except RecursionError:
        raise Unreadable("not JSON a notebook could hold: nested too deeply") from None
    check_format(nb)
    return nb


def drop_huge_output(obj: dict) -> dict:
    """json's object_hook: an output whose text or data exceeds MAX_OUTPUT_CHARS becomes a 'skipped' stub."""
    if "output_type" not in obj:
        return obj
    values = [obj.get("text")] + list(obj.get("data", {}).values() if isinstance(obj.get("data"), dict) else [])
    size = sum(len(piece) for value in values for piece in (value if isinstance(value, list) else [value])
               if isinstance(piece, str))
    if size <= MAX_OUTPUT_CHARS:
        return obj
    return {"output_type": "skipped", "reason": f"an output of {size / 1024 ** 2:.1f} MB skipped unread "
                                                f"(over {MAX_OUTPUT_CHARS // 1024 ** 2} MB)"}


def check_format(nb) -> None:
    """Only nbformat 4 notebooks are checked; nbformat 3 keeps its cells in 'worksheets'."""
    if not isinstance(nb, dict):
        raise Unreadable(f"not a notebook: the JSON is a {type(nb).__name__}, not an object")
    version = nb.get("nbformat")
    if version == 3 or "worksheets" in nb:
        raise Unreadable("nbformat 3 notebook: open and save it in Jupyter (nbformat 4) to check it")
    if version != 4:
        raise Unreadable(f"not an nbformat 4 notebook (nbformat: {version!r})")
    if not isinstance(nb.get("cells"), list):
        raise Unreadable("not a notebook: it has no list of cells")


# --- the cells -------------------------------------------------------------------------------------

def text_of(value) -> str:
    """A notebook string field: one string or a list of lines (anything else reads as empty)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(piece for piece in value if isinstance(piece, str))
    return ""


def read_output(raw) -> Output:
    if not isinstance(raw, dict):
        return Output("unknown")
    kind = str(raw.get("output_type", "unknown"))
    if kind == "skipped":
        return Output(kind, skipped=text_of(raw.get("reason")) or "an output skipped unread")
    if kind == "error":
        return Output(kind, error=f"{text_of(raw.get('ename'))}: {text_of(raw.get('evalue'))}")
    data = raw.get("data") if isinstance(raw.get("data"), dict) else {}
    text = text_of(raw.get("text")) if kind == "stream" else text_of(data.get("text/plain"))
    return Output(kind, text=text, mimetypes=tuple(str(key) for key in data))


def read_cells(nb: dict) -> list[Cell]:
    """Every cell of a parsed notebook (nbformat's NotebookNode is a dict too) as a `Cell`."""
    check_format(nb)
    cells = []
    for index, raw in enumerate(nb["cells"]):
        raw = raw if isinstance(raw, dict) else {}
        count = raw.get("execution_count")
        outputs = raw.get("outputs") if isinstance(raw.get("outputs"), list) else []
        cells.append(Cell(index, str(raw.get("cell_type", "unknown")), text_of(raw.get("source")),
                          count if isinstance(count, int) and not isinstance(count, bool) else None,
                          [read_output(output) for output in outputs]))
    return cells
