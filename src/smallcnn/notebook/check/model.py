"""Reading a submitted model class with `ast`, never running it, for `smallcnn check`.

`__init__` gives the layers (one by one, in `nn.Sequential` or `nn.ModuleList`) with their arguments, resolved
where they are plain values: literals, the parameters' defaults, the arguments where the notebook instantiates
the class (`model = SmallCNN(in_channels=3).to(device)`), simple assignments and top-level constants.
`forward` gives the order of the calls: a nested call runs its arguments first, `self.features(x)` runs the
Sequential's children, a shared `self.pool` counts once per call, `F.relu` and `x.relu()` count as ReLU.
What cannot be read this way is listed in `Model.problems`, and a judgement that needs it says "cannot tell".
"""

import ast
import copy
from dataclasses import dataclass, field

from smallcnn.notebook.check.cells import Cell
from smallcnn.notebook.check.values import UNKNOWN, assign, constants, dotted, parse_cell, value_of

# torch.nn layers by the names of their leading positional arguments.
SIGNATURES = {
    "Conv2d": ("in_channels", "out_channels", "kernel_size", "stride", "padding"),
    "LazyConv2d": ("out_channels", "kernel_size", "stride", "padding"),
    "MaxPool2d": ("kernel_size", "stride", "padding"), "AvgPool2d": ("kernel_size", "stride", "padding"),
    "Linear": ("in_features", "out_features"), "LazyLinear": ("out_features",),
    "BatchNorm2d": ("num_features",), "BatchNorm1d": ("num_features",),
    "Dropout": ("p",), "Dropout2d": ("p",), "AdaptiveAvgPool2d": ("output_size",),
    "AdaptiveMaxPool2d": ("output_size",), "Flatten": ("start_dim", "end_dim"),
}
ACTIVATIONS = ("ReLU", "LeakyReLU", "GELU", "ELU", "SiLU", "Sigmoid", "Tanh", "PReLU", "Softmax", "LogSoftmax")
CONTAINERS = ("Sequential", "ModuleList")
LAYERS = set(SIGNATURES) | set(ACTIVATIONS) | set(CONTAINERS) | {"Identity"}
# torch.nn.functional (or torch.*) calls that are layers: the layer, and the names of the arguments after the input.
FUNCTIONS = {
    "relu": ("ReLU", ()), "relu_": ("ReLU", ()), "leaky_relu": ("LeakyReLU", ()), "gelu": ("GELU", ()),
    "elu": ("ELU", ()), "silu": ("SiLU", ()), "sigmoid": ("Sigmoid", ()), "tanh": ("Tanh", ()),
    "max_pool2d": ("MaxPool2d", ("kernel_size", "stride", "padding")),
    "avg_pool2d": ("AvgPool2d", ("kernel_size", "stride", "padding")), "dropout": ("Dropout", ("p",)),
    "adaptive_avg_pool2d": ("AdaptiveAvgPool2d", ("output_size",)), "flatten": ("Flatten", ()),
    "softmax": ("Softmax", ()), "log_softmax": ("LogSoftmax", ()),
}
FUNCTION_MODULES = ("F", "functional", "torch", "nn.functional", "torch.nn.functional")
TENSOR_METHODS = {"relu": "ReLU", "relu_": "ReLU", "sigmoid": "Sigmoid", "tanh": "Tanh", "softmax": "Softmax",
                  "view": "Flatten", "reshape": "Flatten", "flatten": "Flatten"}


@dataclass
class Layer:
    """One module (or functional call): its torch.nn class name and its arguments by name."""
    kind: str
    args: dict
    source: str  # how the notebook wrote it, for quoting
    path: str = ""  # as the printed model names it: "conv1", "features.0"
    children: list["Layer"] = field(default_factory=list)


@dataclass
class Model:
    """A model class as read: its registered modules, the layers forward calls in order, what was unreadable."""
    name: str
    cell: Cell
    modules: list[Layer]  # every leaf module of __init__, in registration order
    calls: list[tuple[Layer, str]]  # (layer, the forward line that calls it), in call order
    problems: list[str] = field(default_factory=list)


# --- __init__ --------------------------------------------------------------------------------------

def layer_kind(func) -> str:
    """The torch.nn class a constructor call names (`nn.Conv2d`, `torch.nn.Conv2d`, `Conv2d`), else ""."""
    name = dotted(func)
    base, _, kind = name.rpartition(".")
    return kind if kind in LAYERS and base in ("", "nn", "torch.nn") else ""


