"""`smallcnn notebook`: build the assignment's deliverable -- one executed notebook -- and check it.

How the notebook is assembled (build_notebook):
- Cell 1 is the AI-use disclaimer: a generated provenance statement and a marked place for the
  author's own declaration.
- The code section is the package's real source, module by module in pipeline order
  (SOURCE_MODULES). Each module file is read at build time; its docstring becomes the markdown
  introduction, its `from smallcnn.X import ...` lines are dropped (an earlier cell already defined
  those names in the notebook's one namespace) and it is split at its `# --- section ---` comments.
  So the notebook never imports smallcnn, and every function in it is the tested one, verbatim.
- Parts 1 and 2 follow the assignment's items, one heading `## P.I title` per item; code cells start
  with `#CODE HERE`.
- The published figures (published.json: Table 3 of Xiao et al. 2017, the CIFAR-100 reference
  results) are embedded as a literal data block in one cell (PUBLISHED), read from the file at build
  time: the notebook needs no package files, and no published number is typed into any code.
- Explanation cells are code cells whose first line is `#EXPLAIN HERE`: they call an answer function
  of answers.py (EXPLANATIONS) on this execution's results and print the text. Printing, not
  IPython.display, keeps to the import rule, and the answers are recomputed whenever the notebook is
  executed again.
- Part 1 item 8 measures scikit-learn baselines on the CNN's own split (in --quick mode only the
  fastest families on a small subsample) and ranks them with Table 3's published rows.
- Part 2 runs only if the official CIFAR-100 files (checksums verified) can be found or downloaded;
  files that parse but are not official (e.g. generated test data) are refused, so nothing is ever
  presented as a CIFAR-100 result that is not one. Otherwise its cells skip and the builder marks the
  notebook incomplete (stderr and a note under the disclaimer). After training the spec-adapted model
  it runs the architecture study within STUDY_BUDGET_MINUTES (a run setting), which 7b and 7c use.

What `--check` enforces (check_notebook), for any notebook:
- the first cell is a markdown cell about the use of AI;
- every code cell starts with `#CODE HERE` or `#EXPLAIN HERE`, was executed, and the execution counts
  run 1, 2, 3, ... in cell order (one top-to-bottom run in a fresh kernel); no output is an error;
- imports (found with ast; IPython `%` / `!` lines are skipped) are only torch, torchvision, numpy,
  matplotlib, sklearn and the standard library;
- every explanation -- a code cell's printed output, or a markdown cell's text after an
  `#EXPLAIN HERE` first line -- has >= 3 sentences. A sentence is text ending in `.`, `!` or `?`
  followed by a space or the end, with at least 3 words; "85.3" and "e.g." (i.e., cf., vs.) end none;
- sections are found by the item headings (`## 1.6 ...`). Part 1 must have run; Part 2 ran if its
  training item (2.5) printed anything. For every part that ran, item P.6 shows a PNG plot and item
  P.7 prints "test accuracy ... NN%". Explanations of a part that did not run are not counted.
"""

import ast
import importlib
import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from smallcnn.data import SmallCNNError, atomic_write

# (module, title): copied into the notebook in this order, each after the modules it imports from.
SOURCE_MODULES = [
    ("data", "Data: loading and the validation split"),
    ("models", "The model"),
    ("augment", "Data augmentation"),
    ("evaluate", "Evaluation"),
    ("train", "Training: loss, SGD, the training loop"),
    ("report", "Plots"),
    ("study", "Part 2: the architecture study"),
    ("answers", "Answers written from the results"),
    ("baselines", "Part 1: Table 3 and the scikit-learn baselines"),
]
PUBLISHED_MODULE = "answers"  # published.json lies beside this module

QUICK_OVERRIDES = {"subset": 5000, "epochs": 2}  # a smoke test of the whole notebook, not the deliverable
STUDY_BUDGET = {"quick": 3, "full": 30}  # minutes of architecture study in Part 2
# The study's entries in the order they get the budget: the baseline and the recommended model first.
STUDY_PRIORITY = ("spec", "best", "batchnorm", "no-bottleneck", "wide2", "gap", "dropout", "label-smoothing",
                  "no-augment", "wide4", "more-epochs", "wide8")
