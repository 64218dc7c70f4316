"""`smallcnn notebook`: build, execute and check the assignment's deliverable, one Jupyter notebook.

The notebook follows the assignment item by item. Its code cells are the core's own functions, copied
from the package source when the notebook is built (a test proves every copy is identical), followed
by a few lines that call them; it imports only torch, torchvision, numpy, matplotlib and the standard
library (scikit-learn, which the assignment also allows, serves `smallcnn compare`). The builder
executes it in a fresh kernel, reads the results back from the kernel, and only then writes each
"#EXPLAIN HERE" cell and the introduction from those results (answers.py).
Part 2 runs only on the official CIFAR-100 (checksums verified, found locally or downloaded);
otherwise its cells stay unexecuted and the notebook says why.
"""

import ast
import copy
import importlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from smallcnn import answers, datastore
from smallcnn.files import SmallCNNError, atomic_write
from smallcnn.notebookcheck import CODE_MARK, EXPLAIN_MARK, PLACEHOLDER, check_notebook, output_text

CORE_MODULES = ("data", "models", "train", "plots", "compare", "study")
QUICK = {"subset": 5000, "epochs": 2}          # a smoke test of the whole notebook, not the deliverable
STUDY_MINUTES = {"quick": 1, "full": 9}        # Part 2's architecture study; entries that do not fit are skipped
CELL_TIMEOUT = 3600


class NotebookError(SmallCNNError):
    """The notebook cannot be built or executed."""


# --- the core's source, object by object -----------------------------------------------------------

def core_definitions():
    """{name: source} of every top-level function, class and constant of the core modules."""
    found = {}
    for module_name in CORE_MODULES:
        module = importlib.import_module(f"smallcnn.core.{module_name}")
        source = Path(module.__file__).read_text()
        lines = source.splitlines()
        for node in ast.parse(source).body:
            names = top_level_names(node)
            if not names:
                continue
            first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            while first > 1 and lines[first - 2].startswith("#"):  # keep the comment lines just above
                first -= 1
            for name in names:
                found[name] = "\n".join(lines[first - 1:node.end_lineno])
    return found


def top_level_names(node):
    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    return []


def core_imports():
    """The core modules' imports without the package's own: the standard library on one line, then the rest."""
    stdlib, plain, names = {"math", "platform"}, set(), {}
    for module_name in CORE_MODULES:
        module = importlib.import_module(f"smallcnn.core.{module_name}")
        for node in ast.parse(Path(module.__file__).read_text()).body:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    simple = alias.name in sys.stdlib_module_names and not alias.asname
                    (stdlib.add(alias.name) if simple else plain.add(ast.unparse(ast.Import([alias]))))
            elif isinstance(node, ast.ImportFrom) and not node.module.startswith("smallcnn"):
                names.setdefault(node.module, set()).update(alias.name for alias in node.names)
    froms = [f"from {module} import {', '.join(sorted(found))}" for module, found in sorted(names.items())]
    return [f"import {', '.join(sorted(stdlib))}", *sorted(plain), *froms]


@dataclass(frozen=True)
class Code:
    """One code cell: the core objects it defines, then the lines that use them."""
    defines: tuple = ()
    run: str = ""


def render(code, definitions):
    blocks = [definitions[name] for name in code.defines] + ([code.run.strip()] if code.run.strip() else [])
    return CODE_MARK + "\n" + "\n\n\n".join(blocks)


# --- the notebook's cells, in the assignment's order ------------------------------------------------

def md(text):
    return new_markdown_cell(text.strip())


def explain(key):
    """The heading of one question and its explanation cell, written after execution."""
    titles = {"8a": "8(a) Which techniques from Table 3 beat my CNN, which do worse, and why?",
              "8b": "8(b) Ideas to improve my method",
              "7a": "7(a) How did the curves change from Fashion-MNIST to CIFAR-100?",
              "7b": "7(b) What accounts for the gap to a ResNet-style network?",
              "7c": "7(c) The architecture change that surprised me most"}
    cell = md(f"{EXPLAIN_MARK}\n\n*(written after execution)*")
    cell.metadata["smallcnn"] = {"answer": key}
    return [md(f"### {titles[key]}"), cell]