def bind(names, node: ast.Call, env: dict, skip: int = 0) -> dict:
    """The call's arguments by name (after `skip` positional ones), each resolved in env."""
    args = {name: value_of(arg, env) for name, arg in zip(names, node.args[skip:])}
    args |= {kw.arg: value_of(kw.value, env) for kw in node.keywords if kw.arg}
    return args


def module_of(node, env: dict, source: str, helpers: dict | None = None, depth: int = 0) -> Layer | None:
    """The module an expression builds in __init__ (a constructor, a local module, F.relu, a helper that returns
    one), else None. `helpers` maps "self.block" or "block" to (function, its cell's source, is a method)."""
    helpers = helpers or {}
    if isinstance(node, ast.Call) and dotted(node.func) in helpers and depth < 3:
        return helper_module(node, env, helpers, depth)
    if isinstance(node, ast.Name) and isinstance(env.get(node.id), Layer):
        return copy.deepcopy(env[node.id])
    if isinstance(node, ast.Attribute) and node.attr in FUNCTIONS and dotted(node.value) in FUNCTION_MODULES:
        return Layer(FUNCTIONS[node.attr][0], {}, dotted(node))  # self.act = F.relu
    if not isinstance(node, ast.Call) or not (kind := layer_kind(node.func)):
        return None
    text = ast.get_source_segment(source, node) or kind
    if kind in CONTAINERS:
        items = node.args[0].elts if kind == "ModuleList" and node.args and hasattr(node.args[0], "elts") else node.args
        children = [module_of(item, env, source, helpers, depth) or
                    Layer("?", {}, ast.get_source_segment(source, item) or "?") for item in items]
        return Layer(kind, {}, text, children=children)
    return Layer(kind, bind(SIGNATURES.get(kind, ()), node, env), text)


def helper_module(call: ast.Call, env: dict, helpers: dict, depth: int) -> Layer | None:
    """What `self.block(1, 10)` or `conv_block(1, 10)` returns, where the helper's last statement returns a module
    (`return nn.Sequential(...)`) after plain assignments."""
    func, source, method = helpers[dotted(call.func)]
    scope = dict(env) | parameters(func, call, env, method)
    for statement in func.body[:-1]:
        if isinstance(statement, ast.Assign):
            for target in statement.targets:
                assign(target, module_of(statement.value, scope, source, helpers, depth + 1) or
                       value_of(statement.value, scope), scope)
    last = func.body[-1] if func.body else None
    if isinstance(last, ast.Return) and last.value is not None:
        return module_of(last.value, scope, source, helpers, depth + 1)
    return None


def set_paths(layer: Layer, path: str) -> None:
    layer.path = path
    for number_, child in enumerate(layer.children):
        set_paths(child, f"{path}.{number_}")


def leaves(layer: Layer) -> list[Layer]:
    return [leaf for child in layer.children for leaf in leaves(child)] if layer.children else [layer]


def parameters(init: ast.FunctionDef, call: ast.Call | None, env: dict, method: bool = True) -> dict:
    """A function's parameters (__init__'s, a helper's): their defaults, overridden by the call's arguments."""
    params = [arg.arg for arg in init.args.posonlyargs + init.args.args][1 if method else 0:]  # without self
    scope = {name: UNKNOWN for name in params + [arg.arg for arg in init.args.kwonlyargs]}
    for name, default in zip(params[len(params) - len(init.args.defaults):], init.args.defaults):
        scope[name] = value_of(default, env)
    for arg, default in zip(init.args.kwonlyargs, init.args.kw_defaults):
        scope[arg.arg] = value_of(default, env) if default is not None else UNKNOWN
    if call is not None:
        scope |= {name: value for name, value in bind(params, call, env).items() if name in scope}
    return scope


def read_init(init: ast.FunctionDef, scope: dict, source: str, helpers: dict) -> tuple[dict[str, Layer], list[str]]:
    """({attribute: module}, problems): the modules __init__ registers, in order."""
    modules, problems = {}, []
    for statement in init.body:
        if isinstance(statement, ast.Assign | ast.AnnAssign) and statement.value is not None:
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            module = module_of(statement.value, scope, source, helpers)
            for target in targets:
                name = dotted(target)
                if module is not None and name.startswith("self."):
                    modules[name[5:]] = module
                elif module is not None and name:
                    scope[name] = module
                else:
                    assign(target, value_of(statement.value, scope), scope)
        elif registers_modules(statement):
            problems.append(f"__init__ line {statement.lineno} builds modules in a way not read statically")
    for name, module in modules.items():
        set_paths(module, name)
    return modules, problems