CELL_TIMEOUT = 4 * 3600  # seconds; a full CIFAR-100 training cell on two CPU cores takes a long while
CODE_MARK, EXPLAIN_MARK = "#CODE HERE", "#EXPLAIN HERE"
ALLOWED_IMPORTS = {"torch", "torchvision", "numpy", "matplotlib", "sklearn"} | set(sys.stdlib_module_names)
# "# --- title ---" (train.py) or "# ------- title" (data.py): a module's own section divider.
SECTION_COMMENT = re.compile(r"^# -{3,} *\w")


class NotebookError(SmallCNNError):
    """The notebook cannot be built or executed."""


@dataclass(frozen=True)
class Explanation:
    """One explanation cell: the assignment item and the answer it prints."""
    item: str       # "1.8a": part 1, item 8a
    title: str
    call: str       # an expression evaluated in the notebook; its function comes from answers.py


EXPLANATIONS = [
    Explanation("1.8a", "Comparison with Table 3: which techniques beat this CNN, and why", "answer_8a(cnn1, ranked1)"),
    Explanation("1.8b", "Ideas to improve the model", "answer_8b(cnn1, ranked1)"),
    Explanation("2.7a", "The curves: over- or underfitting, convergence compared with Part 1",
                "answer_7a(history2, history1)"),
    Explanation("2.7b", "The gap to a published ResNet / Wide-ResNet result",
                "answer_7b(best_study_row(study2), reference2)"),
    Explanation("2.7c", "The architecture change that surprised most", "answer_7c(study2)"),
]


# --- the code section: the package's own source ---------------------------------------------------

def is_package_import(node):
    if isinstance(node, ast.Import):
        return any(alias.name.split(".")[0] == "smallcnn" for alias in node.names)
    return isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "smallcnn"


def ensure_inlineable(node, earlier, where):
    """Raise unless dropping this import leaves its names defined by an earlier module's cell."""
    if isinstance(node, ast.ImportFrom) and node.module.count(".") == 1 and not any(a.asname for a in node.names):
        module = node.module.split(".")[1]
        if module in earlier:
            return
        raise NotebookError(f"{where}: imports from smallcnn.{module}, which is not earlier in SOURCE_MODULES")
    raise NotebookError(f"{where}: cannot inline `{ast.unparse(node)}`; use `from smallcnn.MODULE import NAME`")


def top_level_names(tree):
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names


def inline_source(source, earlier, where="module"):
    """(docstring, code): the module's code without its docstring and its smallcnn imports."""
    tree = ast.parse(source)
    drop = set()
    if ast.get_docstring(tree):
        drop |= set(range(tree.body[0].lineno, tree.body[0].end_lineno + 1))
    for node in ast.walk(tree):
        if is_package_import(node):
            ensure_inlineable(node, earlier, f"{where} line {node.lineno}")
            drop |= set(range(node.lineno, node.end_lineno + 1))
    lines = [line for number, line in enumerate(source.splitlines(), 1) if number not in drop]
    code = re.sub(r"\n{4,}", "\n\n\n", "\n".join(lines)).strip() + "\n"
    try:
        compile(code, where, "exec")
    except SyntaxError as exc:
        raise NotebookError(f"{where}: no longer valid Python once its smallcnn imports are removed: {exc}") from None
    return ast.get_docstring(tree) or "", code


def split_sections(code):
    """Cut a module at its `# --- section ---` comments: one readable cell per section."""
    chunks, current = [], []
    for line in code.splitlines():
        if SECTION_COMMENT.match(line) and any(l.strip() for l in current):
            chunks.append(current)
            current = []
        current.append(line)
    chunks.append(current)
    return ["\n".join(chunk).strip("\n") for chunk in chunks]


