"""The core's architecture study (core/study.py): every entry a valid recipe with one change, each entry
trained from the seed in a fresh order, and the entry chosen on validation, never on test.
"""

from dataclasses import asdict, replace

import pytest
import torch

from smallcnn.core.models import VARIANTS
from smallcnn.core.study import STUDY, chosen_entry, study_rows, train_entry
from smallcnn.settings import run_config
from smallcnn.studyrun import study_data

SHAPE = (3, 32, 100)


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


# --- the study's entries -------------------------------------------------------------------------------------

def test_every_study_entry_is_a_valid_recipe_with_one_change():
    base = run_config("cifar100", epochs=3)
    assert list(STUDY)[0] == "spec" and STUDY["spec"][:2] == ("spec", {})
    for name, (variant, changes, change) in STUDY.items():
        config = replace(base, variant=variant, **changes)  # a bad value would raise here
        assert change
        changed = {k for k, v in asdict(config).items() if v != asdict(base)[k]}
        assert len(changed) == (0 if name == "spec" else 1), (name, changed)
    assert STUDY["no-augment"][1] == {"augment": "none"} and base.augment == "crop-flip"
    assert STUDY["label-smoothing"][1] == {"label_smoothing": 0.1}
    assert STUDY["wide-bn"][0] == "wide-bn" and set(VARIANTS) >= {v for v, _, _ in STUDY.values()}


def test_a_study_entry_starts_from_the_seed_in_a_fresh_order(cifar):
    """Two entries differ only in what their change does: same initial weights, same batch order."""
    base = run_config("cifar100", epochs=1, subset=200, batch_size=50)
    data = study_data(cifar, base, torch.device("cpu"))
    next(iter(data.train_loader))  # the study's loader has moved on: an entry must not inherit that
    first = train_entry("spec", data.train_loader, data.val_loader, base, "cpu", SHAPE)
    again = train_entry("spec", data.train_loader, data.val_loader, base, "cpu", SHAPE)
    assert first[1]["val_accs"] == again[1]["val_accs"]
    assert study_rows({"spec": first})[0]["val_delta_points"] == 0


# --- choosing on validation -----------------------------------------------------------------------------------

def test_chosen_entry_is_the_best_on_validation_never_on_test():
    rows = [
        {"entry": "spec", "val_accuracy": 0.30, "test_accuracy": 0.55},
        {"entry": "wide2", "val_accuracy": 0.35, "test_accuracy": 0.60},  # the best on test
        {"entry": "gap", "val_accuracy": 0.41, "test_accuracy": 0.10},  # the best on validation
    ]
    assert chosen_entry(rows) == "gap"
    assert chosen_entry(rows[:2]) == "wide2"
