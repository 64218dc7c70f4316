"""`smallcnn check`: each known defect of a submission is flagged on its item and nowhere else.

The clean base is tests/fixtures/plain_completion.ipynb, the starter completed by hand the simplest way (Part 1
executed for real, Part 2 not: CIFAR-100 was unavailable). Each test copies it in memory, applies one defect
and compares every item's status with the base's.
"""

import argparse
import copy
import csv
import json
from pathlib import Path

import pytest

from smallcnn.notebook import check
from smallcnn.notebook.check.cells import MAX_OUTPUT_CHARS, Unreadable, parse_notebook
from smallcnn.notebook.check.items import other_test_accuracy
from smallcnn.notebook.check.layout import STARTER_FILE, starter
from smallcnn.notebook.check.text import sentences, split_answers, table3_claims

FIXTURE = Path(__file__).parent / "fixtures" / "plain_completion.ipynb"
BASE = json.loads(FIXTURE.read_text(encoding="utf-8"))
NOT_RUN = {"p2.run", "p2.plot", "p2.test", "execution"}  # what the base cannot tell: its Part 2 never ran


def results(nb: dict) -> dict[str, check.Item]:
    return {item.item: item for item in check.check_notebook(nb)}


def statuses(nb: dict) -> dict[str, str]:
    return {name: item.status for name, item in results(nb).items()}


BASE_STATUS = statuses(BASE)


def fresh() -> dict:
    return copy.deepcopy(BASE)


def source(nb: dict, index: int) -> str:
    text = nb["cells"][index]["source"]
    return text if isinstance(text, str) else "".join(text)


def edit(nb: dict, index: int, old: str, new: str) -> dict:
    """Replace text in a cell's source and in its outputs' text (as if the edited cell had been run)."""
    cell = nb["cells"][index]
    assert old in source(nb, index) or old in json.dumps(cell.get("outputs", [])).replace('\\"', '"'), old
    cell["source"] = source(nb, index).replace(old, new)
    for output in cell.get("outputs", []):
        if "text" in output:
            output["text"] = "".join(output["text"]).replace(old, new)
        if "text/plain" in output.get("data", {}):
            output["data"]["text/plain"] = "".join(output["data"]["text/plain"]).replace(old, new)
    return nb


def assert_only(nb: dict, flagged: set[str], base: dict[str, str] = BASE_STATUS) -> dict[str, check.Item]:
    """The `flagged` items are flagged; every other item keeps its status in the base."""
    found = results(nb)
    for name, item in found.items():
        want = "flag" if name in flagged else base[name]
        assert item.status == want, f"{name}: {item.status} (wanted {want}): {item.reasons}"
    return found


