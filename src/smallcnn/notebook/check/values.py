"""Evaluating plain Python expressions statically, for `smallcnn check`: numbers, names, tuples, arithmetic and
indexing are computed without running anything; everything else is UNKNOWN."""

import ast
from functools import lru_cache

from smallcnn.notebook.check.cells import Cell


class _Unknown:
    def __repr__(self) -> str:
        return "?"


UNKNOWN = _Unknown()  # a value the source does not give statically
BIGGEST = 10 ** 9  # arithmetic beyond this is not a layer size: refuse it rather than compute it


def parse_cell(cell: Cell) -> ast.Module:
    """The cell's syntax tree, its IPython lines (%magic, !shell) blanked; SyntaxError if it does not parse.
    Each item reads the trees again, so they are parsed once per source (the trees are never modified)."""
    return parse_source(cell.source)


@lru_cache(maxsize=4096)
def parse_source(source: str) -> ast.Module:
    return ast.parse("\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()))


def dotted(node) -> str:
    """`torch.nn.functional` for that attribute chain; "" for anything that is not one."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and (base := dotted(node.value)):
        return f"{base}.{node.attr}"
    return ""


def value_of(node, env: dict):
    """The value of a plain expression (numbers, names, tuples, arithmetic, indexing), else UNKNOWN."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float | str | bool | type(None)):
        return node.value
    if isinstance(node, ast.Name | ast.Attribute) and dotted(node):
        return env.get(dotted(node), UNKNOWN)
    if isinstance(node, ast.Tuple | ast.List):
        return tuple(value_of(element, env) for element in node.elts)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = value_of(node.operand, env)
        return arithmetic(node.op, 0, operand) if number(operand) else UNKNOWN
    if isinstance(node, ast.BinOp):
        left, right = value_of(node.left, env), value_of(node.right, env)
        return arithmetic(node.op, left, right) if number(left) and number(right) else UNKNOWN
    if isinstance(node, ast.Subscript):
        seq, index = value_of(node.value, env), value_of(node.slice, env)
        if isinstance(seq, tuple) and isinstance(index, int) and -len(seq) <= index < len(seq):
            return seq[index]
    return UNKNOWN


def number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and abs(value) <= BIGGEST


def arithmetic(op, left, right):
    operations = {ast.Add: lambda: left + right, ast.Sub: lambda: left - right, ast.Mult: lambda: left * right,
                  ast.FloorDiv: lambda: left // right, ast.Div: lambda: left / right, ast.Mod: lambda: left % right,
                  ast.Pow: lambda: left ** right if abs(right) <= 64 and abs(left) <= 1024 else UNKNOWN,
                  ast.USub: lambda: -right, ast.UAdd: lambda: right}
    try:
        result = operations.get(type(op), lambda: UNKNOWN)()
    except (ZeroDivisionError, OverflowError, ValueError, TypeError):
        return UNKNOWN
    return result if number(result) else UNKNOWN


def constants(trees: list[ast.Module]) -> dict:
    """Top-level `NAME = value` assignments of the cells, in order: the notebook's constants."""
    env = {}
    for tree in trees:
        for statement in tree.body:
            if isinstance(statement, ast.Assign):
                for target in statement.targets:
                    assign(target, value_of(statement.value, env), env)
    return env


def assign(target, value, env: dict) -> None:
    """`a = v`, `self.a = v` or `a, b = (v1, v2)` into env (names it cannot fill become UNKNOWN)."""
    if isinstance(target, ast.Tuple | ast.List):
        values = value if isinstance(value, tuple) and len(value) == len(target.elts) else [UNKNOWN] * len(target.elts)
        for element, item in zip(target.elts, values):
            assign(element, item, env)
    elif dotted(target):
        env[dotted(target)] = value