def code_section():
    """Markdown introduction + code cells for every module of SOURCE_MODULES, in order."""
    cells = [new_markdown_cell(
        "# The code\n\nThe cells below are the `smallcnn` package's own source, copied verbatim when this "
        "notebook was generated, module by module in the order the pipeline uses them. Only the imports "
        "between the package's modules are left out: every name they imported is defined by an earlier cell.")]
    earlier, defined = [], {}
    for name, title in SOURCE_MODULES:
        module = importlib.import_module(f"smallcnn.{name}")
        source = Path(module.__file__).read_text()
        names = top_level_names(ast.parse(source))
        for clash in sorted(names & set(defined)):
            raise NotebookError(f"smallcnn/{name}.py defines {clash!r}, which smallcnn/{defined[clash]}.py defines "
                                f"too: one would overwrite the other in the notebook")
        defined.update(dict.fromkeys(names, name))
        docstring, code = inline_source(source, earlier, f"smallcnn/{name}.py")
        cells.append(new_markdown_cell(f"## Code: {title} (`smallcnn/{name}.py`)\n\n{docstring}"))
        cells += [new_code_cell(f"{CODE_MARK}\n# from smallcnn/{name}.py\n{chunk}") for chunk in split_sections(code)]
        earlier.append(name)
    return cells + published_cells()


RAW_BLOCK = "'" * 3  # delimits the embedded JSON text: a raw triple-quoted string


def published_cells():
    """published.json, read now and embedded as a literal data block: the notebook's one source of published figures."""
    module = importlib.import_module(f"smallcnn.{PUBLISHED_MODULE}")
    path = Path(module.__file__).with_name(module.PUBLISHED_FILE)
    text = path.read_text().strip()
    json.loads(text)  # a broken file fails the build, not the notebook
    if RAW_BLOCK in text or text.endswith("\\"):
        raise NotebookError(f"{path}: cannot be embedded in a raw {RAW_BLOCK}-delimited string")
    return [new_markdown_cell(
                f"## Published figures (`smallcnn/{path.name}`)\n\nThe published results this notebook compares "
                f"with, each with its citation, copied from the package's data file when this notebook was "
                f"generated. Every published figure below is read from `PUBLISHED`; none is typed into the code."),
            new_code_cell(f"{CODE_MARK}\nimport json\n\nPUBLISHED = json.loads(r{RAW_BLOCK}\n{text}\n{RAW_BLOCK})\n"
                          "print({key: len(value.get('rows') or value.get('results') or ())\n"
                          "       for key, value in PUBLISHED.items() if isinstance(value, dict)})")]


# --- the assignment's parts -----------------------------------------------------------------------

def disclaimer_cell():
    return new_markdown_cell(
        "# AI-use disclaimer\n\n"
        "**Provenance (generated statement).** This notebook was generated and executed by the `smallcnn "
        "notebook` command from the `smallcnn` package's tested source code, which was written with AI "
        "assistance. The code cells are that source, copied verbatim; every number, plot and explanation "
        "below was produced by this execution, and the explanation texts are composed by the package's "
        "answer functions from those results.\n\n"
        "**Author's declaration (to be written by the student).**\n\n"
        "> _Replace this line with your own statement of how you used AI tools for this assignment._")


def settings_cells(quick, data_dir):
    overrides = QUICK_OVERRIDES if quick else {}
    mode = "quick" if quick else "full"
    what = ("QUICK version: a subset of the data and few epochs, a smoke test -- not the deliverable"
            if quick else "full version: the recipes of default_config, at least 15 epochs per part")
    return [
        new_markdown_cell(f"# Run settings\n\nThis is the {what}."),
        new_code_cell(
            f"{CODE_MARK}\n%matplotlib inline\n"
            "# Written by `smallcnn notebook`. Empty OVERRIDES: each part uses default_config's recipe as is.\n"
            f"OVERRIDES = {overrides!r}\n"
            f"DATA_DIR = {data_dir!r}  # None: the data layer's usual places\n"
            f"DOWNLOAD = {not quick!r}  # the quick version never downloads\n"
            f"QUICK = {quick!r}  # Part 1 item 8 measures only the fastest baselines, on a small subsample\n"
            f"STUDY_BUDGET_MINUTES = {STUDY_BUDGET[mode]!r}  # Part 2's architecture study; entries that do not fit are skipped\n"
            f"STUDY_ENTRIES = {list(STUDY_PRIORITY)!r}  # in the order they get the budget\n"
            f"STUDY_OUT = {f'runs/notebook-study-{mode}'!r}  # each study run's directory is written here\n"
            "print(f\"python {sys.version.split()[0]}, torch {torch.__version__}, numpy {np.__version__}; \"\n"
            "      f\"settings {OVERRIDES or 'default'} (MIN_EPOCHS = {MIN_EPOCHS})\")"),
    ]