def registers_modules(statement) -> bool:
    """Does a statement other than a plain assignment set self attributes (a loop, a condition, add_module)?"""
    for node in ast.walk(statement):
        if isinstance(node, ast.Attribute) and dotted(node.value) == "self" and isinstance(node.ctx, ast.Store):
            return True
        called = dotted(node.func) if isinstance(node, ast.Call) else ""
        if called.startswith("self.") and called.endswith((".append", ".extend", "add_module", "register_module")):
            return True
    return False


# --- forward ---------------------------------------------------------------------------------------

class ForwardReader:
    """Walks forward's statements in order and records each layer call: a nested call's arguments run first."""

    def __init__(self, modules: dict[str, Layer], methods: dict[str, ast.FunctionDef], scope: dict, source: str):
        self.modules, self.methods, self.scope, self.source = modules, methods, scope, source
        self.loop_modules: dict[str, Layer] = {}  # `for block in self.blocks:` binds block to each child
        self.calls: list[tuple[Layer, str]] = []
        self.problems: list[str] = []
        self.depth = 0

    def line(self, node) -> str:
        return self.source.splitlines()[node.lineno - 1].strip()

    def statements(self, body) -> None:
        for statement in body:
            if isinstance(statement, ast.Assign | ast.AugAssign | ast.AnnAssign | ast.Expr | ast.Return):
                if statement.value is not None:
                    self.expression(statement.value, self.line(statement))
            elif isinstance(statement, ast.For):
                self.loop(statement)
            elif isinstance(statement, ast.If):
                self.branch(statement)
            elif isinstance(statement, ast.With):
                self.statements(statement.body)
            elif not isinstance(statement, ast.Pass | ast.Assert):
                self.problems.append(f'forward line "{self.line(statement)}" is not read statically')

    def loop(self, statement: ast.For) -> None:
        """`for layer in self.layers:` over a container whose children are known; other loops are unread."""
        target, iterated = statement.target, statement.iter
        children = None
        if isinstance(iterated, ast.Attribute) and dotted(iterated).startswith("self."):
            container = self.modules.get(dotted(iterated)[5:])
            children = container.children if container and container.kind in CONTAINERS else None
        elif isinstance(iterated, ast.List | ast.Tuple):
            children = [self.modules.get(dotted(item)[5:]) for item in iterated.elts]
        if not isinstance(target, ast.Name) or not children or None in children:
            self.problems.append(f'forward loop "{self.line(statement)}" is not read statically')
            return
        for child in children:
            self.loop_modules[target.id] = child
            self.statements(statement.body)
        self.loop_modules.pop(target.id, None)

    def branch(self, statement: ast.If) -> None:
        test = value_of(statement.test, self.scope)
        if test is UNKNOWN:
            self.problems.append(f'forward branches on "{self.line(statement)}"')
            return
        self.statements(statement.body if test else statement.orelse)

    def expression(self, node, line: str) -> None:
        if not isinstance(node, ast.Call):
            for child in ast.iter_child_nodes(node):
                self.expression(child, line)
            return
        func = node.func
        if isinstance(func, ast.Attribute) and dotted(func.value) not in ("self", *FUNCTION_MODULES):
            self.expression(func.value, line)  # x.view(...), self.conv(x).relu(): the receiver runs first
        for arg in node.args + [kw.value for kw in node.keywords]:
            self.expression(arg, line)
        self.record(node, line)

    def record(self, node: ast.Call, line: str) -> None:
        """The layer(s) one call runs, if it is a layer call at all."""
        func, name = node.func, dotted(node.func)
        base, _, attr = name.rpartition(".")
        if base == "self" and attr in self.modules:
            self.run(self.modules[attr], line)
        elif base == "self" and attr in self.methods and self.depth < 3:
            self.depth += 1  # a helper method: its body, inline
            self.statements(self.methods[attr].body)
            self.depth -= 1
        elif base == "self":
            self.problems.append(f'forward calls "self.{attr}", which is not read statically')
        elif not base and name in self.loop_modules:
            self.run(self.loop_modules[name], line)
        elif attr in FUNCTIONS and (base in FUNCTION_MODULES or not base):
            kind, names = FUNCTIONS[attr]
            text = ast.get_source_segment(self.source, node) or name
            self.calls.append((Layer(kind, bind(names, node, self.scope, skip=1), text, name), line))
        elif isinstance(func, ast.Attribute) and func.attr in TENSOR_METHODS:
            self.calls.append((Layer(TENSOR_METHODS[func.attr], {}, f".{func.attr}()", f".{func.attr}"), line))

    def run(self, layer: Layer, line: str) -> None:
        if layer.kind == "Sequential":
            for child in layer.children:
                self.run(child, line)
        elif layer.kind == "?" or layer.kind == "ModuleList":
            self.problems.append(f'"{layer.source}" is not read statically')
        else:
            self.calls.append((layer, line))