def run_part2(nb: dict, accuracy: float = 38.5) -> dict:
    """Give Part 2's code cells the counts and outputs of a run (the fixture's machine had no CIFAR-100)."""
    part1_model = "".join(nb["cells"][6]["outputs"][0]["data"]["text/plain"])
    model = part1_model.replace("Conv2d(1, 10", "Conv2d(3, 10").replace("in_features=144, out_features=10",
                                                                        "in_features=256, out_features=100")
    epochs = "".join(f"Epoch {e}/15: train_loss=3.1000, train_acc=0.3000, val_loss=3.2000, "
                     f"val_acc={accuracy / 100:.4f}\n" for e in range(1, 16))
    outputs = {20: [stream("Device: cpu\n")], 22: [], 23: [result("(45000, 5000, 10000)")], 25: [result(model)],
               27: copy.deepcopy(nb["cells"][8]["outputs"]), 29: [], 31: [stream(epochs)],
               33: [{"output_type": "display_data", "metadata": {},
                     "data": {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure size 800x500 with 1 Axes>"}}],
               35: [stream(f"[CIFAR-100 test] Loss = 2.5000 | Acc = {accuracy:.2f}%\n")]}
    for count, (index, cell_outputs) in enumerate(outputs.items(), start=10):
        nb["cells"][index]["execution_count"] = count
        nb["cells"][index]["outputs"] = cell_outputs
    return nb


def stream(text: str) -> dict:
    return {"output_type": "stream", "name": "stdout", "text": text}


def result(text: str) -> dict:
    return {"output_type": "execute_result", "execution_count": None, "metadata": {}, "data": {"text/plain": text}}


RAN = run_part2(fresh())
RAN_STATUS = statuses(RAN)


# --- the clean notebooks ---------------------------------------------------------------------------

def test_plain_completion_is_ok_where_it_can_tell():
    assert {name for name, status in BASE_STATUS.items() if status != "ok"} == NOT_RUN
    reasons = results(BASE)["p2.test"].reasons
    assert reasons == ["Part 2 was not executed"]


def test_plain_completion_with_part2_run_is_all_ok():
    assert set(RAN_STATUS.values()) == {"ok"}, {k: v for k, v in RAN_STATUS.items() if v != "ok"}


def test_the_bare_starter_is_flagged_and_does_not_crash():
    nb = json.loads(STARTER_FILE.read_text(encoding="utf-8"))
    found = statuses(nb)
    assert {"p1.model", "p1.loss", "p1.loop", "p1.discussion", "structure", "disclosure", "execution"} <= {
        name for name, status in found.items() if status == "flag"}
    assert found["python"] == "unknown"


def test_items_carry_the_starters_points():
    boxes = [cell.source for cell in starter() if "<h3>" in cell.source]
    assert [points for _, _, points in check.ITEMS[:16]] == [1, 3, 1, 1, 1, 1, 1, 2, 1, 4, 1, 1, 1, 1, 1, 4]
    for (item, title, points), box in zip(check.ITEMS, boxes):
        assert title in box and f"({points} point" in box, item


# --- the model: each architecture deviation --------------------------------------------------------

# (the defect, its edits of cell 6's source and printed model, what the reason says)
MODEL_DEFECTS = [
    ("widths", [("Conv2d(1, 10", "Conv2d(1, 8"), ("Conv2d(10, 5", "Conv2d(8, 5")],
     "8 channels where Conv_10 needs 10"),
    ("kernel", [("nn.Conv2d(10, 5, kernel_size=3, padding=1)", "nn.Conv2d(10, 5, kernel_size=5, padding=2)"),
                ("Conv2d(10, 5, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))",
                 "Conv2d(10, 5, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))")],
     "kernel 5 where the assignment has 3"),
    ("pooling size", [("nn.MaxPool2d(2)", "nn.MaxPool2d(3)"),
                      ("MaxPool2d(kernel_size=2, stride=2", "MaxPool2d(kernel_size=3, stride=3")],
     "pooling 3 where the assignment has 2"),
    ("order", [("x = self.pool(self.relu(self.conv1(x)))", "x = self.relu(self.pool(self.conv1(x)))")],
     "max-pool (MaxPool2d) where the assignment has ReLU"),
    ("pooling steps", [("x = self.pool(self.relu(self.conv3(x)))", "x = self.relu(self.conv3(x))"),
                       ("nn.Linear(16 * 3 * 3, 10)", "nn.Linear(16 * 7 * 7, 10)"),
                       ("in_features=144", "in_features=784")],
     "2 max-pooling steps where the assignment has 3"),
    ("linear layers", [("self.fc = nn.Linear(16 * 3 * 3, 10)",
                        "self.fc1 = nn.Linear(16 * 3 * 3, 64)\n        self.fc = nn.Linear(64, 10)"),
                       ("out = self.fc(x)", "out = self.fc(self.fc1(x))")],
     "2 linear layers where the assignment has 1"),
    ("input channels", [("Conv2d(1, 10", "Conv2d(3, 10")], "3 input channels where Fashion-MNIST has 1"),
    ("Linear inputs", [("nn.Linear(16 * 3 * 3, 10)", "nn.Linear(16 * 4 * 4, 10)"),
                       ("in_features=144", "in_features=256")],
     "takes 256 inputs where the layers before it give 144"),
    ("batch norm in Part 1", [("self.relu = nn.ReLU()", "self.relu = nn.ReLU()\n        self.bn = nn.BatchNorm2d(10)"),
                              ("x = self.pool(self.relu(self.conv1(x)))",
                               "x = self.pool(self.relu(self.bn(self.conv1(x))))")],
     "adds to the assignment's network: BatchNorm2d ×1"),
]


@pytest.mark.parametrize("defect, edits, reason", MODEL_DEFECTS, ids=[defect for defect, _, _ in MODEL_DEFECTS])
def test_each_architecture_deviation_is_flagged_on_the_model(defect, edits, reason):
    nb = fresh()
    for old, new in edits:
        edit(nb, 6, old, new)
    found = assert_only(nb, {"p1.model"})
    assert any(reason in r for r in found["p1.model"].reasons), found["p1.model"].reasons


def test_a_printed_model_that_is_not_the_source_is_flagged():
    nb = fresh()
    nb["cells"][6]["source"] = source(nb, 6).replace("Conv2d(1, 10", "Conv2d(1, 12")
    found = assert_only(nb, {"p1.model"})
    assert any("the output is not from this code" in reason for reason in found["p1.model"].reasons)


@pytest.mark.parametrize("old, new, reason", [
    ("nn.Linear(16 * 4 * 4, 100)", "nn.Linear(16 * 4 * 4, 10)", "10 outputs where CIFAR-100 has 100 classes"),
    ("nn.Conv2d(3, 10", "nn.Conv2d(1, 10", "1 input channels where CIFAR-100 has 3"),
])
def test_part2_needs_three_channels_and_100_outputs(old, new, reason):
    found = assert_only(edit(fresh(), 25, old, new), {"p2.model"})
    assert any(reason in r for r in found["p2.model"].reasons), found["p2.model"].reasons


SEQUENTIAL = '''# Define the network architecture
class SmallCNN(nn.Module):
    def __init__(self, in_channels=1, num_classes=10, widths=(10, 5, 16), image_size=28):
        # CODE HERE
        # Define the convolutional layers, pooling layers...
        super().__init__()
        c1, c2, c3 = widths
        side = image_size // 2 // 2 // 2
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c2, c3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(kernel_size=2),
        )
        self.classifier = nn.Linear(c3 * side * side, num_classes)

    def forward(self, x):
        # CODE HERE
        # Implement the forward pass. Return the final output.
        x = self.features(x)
        out = self.classifier(torch.flatten(x, 1))
        return out

# You may want to verify the architecture of CNN
model = SmallCNN({arguments}).to(device)
model'''

FUNCTIONAL = '''# Define the network architecture
class SmallCNN(nn.Module):
    def __init__(self):
        # CODE HERE
        # Define the convolutional layers, pooling layers...
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, 3)
        self.conv2 = nn.Conv2d(10, 5, 3)
        self.conv3 = nn.Conv2d(5, 16, 3)
        self.fc = nn.Linear(16 * 2 * 2, 100)  # 32 -> 30 -> 15 -> 13 -> 6 -> 4 -> 2

    def forward(self, x):
        # CODE HERE
        # Implement the forward pass. Return the final output.
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.max_pool2d(F.relu(self.conv3(x)), kernel_size=2)
        out = self.fc(x.view(x.size(0), -1))
        return out

# You may want to verify the architecture of CNN
model = SmallCNN().to(device)
model'''

IMPROVED = '''
class WideCNN(nn.Module):
    def __init__(self, num_classes=100):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1), nn.BatchNorm2d(128), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.dropout = nn.Dropout(0.3)
        self.fc = nn.Linear(128 * 4 * 4, num_classes)

    def forward(self, x):
        return self.fc(self.dropout(self.features(x).flatten(1)))
'''


def test_a_sequential_model_with_parameters_is_judged_as_instantiated():
    nb = fresh()
    nb["cells"][25]["source"] = SEQUENTIAL.format(arguments="in_channels=3, num_classes=100, image_size=32")
    found = assert_only(nb, set())
    assert "convs 3→10→5→16 (kernel 3), each → ReLU → max-pool, then Linear 256→100" in found["p2.model"].reasons[0]


def test_functional_relu_and_pooling_count_as_layers():
    nb = fresh()
    nb["cells"][25]["source"] = FUNCTIONAL
    assert "Linear 64→100" in assert_only(nb, set())["p2.model"].reasons[0]


def test_part2_names_its_allowed_changes_and_other_classes():
    nb = fresh()
    edit(nb, 25, "model = SmallCNN().to(device)", IMPROVED + "\nmodel = SmallCNN().to(device)")
    for conv in ("conv1", "conv2", "conv3"):
        edit(nb, 25, f"self.relu(self.{conv}(x))", f"self.relu(self.bn{conv[-1]}(self.{conv}(x)))")
    edit(nb, 25, "self.relu = nn.ReLU()", "self.relu = nn.ReLU()\n        self.bn1 = nn.BatchNorm2d(10)\n"
                                         "        self.bn2 = nn.BatchNorm2d(5)\n        self.bn3 = nn.BatchNorm2d(16)")
    reason = assert_only(nb, set())["p2.model"].reasons[0]
    assert "changes: BatchNorm2d after each conv" in reason
    assert ("also defines WideCNN (changes: widths 32/64/128; BatchNorm2d after each conv; Dropout before the FC)"
            in reason)


# --- the notebook-wide rules -----------------------------------------------------------------------

def renumber(nb: dict) -> dict:
    """Execution counts 1, 2, 3, ... over the executed code cells, as one Run All gives them."""
    count = 0
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and cell.get("execution_count") is not None:
            count += 1
            cell["execution_count"] = count
    return nb


def test_a_model_rebuilt_after_training_is_flagged_on_execution():
    nb = fresh()
    nb["cells"][6]["execution_count"], nb["cells"][16]["execution_count"] = 10, 11  # re-run model, then test
    found = assert_only(nb, {"execution"})
    assert any("the test ran on a model rebuilt after training" in r for r in found["execution"].reasons)


def test_out_of_order_execution_is_flagged():
    nb = fresh()
    nb["cells"][8]["execution_count"], nb["cells"][10]["execution_count"] = 6, 5
    found = assert_only(nb, {"execution"})
    assert any("ran before cell 8 [6] above it: out of order" in r for r in found["execution"].reasons)


def test_a_test_accuracy_far_from_validation_in_a_disordered_run_is_flagged():
    nb = edit(fresh(), 16, "Acc = 88.38%", "Acc = 10.00%")
    nb["cells"][14]["execution_count"], nb["cells"][16]["execution_count"] = 9, 8
    found = assert_only(nb, {"execution", "p1.discussion"})  # the answer's claims no longer hold either
    assert any("78.7 points from the last validation accuracy 88.70%" in r for r in found["execution"].reasons)


def test_an_error_output_and_an_unexecuted_cell_are_flagged_on_execution():
    nb = fresh()
    nb["cells"][16]["outputs"].append({"output_type": "error", "ename": "KeyboardInterrupt", "evalue": "",
                                       "traceback": []})
    nb["cells"][8]["execution_count"], nb["cells"][8]["outputs"] = None, []
    reasons = assert_only(nb, {"execution"})["execution"].reasons
    assert "cell 16: error output KeyboardInterrupt:" in reasons
    assert any("cells 8 not executed" in r for r in reasons)


def test_a_missing_or_misplaced_disclosure_is_flagged():
    line = source(BASE, 0).splitlines()[0]
    nb = edit(fresh(), 0, line + "\n\n", "")
    assert assert_only(nb, {"disclosure"})["disclosure"].reasons[0].startswith("no AI-use disclosure")
    edit(nb, 18, "raise the accuracy as well.", "raise the accuracy as well.\n\n" + line)
    reason = assert_only(nb, {"disclosure"})["disclosure"].reasons[0]
    assert reason.endswith("not in the first text block (found in cell 18)")


def test_the_deliverables_placeholder_is_the_students_to_replace():
    nb = edit(fresh(), 0, source(BASE, 0).splitlines()[0], f"_{check.DISCLOSURE_PLACEHOLDER}._")
    found = results(nb)["disclosure"]
    assert found.status == "unknown" and "still the placeholder: replace it" in found.reasons[0]


@pytest.mark.parametrize("line, flagged", [("import pandas as pd", True), ("!pip install tqdm", True),
                                           ("import time", False),
                                           ("from sklearn.metrics import accuracy_score", False)])
def test_libraries_beyond_the_starters_are_flagged(line, flagged):
    nb = edit(fresh(), 1, "import numpy as np\n", f"import numpy as np\n{line}\n")
    found = assert_only(nb, {"libraries"} if flagged else set())["libraries"]
    if line == "import time":
        assert "standard library too: time (cell 1) (not flagged)" in found.reasons


def test_another_python_version_is_flagged():
    nb = fresh()
    nb["metadata"]["language_info"]["version"] = "3.11.9"
    assert assert_only(nb, {"python"})["python"].reasons == ["Python 3.11.9 (language_info.version) where the "
                                                             "assignment asks for 3.12"]


# --- the structure ---------------------------------------------------------------------------------

def test_an_added_cell_is_named_after_its_neighbour():
    nb = fresh()
    nb["cells"].insert(5, {"cell_type": "markdown", "id": "added", "metadata": {},
                           "source": "Here I look at the sizes of the splits before training."})
    found = assert_only(nb, {"structure"})
    assert found["structure"].reasons == ['cell 5: "Here I look at the sizes of the splits before training.": a '
                                          "markdown cell added after starter cell 4 (the code of the '1) Data' box)"]


def test_an_added_code_cell_that_ran_is_only_a_structure_flag():
    nb = fresh()
    nb["cells"].insert(5, {"cell_type": "code", "id": "added", "metadata": {}, "execution_count": 4, "outputs": [],
                           "source": "print(train_ds[0][0].shape)"})
    assert_only(renumber(nb), {"structure"})


def test_an_altered_box_is_flagged():
    found = assert_only(edit(fresh(), 5, "(3 points)", "(5 points)"), {"structure"})
    assert found["structure"].reasons == ["cell 5: the '2) Model' box is altered: \"Build the CNN model (3 points)\" "
                                          "became \"Build the CNN model (5 points)\""]


def test_a_moved_cell_is_reported_as_moved():
    nb = fresh()
    nb["cells"].insert(9, nb["cells"].pop(7))  # the Loss & Optimizer box below its code
    found = assert_only(nb, {"structure"})
    assert any("the '3) Loss & Optimizer' box, moved" in r for r in found["structure"].reasons)


def test_a_left_placeholder_is_flagged():
    nb = edit(fresh(), 12, "    val_accs.append(va_acc)\n", "    val_accs.append(va_acc)\n    ...\n")
    assert assert_only(nb, {"structure"})["structure"].reasons == ['cell 12: the starter\'s placeholder "..." left']


def test_a_changed_given_line_is_flagged_but_an_mps_device_line_is_not():
    nb = edit(fresh(), 3, "download=True, transform=transform)\ntest_ds",
              "download=False, transform=transform)\ntest_ds")
    assert "a given line changed or removed" in assert_only(nb, {"structure"})["structure"].reasons[0]
    mps_line = "device = torch.device('mps') if torch.backends.mps.is_available() else device"
    mps = edit(fresh(), 1, 'print("Device:", device)', f'{mps_line}\nprint("Device:", device)')
    assert_only(mps, set())


# --- the other items -------------------------------------------------------------------------------

def test_part2_under_30_percent_is_flagged():
    found = assert_only(run_part2(fresh(), accuracy=25.0), {"p2.test"}, base=RAN_STATUS)
    assert found["p2.test"].reasons == ['cell 35: "[CIFAR-100 test] Loss = 2.5000 | Acc = 25.00%": 25.00% is under '
                                        "the 30% the assignment asks for on CIFAR-100"]


def test_a_claim_that_table3_contradicts_is_flagged():
    nb = edit(fresh(), 18, "Only SVC (89.7%) reports", "Only SVC (89.7%) and KNN (85.4%) report")
    reasons = assert_only(nb, {"p1.discussion"})["p1.discussion"].reasons
    wanted = "calls KNeighborsClassifier better, but Table 3's 85.4% is below the printed 88.38%"
    assert any(wanted in reason for reason in reasons)


@pytest.mark.parametrize("index, old, new, item", [
    (12, "epochs = 15", "epochs = 10", "p1.run"),
    (8, "torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)", "torch.optim.Adam(model.parameters())",
     "p1.loss"),
    (14, 'plt.plot(range(1, epochs + 1), val_losses, label="Validation loss")\n', "", "p1.plot"),
    (10, "        loss.backward()\n", "", "p1.loop"),
    (18, " Data augmentation such as small shifts and horizontal flips would help the network generalize.", "",
     "p1.discussion"),
    (4, "train_ds, val_ds = random_split(train_full, [54000, 6000])",
     "train_ds, val_ds = random_split(train_full, [54000, 6000])\ntrain_ds = train_full", "p1.data"),
])
def test_each_items_own_defect_is_flagged_there(index, old, new, item):
    nb = edit(fresh(), index, old, new)
    if item == "p1.data":
        nb["cells"][4]["outputs"][0]["data"]["text/plain"] = "(60000, 6000, 10000)"
    assert_only(nb, {item})


def test_a_missing_part2_answer_is_flagged_where_part2_ran():
    found = assert_only(edit(run_part2(fresh()), 37, "**(c)**", ""), {"p2.discussion"}, base=RAN_STATUS)
    assert found["p2.discussion"].reasons == ["cell 37: no (c) answer found"]


def test_short_answers_of_a_part_that_never_ran_are_cannot_tell():
    nb = fresh()
    nb["cells"][37]["source"] = "*Not answered: CIFAR-100 could not be downloaded.*"
    found = results(nb)["p2.discussion"]
    assert found.status == "unknown" and found.reasons[0] == "Part 2 was not executed"


def test_part2_not_executed_is_cannot_tell_but_its_source_is_still_judged():
    nb = edit(fresh(), 31, "epochs = 15", "epochs = 5")
    assert assert_only(nb, {"p2.run"})["p2.run"].reasons == ['cell 31: "epochs = 5": 5 epochs where the assignment '
                                                             "asks for at least 15"]


# --- what real completed copies do, without a flag -------------------------------------------------

def test_answers_above_the_untouched_empty_cell_are_read():
    nb = fresh()
    answers = nb["cells"][18]
    nb["cells"][18] = {"cell_type": "code", "id": "cell-18", "metadata": {}, "execution_count": None, "outputs": [],
                       "source": ""}
    nb["cells"].insert(18, dict(answers, id="answers"))
    found = assert_only(nb, set())
    assert any("a blank code cell" in r for r in found["structure"].reasons)


def test_answers_left_out_flag_the_discussion_only():
    nb = fresh()
    nb["cells"][18] = {"cell_type": "code", "id": "cell-18", "metadata": {}, "execution_count": None, "outputs": [],
                       "source": ""}
    assert assert_only(nb, {"p1.discussion"})["p1.discussion"].reasons == [
        "cell 18: no answers (the cell after the Discussion box is empty)"]


def test_part2_run_in_a_fresh_kernel_of_its_own_is_in_order():
    nb = run_part2(fresh())
    for count, index in enumerate((20, 22, 23, 25, 27, 29, 31, 33, 35), start=1):
        nb["cells"][index]["execution_count"] = count
    assert_only(nb, set(), base=RAN_STATUS)


def test_run_all_without_a_restart_is_noted_not_flagged():
    nb = fresh()
    for cell in nb["cells"]:
        if cell.get("execution_count"):
            cell["execution_count"] += 48
    reasons = assert_only(nb, set())["execution"].reasons
    assert "cell 1: counts start at [49], not [1]: not one Run All from a fresh kernel (not flagged)" in reasons


def test_a_model_built_by_a_helper_function_is_read():
    nb = fresh()
    nb["cells"][25]["source"] = """def conv_block(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2))

# Define the network architecture
class SmallCNN(nn.Module):
    def __init__(self, num_classes=100):
        # CODE HERE
        # Define the convolutional layers, pooling layers...
        super().__init__()
        self.blocks = nn.Sequential(conv_block(3, 10), self.block(10, 5), conv_block(5, 16))
        self.fc = nn.Linear(16 * 4 * 4, num_classes)

    def block(self, cin, cout):
        return conv_block(cin, cout)

    def forward(self, x):
        # CODE HERE
        # Implement the forward pass. Return the final output.
        out = self.fc(self.blocks(x).flatten(1))
        return out

# You may want to verify the architecture of CNN
model = SmallCNN().to(device)
model"""
    assert "convs 3→10→5→16" in assert_only(nb, set())["p2.model"].reasons[0]


def test_renamed_datasets_and_a_zero_based_epoch_count_pass():
    nb = edit(fresh(), 4, "train_ds, val_ds = random_split(train_full, [54000, 6000])",
              "train_set, val_set = random_split(train_full, [54000, 6000])")
    for name in ("train", "val"):
        edit(nb, 4, f"DataLoader({name}_ds,", f"DataLoader({name}_set,")
    edit(nb, 4, "len(train_ds), len(val_ds)", "len(train_set), len(val_set)")
    for epoch in range(1, 16):
        edit(nb, 12, f"Epoch {epoch}/15:", f"Epoch {epoch - 1}:")
    assert "the outputs show 15 epochs" in assert_only(nb, set())["p1.run"].reasons[0]


def test_part2_may_reuse_part1s_optimizer_helper():
    nb = edit(fresh(), 8, "criterion = nn.CrossEntropyLoss()\noptimizer = torch.optim.SGD(model.parameters(), lr=0.01, "
                          "momentum=0.9)", "def make_training(model):\n    return nn.CrossEntropyLoss(), "
                          "torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)\n\n"
                          "criterion, optimizer = make_training(model)")
    edit(nb, 27, "criterion = nn.CrossEntropyLoss()\noptimizer = torch.optim.SGD(model.parameters(), lr=0.01, "
                 "momentum=0.9)", "criterion, optimizer = make_training(model)")
    assert_only(nb, set())


@pytest.mark.parametrize("line, value", [("Test accuracy: 88.42%", 88.42), ("Accuracy on test set: 0.8842", 88.42),
                                         ("Test Loss: 0.3120, Test Acc: 0.8842", 88.42),
                                         ("Test accuracy of the network on the 10000 test images: 88 %", 88.0),
                                         ("Validation accuracy: 88%", None)])
def test_other_test_accuracy_prints_are_read(line, value):
    found = other_test_accuracy(line)
    assert found == pytest.approx(value) if value is not None else found is None


# --- the answers -----------------------------------------------------------------------------------

def test_sentences_survive_abbreviations_decimals_tables_and_bullets():
    text = ("My CNN reached 88.4 % accuracy, i.e. close to SVC (89.7%) vs. the others. Zhang et al. report more.\n\n"
            "| method | accuracy |\n|---|---|\n| SVC | 89.7% |\n\n"
            "- Train for more epochs with a schedule\n- SVC: 89.7%\n\n## A heading with many words here\n")
    assert sentences(text) == ["My CNN reached 88.4 % accuracy, i.e. close to SVC (89.7%) vs. the others.",
                               "Zhang et al. report more.", "Train for more epochs with a schedule."]


@pytest.mark.parametrize("text", ["(a) one. (b) two.", "**(a)** one.\n**(b)** two.", "a) one.\nb) two.",
                                  "**8(a)** one.\n\n**8(b)** two.", "**a.** one.\n**b.** two.",
                                  "Part (a): one.\nPart (b): two.", "### (a)\none.\n### (b)\ntwo."])
def test_sub_answers_are_found_by_their_markers(text):
    answers = split_answers(text, "ab")
    assert set(answers) == {"a", "b"} and "one" in answers["a"] and "two" in answers["b"]


@pytest.mark.parametrize("text, claims", [
    ("SVC performs better than my CNN.", [("SVC", "better")]),
    ("A linear SVM performs worse than my model.", [("LinearSVC", "worse")]),
    ("My CNN outperforms KNN and logistic regression.", [("KNeighborsClassifier", "worse"),
                                                         ("LogisticRegression", "worse")]),
    ("Compared to SVC, my model does worse.", [("SVC", "better")]),
    ("The multilayer perceptron and the perceptron are below my network.", [("MLPClassifier", "worse"),
                                                                            ("Perceptron", "worse")]),
    ("Worse than my CNN:\n- Random forest (87.3%)\n- Naive Bayes (51.1%)", [("RandomForestClassifier", "worse"),
                                                                          ("GaussianNB", "worse")]),
    ("No method beats my CNN.", []),
    ("SVC is better than KNN.", []),
])
def test_table3_claims_are_read_conservatively(text, claims):
    assert [(name, polarity) for _, name, polarity in table3_claims(text)] == claims


def test_a_tie_within_a_tenth_is_no_contradiction():
    nb = edit(fresh(), 16, "Acc = 88.38%", "Acc = 87.95%")  # GradientBoosting is 88.0%, called worse
    assert_only(nb, set())


# --- bad input -------------------------------------------------------------------------------------

@pytest.mark.parametrize("content, reason", [
    (b"this is not json", "not JSON: Expecting value at line 1, column 1"),
    (FIXTURE.read_bytes()[:5000], "truncated JSON"),
    (json.dumps({"nbformat": 3, "worksheets": []}).encode(), "nbformat 3 notebook"),
    (b'{"nbformat": 4, "cells": [{"cell_type": "markdown", "source": "caf\xe9"}]}', "not UTF-8 text (byte 0xe9"),
    (b"[1, 2]", "not a notebook: the JSON is a list"),
])
def test_an_unreadable_file_is_one_line_and_exit_2(tmp_path, capsys, content, reason):
    (tmp_path / "bad.ipynb").write_bytes(content)
    assert check.main([str(tmp_path / "bad.ipynb"), str(FIXTURE)]) == 2
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith(str(tmp_path / "bad.ipynb")))
    assert "cannot read: " + reason in line
    assert f"{FIXTURE}: 0 flagged" in out  # the next file is still checked


def test_a_notebook_over_200_mb_is_refused_unread(tmp_path):
    big = tmp_path / "big.ipynb"
    with open(big, "wb") as handle:
        handle.truncate(201 * 1024 * 1024)  # sparse: no disk used, nothing read
    assert check.check_path(big).error == "201 MB: over the 200 MB limit, not read"


def test_an_output_over_10_mb_is_skipped_with_a_reason():
    nb = fresh()
    nb["cells"][12]["outputs"].append(stream("x" * (MAX_OUTPUT_CHARS + 1)))
    found = results(parse_notebook(json.dumps(nb)))
    assert any("cell 12: an output of 10.0 MB skipped unread (over 10 MB)" in r for r in found["execution"].reasons)
    assert found["p1.run"].status == "ok"


def test_sources_as_strings_or_line_lists_read_alike():
    nb = fresh()
    for cell in nb["cells"]:
        cell["source"] = "".join(cell["source"])
    assert statuses(nb) == BASE_STATUS


def test_a_notebook_without_outputs_is_cannot_tell_for_results():
    nb = fresh()
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["execution_count"], cell["outputs"] = None, []
    found = statuses(nb)
    assert found["execution"] == "flag"
    assert {found[item] for item in ("p1.run", "p1.plot", "p1.test")} == {"unknown"}
    assert found["p1.model"] == found["p1.loss"] == "ok"


def test_a_folder_without_notebooks_and_a_missing_path_exit_2(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("no notebook here")
    assert check.main([str(tmp_path), str(tmp_path / "missing.ipynb")]) == 2
    out = capsys.readouterr().out
    assert f"{tmp_path}: cannot read: no notebooks (*.ipynb) in this folder" in out
    assert "missing.ipynb: cannot read: no such file or folder" in out


def test_malformed_cells_never_crash_the_checker():
    nb = fresh()
    nb["cells"][3] = "not a cell"
    nb["cells"][4]["source"] = None
    nb["cells"][6]["outputs"] = [{"output_type": "execute_result", "data": {"text/plain": 5}}, 7]
    nb["cells"][10]["execution_count"] = "x"
    assert all(item.status in ("ok", "flag", "unknown") for item in check.check_notebook(nb))
    with pytest.raises(Unreadable):
        check.check_notebook({"nbformat": 4})


# --- several notebooks: table, CSV, JSON, exit status ----------------------------------------------

def folder_of_submissions(tmp_path: Path) -> Path:
    (tmp_path / "a" / ".ipynb_checkpoints").mkdir(parents=True)
    (tmp_path / "a" / "clean.ipynb").write_text(json.dumps(BASE))
    (tmp_path / "a" / ".ipynb_checkpoints" / "clean-checkpoint.ipynb").write_text("{broken")
    (tmp_path / "flagged.ipynb").write_text(json.dumps(edit(fresh(), 5, "(3 points)", "(5 points)")))
    return tmp_path


def test_a_folder_gives_a_report_each_then_the_table(tmp_path, capsys):
    folder = folder_of_submissions(tmp_path)
    assert check.main([str(folder), "--csv", str(tmp_path / "table.csv")]) == 1
    out = capsys.readouterr().out
    assert "checkpoint" not in out
    header, *rows = out.split("\n\n")[-1].splitlines()
    assert header.split()[:3] == ["file", "1.data", "1.model"] and header.split()[-1] == "flagged"
    assert [row.split()[-1] for row in rows] == ["0", "1"]
    with open(tmp_path / "table.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [row["structure"] for row in table] == ["ok", "flag"]
    assert table[0]["p2.test"] == "unknown" and table[1]["flagged"] == "1"


def test_json_has_one_object_per_notebook(tmp_path, capsys):
    folder = folder_of_submissions(tmp_path)
    assert check.main([str(folder), "--json"]) == 1
    reports = json.loads(capsys.readouterr().out)
    assert [Path(r["file"]).name for r in reports] == ["clean.ipynb", "flagged.ipynb"]
    items = reports[1]["items"]
    assert [item["item"] for item in items] == [item for item, _, _ in check.ITEMS]
    assert set(items[0]) == {"item", "title", "points", "status", "reasons"}
    assert {item["status"] for item in items} <= {"ok", "flag", "unknown"}


def test_the_human_report_lists_flagged_items_first(capsys):
    assert check.main([str(FIXTURE)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{FIXTURE}: 0 flagged, 4 cannot tell, 17 ok"
    assert lines[1].split()[:3] == ["UNKNOWN", "p2.run", "(1)"]
    assert lines[-2].split()[:3] == ["ok", "python", "(-)"]


def test_the_command_registers_on_a_subparsers_object(capsys):
    parser = argparse.ArgumentParser(prog="smallcnn")
    check.add_check_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["check", str(STARTER_FILE)])
    assert args.handler(args) == 1
    assert "FLAG     p1.model" in capsys.readouterr().out


def test_an_nbformat_notebook_node_is_checked_like_its_json():
    nbformat = pytest.importorskip("nbformat")
    node = nbformat.read(str(FIXTURE), as_version=4)
    assert {item.item: item.status for item in check.check_notebook(node)} == BASE_STATUS