def item(number, title, *cells):
    return [new_markdown_cell(f"## {number} {title}"), *cells]


def code(source):
    return new_code_cell(f"{CODE_MARK}\n{source.strip()}")


def explanation_cells(number):
    """The heading and the printing cell for one explanation item."""
    entry = next(e for e in EXPLANATIONS if e.item == number)
    cells = [new_markdown_cell(f"### {entry.item} {entry.title}")]
    call = f"show_answer({entry.call})"
    if entry.item.startswith("2."):
        call = f"if cifar is not None:\n    {call}"
    cells.append(new_code_cell(f"{EXPLAIN_MARK}\n{call}"))
    return cells


LAYER_TABLE = '''
def print_layer_table(model, input_shape):
    """Output shape and parameters of every layer, in the order the data flows through them."""
    print(f"{'layer':<28}{'output shape':<16}{'parameters':>10}")
    for name, shape, params in layer_table(model, input_shape):
        print(f"{name:<28}{'x'.join(map(str, shape)):<16}{params:>10,}")
    print(f"{'total':<44}{count_parameters(model):>10,}")
'''


def part1_cells():
    return [
        new_markdown_cell("# Part 1: Fashion-MNIST"),
        *item("1.1", "Load the data", code('''
fmnist = load_dataset("fashion-mnist", DATA_DIR, download=DOWNLOAD)
print(f"{fmnist.name}: {fmnist.identity}")
print(f"training images {fmnist.train_images.shape}, test images {fmnist.test_images.shape}, {fmnist.train_images.dtype}")
print("classes:", ", ".join(fmnist.classes))''')),
        *item("1.2", "Validation split, drawn at random from the training set", code('''
config1 = default_config("fashion-mnist", **OVERRIDES).check()
train_idx, val_idx = split_train_val(fmnist.train_labels, config1.val_fraction, config1.seed)
assert not set(train_idx.tolist()) & set(val_idx.tolist()), "the two splits must be disjoint"
print(f"{len(train_idx):,} training / {len(val_idx):,} validation images, a random split with seed {config1.seed}")
# prepare_tensors makes the same split, normalises with the training split's statistics only.
tensors1 = prepare_tensors(fmnist, config1)
print(f"training on {len(tensors1.train_y):,} images" + (" (a quick subset)" if config1.subset else ""))''')),
        *item("1.3", "The model: Conv-ReLU-MaxPool x3, Flatten, Linear", code(LAYER_TABLE + '''
channels1, side1 = fmnist.train_images.shape[1], fmnist.train_images.shape[2]  # 1 x 28 x 28
torch.manual_seed(config1.seed)
model1 = build_model(config1.variant, channels1, side1, len(fmnist.classes)).to(memory_format=torch.channels_last)
print(model1)
print_layer_table(model1, (channels1, side1, side1))


def spec_order_forward(model, x):
    """The textbook order Conv -> ReLU -> MaxPool in every block (ConvBlock pools first)."""
    for block in model.blocks:
        x = block.pool(block.relu(block.norm(block.conv(x))))
    return model.classifier(model.dropout(x.flatten(1)))


# Max-pool and ReLU commute (both are monotone), so pooling first computes exactly the same function.
with torch.no_grad():
    x = torch.randn(64, channels1, side1, side1)
    same = torch.equal(spec_order_forward(model1.eval(), x), model1(x))
print(f"identical outputs to the spec order Conv -> ReLU -> MaxPool on 64 random images: {same}")''')),
        *item("1.4", "Loss and optimizer", code('''
# The loss is cross-entropy: train_epoch applies F.cross_entropy to the logits. The optimizer is
# torch.optim.SGD from make_optimizer; fit() below builds its own with exactly this call.
steps1 = math.ceil(len(tensors1.train_y) / config1.batch_size)
print(f"loss: cross-entropy (label smoothing {config1.label_smoothing})")
print(make_optimizer(model1, config1, steps1)[0])
print(f"schedule {config1.schedule}, peak learning rate {config1.lr}, batch {config1.batch_size}, {steps1} steps per epoch")''')),
        *item("1.5", "Training", code('''
history1, best1 = fit(model1, tensors1, config1)
print(f"{config1.epochs} epochs in {sum(row['seconds'] for row in history1):.0f} s")''')),
        *item("1.6", "Training and validation loss", code('''
plot_curves(history1, "Part 1: Fashion-MNIST, spec model")
plt.show()''')),
        *item("1.7", "Test accuracy", code('''
# The weights of the best validation epoch are tested, once.
model1.load_state_dict(best1["state"])
metrics1, predictions1 = test_metrics(model1, tensors1, config1, fmnist, history1, best1)
print(f"Test accuracy: {metrics1['test_accuracy']:.2%} (weights of epoch {best1['epoch']}, the best on validation)")
plot_confusion(metrics1["confusion_matrix"], fmnist.classes)
plt.show()''')),
        *item("1.8", "Comparison with Table 3 and with baselines measured here", code('''
# Table 3 of Xiao et al. 2017 (published) + scikit-learn classifiers measured on this CNN's training split.
table3 = PUBLISHED["fashion_mnist_table3"]
print(f"Published: {table3['citation']} {table3['table']}")
print(mode_sentence(QUICK))
cnn1 = cnn_row(metrics1, vars(config1), "this notebook's Part 1 run")
ranked1, unmeasured1 = compare_with_table3(fmnist, table3, [cnn1], config1.val_fraction, config1.seed, QUICK)
print(f"\\n{'rank':>4}  {'accuracy':>8}  {'source':<10} classifier")
for r in ranked1:
    print(f"{r['rank']:>4}  {r['accuracy']:8.2%}  {r['source']:<10} {r['name']}  ({r['note']})")
if unmeasured1:
    print(f"Not measured here (published figures only): {join_names(unmeasured1)}.")
plot_comparison(ranked1)
plt.show()''')),
        *explanation_cells("1.8a"),
        *explanation_cells("1.8b"),
    ]


