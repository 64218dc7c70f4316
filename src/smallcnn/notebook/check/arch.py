"""The `model` items of `smallcnn check`: a model read by check_model, judged against the assignment's network.

Part 1's network is conv -> ReLU -> max-pool, three times, then one fully connected layer: convolutions of
10, 5 and 16 channels with kernel 3, pooling of size 2, 28x28 grey input, 10 classes. Padding is free. Part 2
adapts it to 32x32 RGB input and 100 classes; the changes the assignment then asks the student to discuss
(other widths, batch norm, dropout, adaptive pooling) are allowed there and named, and are flags in Part 1.
The printed model (the cell's `model` output), when there is one, settles what the source leaves open and
must agree with it.
"""

import re

from smallcnn.notebook.check.cells import Cell, Finding
from smallcnn.notebook.check.model import SIGNATURES, Layer, Model, find_models
from smallcnn.notebook.check.values import UNKNOWN

WIDTHS = (10, 5, 16)  # Conv_10, Conv_5, Conv_16
KERNEL, POOL, BLOCKS = 3, 2, 3
PARTS = {1: {"channels": 1, "side": 28, "classes": 10, "data": "Fashion-MNIST"},
         2: {"channels": 3, "side": 32, "classes": 100, "data": "CIFAR-100"}}
ALLOWED_IN_PART2 = ("BatchNorm2d", "BatchNorm1d", "Dropout", "Dropout2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d")
ROLES = {"Conv2d": "conv", "LazyConv2d": "conv", "ReLU": "ReLU", "MaxPool2d": "max-pool", "Linear": "FC",
         "LazyLinear": "FC", "Flatten": "shape", "Identity": "shape"}
SPEC = ["conv", "ReLU", "max-pool"] * BLOCKS + ["FC"]


def role(layer: Layer) -> str:
    return ROLES.get(layer.kind, layer.kind)


def single(value):
    """3 for a kernel written (3, 3); other values as they are."""
    return value[0] if isinstance(value, tuple) and value and len(set(value)) == 1 else value


def arg(layer: Layer, name: str, default=UNKNOWN):
    return single(layer.args.get(name, default))


def check_model(part: int, before: list[Cell], slot: list[Cell]) -> Finding:
    """The model item of one part: read the class `model = X(...)` instantiates and judge it."""
    model, others, problem = find_models(before, slot)
    if model is None:
        return Finding("flag", [problem])
    printed = printed_layers(next((c.text_output for c in slot if "(" in c.text_output), ""))
    flags = settle(model, printed)
    unknowns = [f"cell {model.cell.index}: cannot tell the layer order: {p}" for p in model.problems]
    if model.problems:  # no call order: judge the registered modules
        calls = [(layer, "") for layer in model.modules]
    else:
        calls = [(layer, line) for layer, line in model.calls if role(layer) != "shape"]
        core = [(layer, line) for layer, line in calls if layer.kind not in ALLOWED_IN_PART2]
        flags += order_problems(model, core) if calls else [f"cell {model.cell.index}: {model.name}.forward "
                                                            "calls no layers"]
    for problems in (conv_problems(model, part, calls), pool_and_fc_problems(model, part, calls)):
        flags, unknowns = flags + problems[0], unknowns + problems[1]
    additions = extra_layers([role(layer) for layer, _ in model.calls], ALLOWED_IN_PART2)
    if part == 1 and additions:
        flags.append(f"cell {model.cell.index}: {model.name} adds to the assignment's network: {'; '.join(additions)}")
    summary = f"cell {model.cell.index}: {summary_of(model, calls, ordered=not model.problems)}"
    if part == 2 and (changes := changes_of(model)):
        summary += f"; changes: {'; '.join(changes)}"
    summary += "".join(f"; also defines {other.name} ({other_changes(other)})" for other in others)
    if printed and not flags:
        summary += "; the printed model agrees"
    if flags:
        return Finding("flag", flags + unknowns)
    return Finding("unknown" if unknowns else "ok", unknowns + [summary])


def order_problems(model: Model, calls: list[tuple[Layer, str]]) -> list[str]:
    """The layer counts and the call order against conv -> ReLU -> max-pool, three times, then the FC."""
    roles = [role(layer) for layer, _ in calls]
    counts = {"conv": ("conv layers", 3), "max-pool": ("max-pooling steps", 3), "FC": ("linear layers", 1)}
    where = f"cell {model.cell.index}: {model.name}"
    problems = [f"{where}: {roles.count(key)} {name} where the assignment has {want}"
                for key, (name, want) in counts.items() if roles.count(key) != want]
    if problems or roles == SPEC:
        return problems
    step = next((i for i, (found, want) in enumerate(zip(roles, SPEC)) if found != want), min(len(roles), len(SPEC)))
    if step >= len(roles):
        return [f"{where}: forward stops after {' → '.join(roles)}, where the assignment continues with {SPEC[step]}"]
    layer, line = calls[step]
    want = SPEC[step] if step < len(SPEC) else "nothing after the FC"
    return [f'cell {model.cell.index}: "{line}": {roles[step]} ({layer.kind}) where the assignment has {want} '
            f"(conv → ReLU → max-pool, three times, then the FC)"]