def settings_code(quick, fashion_root, cifar_root, download):
    return Code(run=f"""
# The settings of this run: where torchvision finds (or downloads) each dataset, and the run's size.
FASHION_ROOT = {str(fashion_root)!r}
CIFAR_ROOT = {str(cifar_root)!r}
DOWNLOAD = {download!r}  # whether torchvision may download a dataset that is not there yet
QUICK = {QUICK if quick else {}!r}  # empty: the full recipe; anything else is a smoke test only
STUDY_MINUTES = {STUDY_MINUTES['quick' if quick else 'full']!r}  # time budget of Part 2's architecture study
print(f"Python {{platform.python_version()}}, torch {{torch.__version__}}, torchvision {{torchvision.__version__}}, "
      f"{{torch.get_num_threads()}} CPU threads")""")


PART1 = [
    md("# Part 1: Fashion-MNIST"),
    md("""## Data
Fashion-MNIST is loaded with `torchvision.datasets.FashionMNIST`. Instead of a `DataLoader`, each split is kept
in memory as one tensor, so that a training batch is simply a slice of it; the images are normalised with the
mean and standard deviation of the training split only. The validation set is a random 10% of the official
training set (item 5 asks for it), and the test set is used only once, at the end."""),
    Code(("load_split", "random_split", "make_splits", "show_examples"), """
train_images1, train_labels1, classes1 = load_split(torchvision.datasets.FashionMNIST, FASHION_ROOT, True, DOWNLOAD)
test_images1, test_labels1, _ = load_split(torchvision.datasets.FashionMNIST, FASHION_ROOT, False, DOWNLOAD)
print(f"training images {tuple(train_images1.shape)}, test images {tuple(test_images1.shape)}")
show_examples(train_images1, train_labels1, classes1)
plt.show()"""),
    md("The recipe of a run, and the split it implies:"),
    Code(("MIN_EPOCHS", "TrainConfig", "RECIPES", "default_config"), """
config1 = default_config("fashion-mnist", **QUICK)
splits1 = make_splits(train_images1, train_labels1, test_images1, test_labels1, config1.val_fraction,
                      config1.seed, config1.subset)
print(f"{len(splits1.train_y):,} training / {len(splits1.val_y):,} validation / {len(splits1.test_y):,} test images")"""),
    md("## 1. The model\nThe layers in the assignment's left-to-right order, with 3x3 kernels (padding 1 keeps the "
       "image size before each pooling step). The size of the Linear layer's input follows from the geometry."),
    Code(("SPEC_WIDTHS", "SmallCNN", "count_parameters"), """
torch.manual_seed(config1.seed)
model1 = SmallCNN().to(memory_format=torch.channels_last)
print(model1, f"{count_parameters(model1):,} trainable parameters", sep="\\n")"""),
    md("## 2. Loss and optimizer\nCross-entropy loss and SGD with momentum, as the assignment requires; the "
       "learning rate follows a one-cycle schedule (a warm-up, then a linear decay to zero). The optimizer printed "
       "below shows the rate of the very first step, the start of the warm-up; item 4 shows the peak."),
    Code(("lr_factor", "make_training"), """
steps_per_epoch1 = math.ceil(len(splits1.train_y) / config1.batch_size)
criterion1, optimizer1, scheduler1 = make_training(model1, config1, steps_per_epoch1)
print(criterion1, optimizer1, sep="\\n")"""),
    md("## 3. Training for at least 15 epochs\nOne epoch visits the training split in a new random order; after it, "
       "the validation split is evaluated and the weights of the best epoch so far (by validation accuracy) are "
       "kept. Those weights are the model that is tested in item 6."),
    Code(("augment", "train_step", "train_epoch", "evaluate", "TrainState", "fit", "print_epoch"), """
state1 = fit(model1, splits1, criterion1, optimizer1, scheduler1, config1, on_epoch_end=print_epoch)
print(f"trained {config1.epochs} epochs in {sum(row['seconds'] for row in state1.history):.0f} s")"""),
    md("## 4. Batch size and learning rate\nThe values I chose, and the learning rate each epoch ended with."),
    Code(run="""
print(f"batch size {config1.batch_size}, peak learning rate {config1.lr}, momentum {config1.momentum} "
      f"(Nesterov: {config1.nesterov}), weight decay {config1.weight_decay}")
plt.plot([row["epoch"] for row in state1.history], [row["lr"] for row in state1.history], "o-")
plt.xlabel("epoch"), plt.ylabel("learning rate at the end of the epoch")
plt.show()"""),
    md("## 5. Training and validation loss"),
    Code(("plot_curves", "summarise_curves"), """
plot_curves(state1.history, "Part 1: Fashion-MNIST, the assignment's CNN")
plt.show()
summarise_curves(state1)"""),
    md("## 6. Evaluation on the test set\nThe best-validation weights, evaluated once on the 10,000 test images; "
       "the confusion matrix shows which classes are mistaken for which."),
    Code(("confusion_matrix", "plot_confusion", "per_class_accuracy"), """
model1.load_state_dict(state1.best_weights)
test_loss1, test_accuracy1, predictions1 = evaluate(model1, splits1.test_x, splits1.test_y, criterion1)
matrix1 = confusion_matrix(splits1.test_y, predictions1, len(classes1))
plot_confusion(matrix1, classes1)
plt.show()
per_class1 = per_class_accuracy(matrix1, classes1)"""),
    md("## 7. Test accuracy"),
    Code(run="""
print(f"Test accuracy: {test_accuracy1:.2%} (test loss {test_loss1:.4f}), with the weights of epoch "
      f"{state1.best_epoch} (validation accuracy {state1.best_val_accuracy:.2%})")"""),
    md("""## 8. Comparison with Table 3 of the Fashion-MNIST paper
Table 3 of Xiao, Rasul and Vollgraf (2017) gives the best configuration of each scikit-learn classifier family
and its mean test accuracy on the same 10,000 test images; my CNN's test accuracy from item 7 is ranked among
them."""),
]
PART1_COMPARISON = Code(("table3_rows", "rank", "plot_comparison"), """
cnn_row1 = {"name": f"my CNN ({count_parameters(model1):,} parameters)", "source": "this CNN",
            "accuracy": test_accuracy1, "note": f"{config1.epochs} epochs, one seeded run"}
ranked1 = rank(table3_rows(TABLE3_ACCURACY) + [cnn_row1])
for row in ranked1:
    print(f"{row['rank']:>3}  {row['accuracy']:7.2%}  {row['source']:<10} {row['name']}")
plot_comparison(ranked1, "Fashion-MNIST test accuracy: my CNN among Table 3's classifiers")
plt.show()""")