def part2_cells():
    return [
        new_markdown_cell("# Part 2: CIFAR-100\n\nThe same pipeline on CIFAR-100. Every cell after the data cell "
                          "runs only if the real CIFAR-100 was found or downloaded."),
        *item("2.1", "Load the data", code('''
# Only the official files (checksums verified) count: other data is never presented as a CIFAR-100 result.
try:
    cifar = load_dataset("cifar100", DATA_DIR, download=DOWNLOAD)
except DataError as error:
    cifar = None
    print(f"CIFAR-100 is not available here, so the Part 2 cells below are skipped ({error}).")
if cifar is not None and not cifar.official:
    print(f"The CIFAR-100 files in {cifar.location} are {cifar.identity}, so the Part 2 cells below are "
          f"skipped: results on them would not be CIFAR-100 results.")
    cifar = None
if cifar is not None:
    print(f"{cifar.name}: {cifar.identity}")
    print(f"training images {cifar.train_images.shape}, test images {cifar.test_images.shape}, {len(cifar.classes)} classes")''')),
        *item("2.2", "Validation split", code('''
if cifar is not None:
    config2 = default_config("cifar100", **OVERRIDES).check()
    tensors2 = prepare_tensors(cifar, config2)
    print(f"{len(tensors2.train_y):,} training / {len(tensors2.val_y):,} validation images, "
          f"a random split with seed {config2.seed}" + (" (training on a quick subset)" if config2.subset else ""))''')),
        *item("2.3", "The model adapted to 3x32x32 images and 100 classes", code('''
# Only the input channels, the image size and the number of outputs change; the layers stay the same.
if cifar is not None:
    channels, side = cifar.train_images.shape[1], cifar.train_images.shape[2]
    torch.manual_seed(config2.seed)
    model2 = build_model(config2.variant, channels, side, len(cifar.classes)).to(memory_format=torch.channels_last)
    print(f"changed: input channels {channels1} -> {channels}, image size {side1} -> {side}, "
          f"outputs {len(fmnist.classes)} -> {len(cifar.classes)}")
    print_layer_table(model2, (channels, side, side))''')),
        *item("2.4", "Loss and optimizer", code('''
if cifar is not None:
    steps2 = math.ceil(len(tensors2.train_y) / config2.batch_size)
    print(f"loss: cross-entropy (label smoothing {config2.label_smoothing})")
    print(make_optimizer(model2, config2, steps2)[0])
    print(f"schedule {config2.schedule}, peak learning rate {config2.lr}, augmentation {config2.augment}")''')),
        *item("2.5", "Training", code('''
if cifar is not None:
    history2, best2 = fit(model2, tensors2, config2)
    print(f"{config2.epochs} epochs in {sum(row['seconds'] for row in history2):.0f} s")''')),
        *item("2.6", "Training and validation loss", code('''
if cifar is not None:
    plot_curves(history2, "Part 2: CIFAR-100, spec model adapted")
    plt.show()''')),
        *item("2.7", "Test accuracy (target: at least 30%)", code('''
if cifar is not None:
    model2.load_state_dict(best2["state"])
    metrics2, predictions2 = test_metrics(model2, tensors2, config2, cifar, history2, best2)
    reached = "reaches" if metrics2["test_accuracy"] >= 0.30 else "does NOT reach"
    print(f"Test accuracy: {metrics2['test_accuracy']:.2%}, which {reached} the 30% target")''')),
        new_markdown_cell("### Architecture study (the evidence for 7b and 7c)\n\nOne change at a time against the "
                          "spec-adapted model, plus the recommended `best` model, each trained with the Part 2 "
                          "recipe while the time budget `STUDY_BUDGET_MINUTES` lasts; entries that would not fit "
                          "are listed as skipped."),
        code('''
if cifar is not None:
    study2 = run_study(STUDY_OUT, "cifar100", [ENTRIES[name] for name in STUDY_ENTRIES], STUDY_BUDGET_MINUTES,
                       epochs=OVERRIDES.get("epochs"), data_dir=DATA_DIR, subset=OVERRIDES.get("subset", 0),
                       seed=config2.seed)
    print(study_markdown(study2, cifar))
    plot_study(study2, study_title(cifar))
    plt.show()
    # The strongest published result with skip connections: what 7b measures the gap to.
    reference2 = max((r for r in PUBLISHED["cifar100_references"]["results"] if r["skip_connections"]),
                     key=lambda r: r["accuracy"])
    print(f"Reference for 7b: {reference2['name']}, {reference2['accuracy']:.1%} ({reference2['citation']})")'''),
        *explanation_cells("2.7a"),
        *explanation_cells("2.7b"),
        *explanation_cells("2.7c"),
    ]