def conv_problems(model: Model, part: int, calls) -> tuple[list[str], list[str]]:
    """(flags, cannot-tells) for the convolutions' input channels, widths (Part 1) and kernels."""
    flags, unknowns = [], []
    convs = [layer for layer, _ in calls if role(layer) == "conv"]
    expected_in = PARTS[part]["channels"]
    for number, conv in enumerate(convs[:BLOCKS]):
        quote = f'cell {model.cell.index}: "{conv.source}"'
        channels_in, channels_out = arg(conv, "in_channels"), arg(conv, "out_channels")
        kernel = arg(conv, "kernel_size")
        if conv.kind == "LazyConv2d":
            channels_in = expected_in
        if UNKNOWN in (channels_in, channels_out, kernel):
            unknowns.append(f"{quote}: cannot tell its channels or kernel from the source")
        if number == 0 and channels_in not in (UNKNOWN, expected_in):
            flags.append(f"{quote}: {channels_in} input channels where {PARTS[part]['data']} has {expected_in}")
        elif number and UNKNOWN not in (channels_in, expected_in) and channels_in != expected_in:
            flags.append(f"{quote}: takes {channels_in} channels where the previous conv gives {expected_in}")
        if part == 1 and channels_out not in (UNKNOWN, WIDTHS[number]):
            flags.append(f"{quote}: {channels_out} channels where Conv_{WIDTHS[number]} needs {WIDTHS[number]}")
        if kernel not in (UNKNOWN, KERNEL):
            flags.append(f"{quote}: kernel {kernel} where the assignment has {KERNEL}")
        expected_in = channels_out
    return flags, unknowns


def pool_and_fc_problems(model: Model, part: int, calls) -> tuple[list[str], list[str]]:
    """(flags, cannot-tells) for the pooling size, the FC's outputs and its inputs against the geometry."""
    flags, unknowns = [], []
    for layer in {id(layer): layer for layer, _ in calls if role(layer) == "max-pool"}.values():  # once each
        size = arg(layer, "kernel_size")
        if size is UNKNOWN:
            unknowns.append(f'cell {model.cell.index}: "{layer.source}": cannot tell its pooling size')
        elif size != POOL:
            flags.append(f'cell {model.cell.index}: "{layer.source}": pooling {size} where the assignment has {POOL}')
    fcs = [layer for layer, _ in calls if role(layer) == "FC"]
    if not fcs:
        return flags, unknowns
    fc, classes = fcs[-1], PARTS[part]["classes"]
    quote = f'cell {model.cell.index}: "{fc.source}"'
    outputs, inputs, expected = arg(fc, "out_features"), arg(fc, "in_features"), flat_size(part, calls)
    if outputs is UNKNOWN:
        unknowns.append(f"{quote}: cannot tell its number of outputs")
    elif outputs != classes:
        flags.append(f"{quote}: {outputs} outputs where {PARTS[part]['data']} has {classes} classes")
    if fc.kind == "Linear" and UNKNOWN not in (inputs, expected) and inputs != expected and not model.problems:
        flags.append(f"{quote}: takes {inputs} inputs where the layers before it give {expected}")
    return flags, unknowns


def flat_size(part: int, calls) -> object:
    """What the FC receives: channels x side x side after the layers before it (UNKNOWN if not resolvable)."""
    side, channels = PARTS[part]["side"], PARTS[part]["channels"]
    for layer, _ in calls:
        kind = layer.kind
        if role(layer) in ("conv", "max-pool") or kind == "AvgPool2d":
            kernel = arg(layer, "kernel_size")
            stride = arg(layer, "stride", 1 if role(layer) == "conv" else kernel)
            padding = arg(layer, "padding", 0)
            if padding == "same":
                padding, stride = (kernel - 1) // 2 if isinstance(kernel, int) else UNKNOWN, 1
            stride = kernel if stride is None else stride
            if not all(isinstance(v, int) for v in (side, kernel, stride, padding)) or stride < 1:
                return UNKNOWN
            side = (side + 2 * padding - kernel) // stride + 1
            channels = arg(layer, "out_channels") if role(layer) == "conv" else channels
        elif kind.startswith("Adaptive"):
            side = arg(layer, "output_size")
        elif role(layer) == "FC":
            break
    return channels * side * side if isinstance(channels, int) and isinstance(side, int) else UNKNOWN


def changes_of(model: Model) -> list[str]:
    """How a model differs from the assignment's network, as a TA names it: widths, added layers, depth."""
    roles = [role(layer) for layer, _ in model.calls if role(layer) != "shape"]
    widths = tuple(arg(layer, "out_channels") for layer, _ in model.calls if role(layer) == "conv")
    changes = [f"widths {'/'.join(map(str, widths))}"] if widths != WIDTHS and UNKNOWN not in widths else []
    changes += extra_layers(roles, {r for r in roles if r not in SPEC})
    if roles.count("conv") != BLOCKS:
        changes.append(f"{roles.count('conv')} conv layers")
    if roles.count("FC") > 1:
        changes.append(f"{roles.count('FC')} linear layers")
    return changes