PART2 = [
    md("# Part 2: CIFAR-100"),
    md("""## Data
CIFAR-100 through `torchvision.datasets.CIFAR100`, which verifies every file's checksum. The same split and
normalisation as in Part 1, now with three colour channels; the recipe adds random crops and flips."""),
    Code(run="""
# The same functions as in Part 1; torchvision's CIFAR100 refuses files whose checksums are not the official ones.
train_images2, train_labels2, classes2 = load_split(torchvision.datasets.CIFAR100, CIFAR_ROOT, True, DOWNLOAD)
test_images2, test_labels2, _ = load_split(torchvision.datasets.CIFAR100, CIFAR_ROOT, False, DOWNLOAD)
print(f"training images {tuple(train_images2.shape)}, test images {tuple(test_images2.shape)}, "
      f"{len(classes2)} classes")
show_examples(train_images2, train_labels2, classes2)  # the first 10 of the 100 classes
plt.show()
# The Part 2 recipe: Part 1's, with a lower peak learning rate and random crops and flips (see RECIPES).
config2 = default_config("cifar100", **QUICK)
splits2 = make_splits(train_images2, train_labels2, test_images2, test_labels2, config2.val_fraction,
                      config2.seed, config2.subset)"""),
    md("## 1. The model adapted to 3x32x32 images and 100 classes\nOnly the input channels, the image size and "
       "the number of outputs change; the layers are those of Part 1."),
    Code(run="""
torch.manual_seed(config2.seed)
model2 = SmallCNN(in_channels=3, image_size=32, num_classes=100).to(memory_format=torch.channels_last)
print(model2, f"{count_parameters(model2):,} trainable parameters", sep="\\n")"""),
    md("## 2. Loss and optimizer\nThe same loss, optimizer and schedule as in Part 1; only the peak learning rate "
       "changes (see the recipe)."),
    Code(run="""
steps_per_epoch2 = math.ceil(len(splits2.train_y) / config2.batch_size)
criterion2, optimizer2, scheduler2 = make_training(model2, config2, steps_per_epoch2)
print(criterion2, optimizer2, sep="\\n")
print(f"batch size {config2.batch_size}, peak learning rate {config2.lr}, augmentation {config2.augment}")"""),
    md("## 3. Training and validation split"),
    Code(run="""
print(f"{len(splits2.train_y):,} training / {len(splits2.val_y):,} validation / {len(splits2.test_y):,} test images")
print("validation images per class: from", torch.bincount(splits2.val_y).min().item(), "to",
      torch.bincount(splits2.val_y).max().item())"""),
    md("## 4. Training for at least 15 epochs"),
    Code(run="""
state2 = fit(model2, splits2, criterion2, optimizer2, scheduler2, config2, on_epoch_end=print_epoch)
print(f"trained {config2.epochs} epochs in {sum(row['seconds'] for row in state2.history):.0f} s")"""),
    md("## 5. Training and validation loss"),
    Code(run="""
plot_curves(state2.history, "Part 2: CIFAR-100, the assignment's CNN adapted")
plt.show()
summarise_curves(state2)"""),
    md("## 6. Test accuracy\nThe best-validation weights of the spec-adapted model, evaluated once."),
    Code(run="""
model2.load_state_dict(state2.best_weights)
test_loss2, test_accuracy2, predictions2 = evaluate(model2, splits2.test_x, splits2.test_y, criterion2)
print(f"Test accuracy: {test_accuracy2:.2%} (the assignment asks for at least 30%), with the weights of epoch "
      f"{state2.best_epoch} (validation accuracy {state2.best_val_accuracy:.2%})")"""),
    md("""## Architecture study
One change at a time against the spec-adapted model, each trained with the same recipe while the time budget
lasts, and compared on the **validation** split. The test set is used once more, for the entry the study
chooses."""),
    Code(("VARIANTS", "build_model", "STUDY", "wait_for", "estimate_seconds", "run_study", "study_entry",
          "compare_with_spec", "chosen_entry", "plot_study"), """
shape2 = (3, 32, 100)  # input channels, image side, classes
study2, trained2 = run_study(list(STUDY), splits2, config2, shape2, STUDY_MINUTES * 60,
                             trained={"spec": (model2, state2)})
for row in study2:  # validation accuracy, and its change against spec in points
    ran = row["val_accuracy"] is not None
    print(f"{row['entry']:<16} {row['params']:>9,} parameters  " + (f"validation {row['val_accuracy']:.2%} "
          f"({row['val_delta_points']:+.2f} points)" if ran else row["status"]))
plot_study(study2, "Part 2: validation accuracy of each change")
plt.show()
chosen2 = chosen_entry(study2)
chosen_test_accuracy2 = evaluate(trained2[chosen2][0], splits2.test_x, splits2.test_y, criterion2)[1]
print(f"Chosen on validation: {chosen2}; its test accuracy: {chosen_test_accuracy2:.2%}")"""),
    md("## 7. Questions"),
]