def build_notebook(quick=False, data_dir=None):
    cells = [disclaimer_cell(), *code_section(), *settings_cells(quick, data_dir), *part1_cells(), *part2_cells()]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


# --- execution ------------------------------------------------------------------------------------

def execute(nb, cwd):
    """Run every cell in a fresh python3 kernel (ipykernel) whose working directory is cwd."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd)}})
    try:
        client.execute()
    except CellExecutionError as exc:
        return str(exc).strip().splitlines()[-1]
    return None


def incompleteness(nb, quick):
    """Why this executed notebook is not (yet) the full deliverable; empty when it is."""
    reasons = []
    if quick:
        reasons.append(f"this is the --quick version ({QUICK_OVERRIDES}), below the assignment's 15 epochs")
    if not part_ran(sections(nb), 2):
        reasons.append("Part 2 did not run because the official CIFAR-100 was not available, so items 2.2-2.7c "
                       "have no results")
    return reasons


def warning_cell(reasons):
    return new_markdown_cell("> **This notebook is incomplete as a deliverable:**\n>\n"
                             + "\n".join(f"> - {reason}" for reason in reasons))


def write_notebook(nb, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: f.write(nbformat.writes(nb).encode()))


def make_notebook(out, quick=False, data_dir=None, log=print):
    """Build, execute, annotate, save and check the notebook; returns the check's summary line."""
    out = Path(out)
    data_dir = str(Path(data_dir).resolve()) if data_dir else None
    nb = build_notebook(quick, data_dir)
    start = time.perf_counter()
    failure = execute(nb, Path.cwd())
    log(f"executed {sum(c.cell_type == 'code' for c in nb.cells)} code cells in {time.perf_counter() - start:.0f} s")
    if failure:
        write_notebook(nb, out)
        raise NotebookError(f"a cell failed ({failure}); the partly executed notebook is in {out}")
    reasons = incompleteness(nb, quick)
    if reasons:
        nb.cells.insert(1, warning_cell(reasons))  # right after the disclaimer, which must stay first
        for reason in reasons:
            print(f"warning: incomplete deliverable: {reason}", file=sys.stderr)
    write_notebook(nb, out)
    problems, summary = check_notebook(nb)
    if problems:
        raise NotebookError(f"{out} was written but fails its check:\n" + "\n".join(problems))
    return summary