# --- the model a notebook instantiates -------------------------------------------------------------

def read_class(cls: ast.ClassDef, call: ast.Call | None, env: dict, cell: Cell, functions: dict) -> Model:
    """Read one class, with the instantiation's arguments (None: its defaults); `functions` are the notebook's
    top-level functions, {name: (function, its cell's source, False)}, which may build its layers."""
    methods = {f.name: f for f in cls.body if isinstance(f, ast.FunctionDef)}
    helpers = functions | {f"self.{name}": (f, cell.source, True) for name, f in methods.items()}
    problems = []
    modules, scope = {}, dict(env)
    if init := methods.get("__init__"):
        scope |= parameters(init, call, env)
        modules, problems = read_init(init, scope, cell.source, helpers)
    reader = ForwardReader(modules, {k: v for k, v in methods.items() if k not in ("__init__", "forward")},
                           scope, cell.source)
    if forward := methods.get("forward"):
        reader.statements(forward.body)
    else:
        problems.append(f"class {cls.name} has no forward method")
    registered = [leaf for module in modules.values() for leaf in leaves(module)]
    return Model(cls.name, cell, registered, reader.calls, problems + reader.problems)


def instantiation(tree: ast.Module) -> ast.Call | None:
    """The last `model = Name(...)` (or `Name(...).to(device)`) of a cell's top level."""
    found = None
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and any(dotted(t) == "model" for t in statement.targets):
            value = statement.value
            while isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute):
                value = value.func.value  # .to(device), .cuda(), .float()
            if isinstance(value, ast.Call) and isinstance(value.func, ast.Name):
                found = value
    return found


def find_models(before: list[Cell], slot: list[Cell]) -> tuple[Model | None, list[Model], str]:
    """(the instantiated model, the other classes of the model's cells, a problem where there is no model).

    `before` is every code cell up to the model's cells, whose classes and constants are visible there.
    """
    trees: dict[int, ast.Module] = {}
    for cell in before + slot:
        try:
            trees[cell.index] = parse_cell(cell)
        except (SyntaxError, ValueError, RecursionError) as exc:
            if cell in slot:
                where = f" (line {exc.lineno})" if getattr(exc, "lineno", None) else ""
                return None, [], f"cell {cell.index} does not parse: {getattr(exc, 'msg', exc)}{where}"
    classes: dict[str, tuple[ast.ClassDef, Cell]] = {}
    functions: dict[str, tuple[ast.FunctionDef, str, bool]] = {}
    call, call_cell = None, None
    for cell in before + slot:
        tree = trees.get(cell.index)
        for node in tree.body if tree else []:
            if isinstance(node, ast.ClassDef):
                classes[node.name] = (node, cell)
            elif isinstance(node, ast.FunctionDef):
                functions[node.name] = (node, cell.source, False)
        if cell in slot and tree and (found := instantiation(tree)):
            call, call_cell = found, cell
    if call is None:
        return None, [], f'cell {slot[0].index}: no "model = ...(...)" line' if slot else "no model cell"
    if call.func.id not in classes:
        return None, [], call_cell.quote(ast.get_source_segment(call_cell.source, call) or "") + (
            ": the class is not defined in the notebook")
    env = constants([trees[c.index] for c in before + slot if c.index in trees])
    cls, cell = classes[call.func.id]
    model = read_class(cls, call, env, cell, functions)
    others = [read_class(node, None, env, other, functions) for name, (node, other) in classes.items()
              if other in slot and name != cls.name and is_module_class(node)]
    return model, others, ""


def is_module_class(cls: ast.ClassDef) -> bool:
    return any(dotted(base).endswith("Module") or isinstance(base, ast.Name) for base in cls.bases)