def published_code():
    """Table 3 and the CIFAR-100 reference, copied from published.json as literal data (no figure typed in)."""
    published = answers.load_published()
    table = published["fashion_mnist_table3"]
    pairs = [f"{r['classifier']!r}: {r['fashion_mnist']!r}" for r in table["rows"]]
    lines = ",\n    ".join(", ".join(pairs[i:i + 3]) for i in range(0, len(pairs), 3))
    return Code(run=f"""
# {table['citation']}
# {table['table']} Its Fashion-MNIST column, as published.
TABLE3_ACCURACY = {{
    {lines}}}""")


def build_notebook(quick=False, fashion_root=".", cifar_root=".", download=False):
    """The unexecuted notebook: disclaimer, introduction, settings, Part 1 and Part 2 with their questions."""
    definitions = core_definitions()
    imports = "\n".join(core_imports())
    cells = [disclaimer_cell(), md("# Introduction\n\n*(written after execution)*"),
             Code(run="# The libraries this notebook uses, and only these: the standard library, torch, torchvision,\n"
                      "# numpy and matplotlib (plots).\n" + imports),
             settings_code(quick, fashion_root, cifar_root, download),
             *PART1, published_code(), PART1_COMPARISON, *explain("8a"), *explain("8b"),
             *PART2, *explain("7a"), *explain("7b"), *explain("7c")]
    cells = [new_code_cell(render(c, definitions)) if isinstance(c, Code) else c for c in cells]
    cells[1].metadata["smallcnn"] = {"introduction": True}
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def disclaimer_cell():
    return md(f"""# AI-use disclaimer
**Provenance.** This notebook was generated and executed by the `smallcnn notebook` command. Its code cells are
functions of the `smallcnn` package (written with the help of an AI coding assistant and tested there), copied
verbatim, followed by the lines that call them. The explanation texts were composed by the package from this
execution's results: every accuracy they quote is printed in an output of this notebook or is a cited published
figure, and the other numbers are computed from those outputs.

**My own declaration (to be written by the student).**

> {PLACEHOLDER} of how you used AI tools for this assignment, citing which parts of the code were
> written with AI help._""")