# --- the check ------------------------------------------------------------------------------------

ITEM_HEADING = re.compile(r"^#{1,6}\s*(\d+)\.(\d+)([a-z]?)\b", re.MULTILINE)
TEST_ACCURACY = re.compile(r"test accuracy\D{0,20}?(\d+(?:\.\d+)?)\s*%", re.IGNORECASE)
# A sentence ends at . ! or ? before whitespace -- except after these abbreviations.
SENTENCE_END = re.compile(r"(?<!\be\.g\.)(?<!\bi\.e\.)(?<!\bcf\.)(?<!\bvs\.)(?<=[.!?])\s+", re.IGNORECASE)


def count_sentences(text):
    """Pieces ending in . ! or ? (followed by whitespace or the end) that hold at least 3 words."""
    pieces = SENTENCE_END.split(text.strip())
    return sum(1 for p in pieces if p.endswith((".", "!", "?")) and len(re.findall(r"[A-Za-z]\S*", p)) >= 3)


def output_text(cell):
    """Everything a code cell printed or displayed as text."""
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type in ("execute_result", "display_data"):
            data = output.get("data", {})
            parts.append(data.get("text/markdown") or data.get("text/plain") or "")
    return "".join(parts)


def first_line(cell):
    return cell.source.lstrip().split("\n", 1)[0].strip()


def sections(nb):
    """[(part, item, cell index, cell)]: every cell tagged with the latest item heading above it."""
    tagged, part, number = [], 0, ""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            heading = ITEM_HEADING.search(cell.source)
            if heading:
                part, number = int(heading[1]), heading[2]
        tagged.append((part, number, index, cell))
    return tagged


def item_cells(tagged, part, number):
    return [cell for p, n, _, cell in tagged if p == part and n == number and cell.cell_type == "code"]


def part_ran(tagged, part):
    return any(output_text(cell).strip() for cell in item_cells(tagged, part, "5"))


def forbidden_imports(source):
    """(line, module) for every import outside ALLOWED_IMPORTS; IPython magics are skipped."""
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    tree = ast.parse("\n".join(lines))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names
                      if alias.name.split(".")[0] not in ALLOWED_IMPORTS]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            if node.level or module.split(".")[0] not in ALLOWED_IMPORTS:
                found.append((node.lineno, module))
    return found