def other_changes(model: Model) -> str:
    """How another class of the model cell differs from the assignment's network, when that can be read."""
    if model.problems:
        return "not read statically"
    return f"changes: {'; '.join(changes_of(model)) or 'none'}"


def extra_layers(roles: list[str], kinds) -> list[str]:
    """Each added kind of layer and where it sits: "BatchNorm2d after each conv", "Dropout before the FC"."""
    roles = [r for r in roles if r != "shape"]
    named = []
    for kind in dict.fromkeys(r for r in roles if r in kinds):
        places = [i for i, r in enumerate(roles) if r == kind]
        if all(i and roles[i - 1] == "conv" for i in places) and len(places) == roles.count("conv"):
            named.append(f"{kind} after each conv")
        elif all(i + 1 < len(roles) and roles[i + 1] == "FC" for i in places):
            named.append(f"{kind} before the FC")
        else:
            named.append(f"{kind} ×{len(places)}")
    return named


def summary_of(model: Model, calls, ordered: bool) -> str:
    """The network in one line: "SmallCNN: convs 1→10→5→16 (kernel 3), each → ReLU → max-pool, then Linear..."."""
    convs = [layer for layer, _ in calls if role(layer) == "conv"]
    fcs = [layer for layer, _ in calls if role(layer) == "FC"]
    chain = "→".join(str(arg(layer, "in_channels")) for layer in convs[:1]) + "".join(
        f"→{arg(layer, 'out_channels')}" for layer in convs)
    kernels = "/".join(dict.fromkeys(str(arg(layer, "kernel_size")) for layer in convs))
    fc = f", then Linear {arg(fcs[-1], 'in_features')}→{arg(fcs[-1], 'out_features')}" if fcs else ""
    order = "each → ReLU → max-pool" if ordered else "in an order not read"
    return f"{model.name}: convs {chain} (kernel {kernels}), {order}{fc}"


# --- the printed model -----------------------------------------------------------------------------

PRINTED = re.compile(r"^(?P<indent>\s*)\((?P<name>[\w.]+)\):\s*(?P<kind>\w+)\((?P<args>.*?)\)?\s*$")
CHECKED_ARGS = ("in_channels", "out_channels", "kernel_size", "in_features", "out_features")


def printed_layers(text: str) -> dict[str, Layer]:
    """{path: layer} from a printed model (`SmallCNN(\\n  (conv1): Conv2d(1, 10, kernel_size=(3, 3), ...)`)."""
    found, stack = {}, []  # stack: (indent, name) of the containers open above the line
    for line in text.splitlines():
        match = PRINTED.match(line)
        if not match:
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([name for _, name in stack] + [match["name"]])
        if line.rstrip().endswith("("):  # a container (Sequential, or a module class of the notebook's own)
            stack.append((indent, match["name"]))
            continue
        found[path] = Layer(match["kind"], printed_args(match["kind"], match["args"]), line.strip(), path)
    return found


def printed_args(kind: str, text: str) -> dict:
    """`1, 10, kernel_size=(3, 3), stride=(1, 1)` as {in_channels: 1, out_channels: 10, kernel_size: 3, ...}."""
    pieces = [re.fullmatch(r"\s*(?:(\w+)=)?(.*?)\s*", piece).groups() for piece in re.split(r",(?![^(]*\))", text)]
    positional = [value for key, value in pieces if not key]
    named = dict(zip(SIGNATURES.get(kind, ()), positional)) | {key: value for key, value in pieces if key}
    return {key: printed_value(value) for key, value in named.items()}


def printed_value(text: str):
    """2 for "2" or "(2, 2)", (1, 2) for "(1, 2)", other text as it is."""
    text = text.strip()
    if not re.fullmatch(r"\(?[\d\s,]+\)?", text):
        return text
    values = tuple(int(n) for n in re.findall(r"\d+", text))
    return single(values) if len(values) > 1 else values[0]


def settle(model: Model, printed: dict[str, Layer]) -> list[str]:
    """Fill what the source leaves open from the printed model; flag where the two disagree (a stale output)."""
    problems = []
    for layer in model.modules:
        shown = printed.get(layer.path)
        if shown is None:
            continue
        if shown.kind != layer.kind:
            problems.append(f'cell {model.cell.index}: "{layer.source}" is printed as "{shown.source}": '
                            "the output is not from this code")
            continue
        for name in CHECKED_ARGS:
            value, printed_value_ = arg(layer, name), shown.args.get(name, UNKNOWN)
            if value is UNKNOWN and printed_value_ is not UNKNOWN:
                layer.args[name] = printed_value_
            elif UNKNOWN not in (value, printed_value_) and value != printed_value_:
                problems.append(f'cell {model.cell.index}: "{layer.source}" is printed as "{shown.source}": '
                                "the output is not from this code")
                break
    return problems