# --- execution --------------------------------------------------------------------------------------

# Read back from the kernel after the last cell: the results the explanations are written from.
RESULTS_CODE = """
import dataclasses as _dataclasses, json as _json
_part = lambda config, model, state, test_accuracy, classes, splits: {
    "config": _dataclasses.asdict(config), "epochs": config.epochs, "params": count_parameters(model), "history": state.history,
    "best_epoch": state.best_epoch, "best_val_accuracy": state.best_val_accuracy, "test_accuracy": test_accuracy,
    "num_classes": len(classes), "train_images": len(splits.train_y)}
_results = {"part1": {**_part(config1, model1, state1, test_accuracy1, classes1, splits1), "per_class": per_class1,
                      "ranked": ranked1}}
if "study2" in globals():
    _results["part2"] = {**_part(config2, model2, state2, test_accuracy2, classes2, splits2), "study": study2,
                         "chosen": chosen2, "chosen_test_accuracy": chosen_test_accuracy2,
                         "chosen_widths": VARIANTS[STUDY[chosen2][0]].get("widths", SPEC_WIDTHS)}
print(_json.dumps(_results))
"""


def part2_cells(nb):
    """Indices of the cells from the Part 2 heading on."""
    start = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.startswith("# Part 2"))
    return range(start, len(nb.cells))


def execute(nb, cwd, run_part2):
    """Run the notebook's code cells in a fresh python3 kernel; returns the results read back from it.

    Without Part 2, its cells are left out of the run and keep no outputs.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    skipped = set() if run_part2 else set(part2_cells(nb))
    runnable = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and i not in skipped]
    run_nb = new_notebook(cells=[copy.deepcopy(nb.cells[i]) for i in runnable] + [new_code_cell(RESULTS_CODE)],
                          metadata=copy.deepcopy(nb.metadata))
    client = NotebookClient(run_nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd)}})
    try:
        client.execute()
    except CellExecutionError as exc:
        failure = str(exc).strip().splitlines()[-1]
        copy_outputs(run_nb, nb, runnable)
        raise NotebookError(f"a cell failed: {failure}") from None
    copy_outputs(run_nb, nb, runnable)
    nb.metadata["language_info"] = run_nb.metadata.get("language_info", {})
    return json.loads(output_text(run_nb.cells[-1]))


def copy_outputs(run_nb, nb, runnable):
    for source, index in zip(run_nb.cells, runnable):
        nb.cells[index].outputs = source.get("outputs", [])
        nb.cells[index].execution_count = source.get("execution_count")
        if "execution" in source.metadata:  # nbclient's timestamps: when each cell started and ended
            nb.cells[index].metadata["execution"] = source.metadata["execution"]


# --- the explanations and the introduction, from the results ----------------------------------------

def write_explanations(nb, results, part2_reason):
    reference = max((r for r in answers.load_published()["cifar100_references"]["results"]
                     if r["skip_connections"]), key=lambda r: r["accuracy"])
    part1, part2 = results["part1"], results.get("part2")
    texts = {"8a": lambda: answers.answer_8a(part1), "8b": lambda: answers.answer_8b(part1),
             "7a": lambda: answers.answer_7a(part1, part2), "7b": lambda: answers.answer_7b(part2, reference),
             "7c": lambda: answers.answer_7c(part2)}
    for cell in nb.cells:
        key = cell.metadata.get("smallcnn", {}).get("answer")
        if key:
            text = texts[key]() if key.startswith("8") or part2 else f"*Not written: {part2_reason}*"
            cell.source = f"{EXPLAIN_MARK}\n\n{text}"


def recipe(part):
    """One line of a part's settings, from the configuration it ran with."""
    c = part["config"]
    return (f"{c['epochs']} epochs of SGD (batch size {c['batch_size']}, peak learning rate {c['lr']}, momentum "
            f"{c['momentum']}, one-cycle schedule), augmentation: {c['augment']}")