def check_code_cell(number, cell, expected):
    """Problems of one code cell; `expected` is the execution count it should carry."""
    problems = []
    if first_line(cell) not in (CODE_MARK, EXPLAIN_MARK):
        problems.append(f"cell {number}: code cell does not start with {CODE_MARK!r} or {EXPLAIN_MARK!r}")
    count = cell.get("execution_count")
    if count is None:
        problems.append(f"cell {number}: not executed (no execution count)")
    elif count != expected:
        problems.append(f"cell {number}: execution count {count} where {expected} was expected: run all cells "
                        f"once, top to bottom, in a fresh kernel")
    for output in cell.get("outputs", []):
        if output.output_type == "error":
            problems.append(f"cell {number}: error output: {output.ename}: {output.evalue}")
    try:
        problems += [f"cell {number}: forbidden import {module!r} (cell line {line}); allowed: torch, torchvision, "
                     f"numpy, matplotlib, sklearn and the standard library"
                     for line, module in forbidden_imports(cell.source)]
    except SyntaxError as exc:
        problems.append(f"cell {number}: the code does not parse: {exc.msg} (cell line {exc.lineno})")
    return problems


def explanation_text(cell):
    if cell.cell_type == "markdown":
        return cell.source.lstrip().split("\n", 1)[1] if "\n" in cell.source.strip() else ""
    return output_text(cell)


def check_explanations(tagged, ran):
    problems, count = [], 0
    for part, number, index, cell in tagged:
        if first_line(cell) != EXPLAIN_MARK or (part and part not in ran):
            continue
        count += 1
        sentences = count_sentences(explanation_text(cell))
        if sentences < 3:
            problems.append(f"cell {index + 1}: the explanation has {sentences} sentence{'s' * (sentences != 1)}; "
                            f"at least 3 are needed")
    if not count:
        problems.append("no explanation cells (cells starting with '#EXPLAIN HERE')")
    return problems


def check_results(tagged, ran):
    """Loss plot and printed test accuracy for every part that ran; returns (problems, accuracies)."""
    problems, accuracies = [], {}
    for part in ran:
        plots = [o for c in item_cells(tagged, part, "6") for o in c.get("outputs", [])
                 if "image/png" in o.get("data", {})]
        if not plots:
            problems.append(f"Part {part}: no loss plot (an image/png output) in item {part}.6")
        printed = TEST_ACCURACY.search("".join(output_text(c) for c in item_cells(tagged, part, "7")))
        if printed:
            accuracies[part] = printed[1]
        else:
            problems.append(f"Part {part}: no test accuracy printed in item {part}.7 ('Test accuracy: NN.NN%')")
    return problems, accuracies


def check_notebook(nb):
    """(problems, summary): an empty problem list means the notebook passes every rule above."""
    problems = []
    if not nb.cells or nb.cells[0].cell_type != "markdown" or not re.search(r"\bAI\b", nb.cells[0].source):
        problems.append("cell 1: the first cell must be the markdown AI-use disclaimer")
    code_cells = [(i + 1, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    previous = 0
    for number, cell in code_cells:
        problems += check_code_cell(number, cell, previous + 1)
        previous = cell.get("execution_count") or previous
    tagged = sections(nb)
    if not any(part == 1 for part, *_ in tagged):
        problems.append("no Part 1 items found (markdown headings like '## 1.6 Training and validation loss')")
    ran = [part for part in (1, 2) if part == 1 or part_ran(tagged, part)]
    problems += check_explanations(tagged, ran)
    result_problems, accuracies = check_results(tagged, ran)
    problems += result_problems
    parts = "; ".join(f"Part {p} test accuracy {accuracies.get(p, '?')}%" for p in ran)
    summary = (f"OK: {len(code_cells)} code cells executed in order, no errors, allowed imports only; {parts}"
               + ("" if 2 in ran else "; Part 2 did not run"))
    return problems, summary


def check_file(path):
    try:
        nb = nbformat.read(str(path), as_version=4)
    except (OSError, ValueError) as exc:
        raise NotebookError(f"cannot read {path} as a notebook: {exc}") from None
    return check_notebook(nb)