def introduction(quick, results, seconds, part2_reason):
    part1 = results["part1"]
    lines = ["# Introduction",
             "This notebook trains the assignment's small convolutional network on Fashion-MNIST (Part 1) and, "
             "adapted to colour images and 100 classes, on CIFAR-100 (Part 2). Every choice is made on a "
             "validation split taken at random from the training set; the test set is used only to report.",
             "",
             f"- Part 1: {recipe(part1)}; test accuracy {part1['test_accuracy']:.2%} (item 7).",
             "- Part 2: " + (f"{recipe(results['part2'])}; test accuracy {results['part2']['test_accuracy']:.2%} "
                             f"(item 6), then the architecture study." if "part2" in results
                             else f"not run ({part2_reason})."),
             f"- Executed top to bottom in {seconds / 60:.1f} minutes with Python {sys.version.split()[0]} and the "
             f"library versions printed in the first code cell."]
    if quick:
        lines.insert(1, f"> **Quick version ({quick_words()}): a smoke test of the notebook, below the "
                        f"assignment's 15 epochs; not the deliverable.**\n")
    return "\n".join(lines)


# --- building the deliverable ----------------------------------------------------------------------

def find_data(data_dir, quick):
    """(Fashion-MNIST root, CIFAR-100 root, reason Part 2 cannot run or None): torchvision roots, prepared offline."""
    fashion = datastore.find_source("fashion-mnist", data_dir)
    if fashion is None:
        raise NotebookError("Fashion-MNIST not found; install it (`apt-get install dataset-fashion-mnist` or "
                            "`smallcnn data fetch fashion-mnist`) or pass --data-dir")
    try:
        cifar = datastore.find_source("cifar100", data_dir)
        if cifar is None and not quick:
            cifar = datastore.fetch("cifar100", data_dir)
    except datastore.DataError as exc:
        return fashion.root, datastore.default_cache_dir(), f"the official CIFAR-100 is not available here ({exc})"
    if cifar is None:
        return fashion.root, datastore.default_cache_dir(), "the quick build does not download CIFAR-100"
    if not cifar.official:
        return fashion.root, cifar.root, f"the CIFAR-100 files in {cifar.location} are {cifar.identity}"
    return fashion.root, cifar.root, None


def finish(nb, results, quick, seconds, part2_reason):
    """Write the explanations and the introduction; mark an incomplete deliverable in its first cells."""
    write_explanations(nb, results, part2_reason)
    intro = next(c for c in nb.cells if c.metadata.get("smallcnn", {}).get("introduction"))
    intro.source = introduction(quick, results, seconds, part2_reason)
    reasons = incompleteness(quick, part2_reason)
    if reasons:
        nb.cells.insert(1, md("> **This notebook is incomplete as a deliverable:**\n>\n"
                              + "\n".join(f"> - {reason}" for reason in reasons)))
    return reasons


def quick_words():
    return ", ".join(f"{key} {value:,}" for key, value in QUICK.items())


def incompleteness(quick, part2_reason):
    reasons = [f"this is the --quick version ({quick_words()}), below the assignment's 15 epochs"] if quick else []
    if part2_reason:
        reasons.append(f"Part 2 did not run: {part2_reason}")
    return reasons


def write_notebook(nb, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: f.write(nbformat.writes(nb).encode()))


def write_html(nb, path):
    try:
        from nbconvert import HTMLExporter
    except ImportError:
        raise NotebookError("--html needs nbconvert (pip install nbconvert)") from None
    body, _ = HTMLExporter().from_notebook_node(nb)
    atomic_write(path, lambda f: f.write(body.encode()))


def make_notebook(out, quick=False, data_dir=None, allow_incomplete=False, html=False, log=print):
    """Build, execute, write up, save and check the notebook; returns the check's summary line.

    A notebook that could not run Part 2 is still written; unless allow_incomplete, that is an error.
    """
    out = Path(out)
    fashion_root, cifar_root, part2_reason = find_data(data_dir, quick)
    nb = build_notebook(quick, fashion_root, cifar_root, download=False)
    start = time.perf_counter()
    try:
        results = execute(nb, Path.cwd(), run_part2=part2_reason is None)
    except NotebookError as exc:
        write_notebook(nb, out)
        raise NotebookError(f"{exc}; the partly executed notebook is in {out}") from None
    seconds = time.perf_counter() - start
    log(f"executed in {seconds:.0f} s")
    reasons = finish(nb, results, quick, seconds, part2_reason)
    write_notebook(nb, out)
    if html:
        write_html(nb, out.with_suffix(".html"))
    problems, summary = check_notebook(nb)
    if problems:
        raise NotebookError(f"{out} was written but fails its check:\n" + "\n".join(problems))
    for reason in reasons:
        print(f"warning: incomplete deliverable: {reason}", file=sys.stderr)
    if part2_reason and not (allow_incomplete or quick):
        raise NotebookError(f"{out} was written without Part 2 ({part2_reason}); pass --allow-incomplete to accept")
    return summary
