"""The written answers (answers.py): every number they state is computed from their inputs.

Part 1's 8a/8b take comparison rows; Part 2's 7a/7b/7c take histories, study rows and published.json's
reference results. Nothing here is a measured result: the rows are made up for the tests.
"""

import itertools
import re
from pathlib import Path

import pytest

from smallcnn import answers, study
from smallcnn.answers import answer_7a, answer_7b, answer_7c, answer_8a, answer_8b, load_published, rank_rows
from smallcnn.notebook import count_sentences


# --- Part 1: 8a, 8b ------------------------------------------------------------------------------------

def row(name, accuracy, source="measured", model="classical", params=None, **extra):
    return {"name": name, "source": source, "model": model, "config": "", "accuracy": accuracy, "params": params,
            "size_unit": "weights" if params else "", "train_images": 1000 if source == "measured" else None,
            "fit_seconds": 12.5 if source == "measured" else None, "predict_seconds": 1.25, "note": "", **extra}


def cnn(accuracy):
    return row("CNN spec", accuracy, model="cnn", params=2741, size_unit="parameters", fit_seconds=187.0,
               epochs=15, best_epoch=13, augment="flip", flip_tta_accuracy=None)


ROWS = [row("SVC", 0.897, "published"), row("SVC", 0.874, params=5_000_000),
        row("RandomForestClassifier", 0.873, "published"), row("MLPClassifier", 0.861, params=89_610),
        row("LogisticRegression", 0.842, "published"), row("GaussianNB", 0.511, "published"),
        row("DecisionTreeClassifier", 0.798, params=1_500)]


def test_rank_rows_orders_by_accuracy_and_numbers_ranks():
    ranked = rank_rows(ROWS + [cnn(0.85)])
    assert [r["accuracy"] for r in ranked] == sorted([r["accuracy"] for r in ranked], reverse=True)
    assert [r["rank"] for r in ranked] == list(range(1, len(ROWS) + 2))
    assert ranked[4]["name"] == "CNN spec"


COUNTED = "the 7 classical results (4 published in Table 3 and 3 measured here; a family can appear in both)"


def test_a_cnn_above_everything_is_beaten_by_none():
    text = answer_8a(cnn(0.95), ROWS)
    assert f"None of {COUNTED} beats it" in text
    assert "SVC (published), is 5.3 points lower" in text
    assert "beat it:" not in text


def test_a_cnn_in_the_middle_names_exactly_those_above_with_margins():
    text = answer_8a(cnn(0.85), ROWS)
    assert f"Of {COUNTED}, 4 beat it:" in text
    for name, margin in (("SVC (published)", "4.7"), ("SVC (measured)", "2.4"),
                         ("RandomForestClassifier (published)", "2.3"), ("MLPClassifier (measured)", "1.1")):
        assert f"{name} by {margin} points" in text
    beaten_part = text.split("beat it:")[1].split(".")[0]
    assert "LogisticRegression" not in beaten_part and "GaussianNB" not in beaten_part
    assert "The other 3 do worse" in text and "GaussianNB (published) (33.9 points lower)" in text


def test_one_winner_takes_a_singular_verb_and_only_its_own_family_is_described():
    text = answer_8a(cnn(0.88), ROWS)
    assert f"Of {COUNTED}, 1 beats it: SVC (published) by 1.7 points" in text
    assert "Table 3 reports no model sizes, but by construction SVC keeps training images themselves" in text
    for absent in ("forest", "nearest", "kernel machines", "RandomForestClassifier (published) by"):
        assert absent not in text, absent


def test_counts_say_when_all_rows_are_published():
    published = [r for r in ROWS if r["source"] == "published"]
    assert "None of the 4 classical results (all published in Table 3) beats it" in answer_8a(cnn(0.95), published)


@pytest.mark.parametrize("accuracy", [0.95, 0.88, 0.85, 0.80, 0.50])
def test_answers_are_long_enough_and_state_only_computed_numbers(accuracy):
    model = cnn(accuracy)
    rows = ROWS + [model]
    for text in (answer_8a(model, rows), answer_8b(model, rows)):
        assert len(re.findall(r"[.!?](?:\s|$)", text)) >= 4
        for token in re.findall(r"\d[\d,]*(?:\.\d+)?", text):
            assert is_derived(token, model, ROWS), f"{token!r} in: {text}"


def is_derived(token, model, rows):
    """True if the number equals, to its printed precision, a value computed from the inputs."""
    value = float(token.replace(",", ""))
    decimals = len(token.split(".")[1]) if "." in token else 0
    everyone = rows + [model]
    candidates = [100 * r["accuracy"] for r in everyone]
    candidates += [100 * abs(a["accuracy"] - b["accuracy"]) for a, b in itertools.combinations(everyone, 2)]
    sizes = [r["params"] for r in everyone if r["params"]]
    candidates += sizes + [s / model["params"] for s in sizes]
    candidates += [v for r in everyone for v in (r["fit_seconds"], r["predict_seconds"], r["train_images"],
                                                r.get("epochs"), r.get("best_epoch")) if v is not None]
    candidates += range(len(everyone) + 1)  # counts of rows
    return any(abs(value - c) <= 0.5 * 10 ** -decimals + 1e-9 for c in candidates)


# --- Part 2: 7a, 7b, 7c ------------------------------------------------------------------------------

NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")


def numbers_in(text, *names):
    """Every number in the text, after removing names passed in as input (they may contain digits)."""
    for name in names:
        text = text.replace(name, "")
    return set(NUMBER.findall(text))


def history(train, val, val_acc):
    return [{"epoch": i + 1, "train_loss": t, "val_loss": v, "train_accuracy": a, "val_accuracy": a}
            for i, (t, v, a) in enumerate(zip(train, val, val_acc))]


def test_7a_says_overfitting_when_validation_loss_turns_up():
    h = history([3.0, 2.0, 1.2, 0.7, 0.4], [3.1, 2.3, 2.0, 2.4, 2.9], [0.1, 0.3, 0.4, 0.41, 0.42])
    text = answer_7a(h)
    assert "overfits after epoch 3" in text and text.count(".") >= 4
    allowed = {"5", "3.000", "0.400", "3.100", "2.900", "2.000", "3", "2.500", "42.0", "90"}
    assert numbers_in(text) <= allowed


def test_7a_says_underfitting_when_both_losses_still_fall():
    h = history([4.0, 3.5, 3.2, 3.0], [3.9, 3.4, 3.1, 2.95], [0.05, 0.1, 0.15, 0.17])
    part1 = history([1.0, 0.5, 0.4, 0.35], [0.9, 0.5, 0.45, 0.4], [0.6, 0.85, 0.88, 0.9])
    text = answer_7a(h, part1)
    assert "underfits" in text and "converges slower" in text


def best_row(**changes):
    return {"entry": "best", "test_accuracy": 0.4237, "params": 780_964, "conv_layers": 3, "epochs": 12,
            "minutes": 19.5, "augment": "crop-flip", "official": False, **changes}


def test_7b_explains_the_gap_with_numbers_from_its_inputs_only():
    reference = load_published()["cifar100_references"]["results"][0]
    text = answer_7b(best_row(), reference)
    for topic in ("Depth", "parameters", "skip connections", "Augmentation", "budget", "NOT the official"):
        assert topic in text
    gap = f"{100 * (reference['accuracy'] - 0.4237):.1f}"
    allowed = {"42.4", f"{100 * reference['accuracy']:.1f}", gap, "3", str(reference["conv_layers"]),
               "780,964", f"{reference['params']:,}", f"{reference['params'] / 780_964:.0f}", "12", "19.5",
               str(reference["epochs"])}
    assert numbers_in(text, reference["citation"], reference["name"], reference["augmentation"]) <= allowed
    assert len(re.findall(r"[.!?](?:\s|$)", text)) >= 4


def study_rows():
    def row(entry, acc, params, change):
        return {"entry": entry, "change": change, "test_accuracy": acc, "params": params, "delta_points": None,
                "official": False, "dataset_identity": "generated", "status": "ran"}
    rows = [row("spec", 0.30, 27_171, "nothing"), row("wide8", 0.37, 600_000, "wider"),
            row("batchnorm", 0.36, 27_202, "BatchNorm after every conv"), row("gap", 0.25, 12_000, "pooling"),
            row("no-bottleneck", 0.29, 30_000, "no bottleneck")]
    study.add_deltas(rows)
    return rows


def test_7c_names_the_change_with_the_largest_effect_for_its_parameter_cost():
    rows = study_rows()
    text = answer_7c(rows)
    assert "most surprising change is batchnorm (BatchNorm after every conv)" in text
    assert "no-bottleneck hurt" in text  # it added parameters and lost accuracy
    assert "NOT the official" in text
    allowed = {"30.0", "-5.0", "+7.0", "+6.0", "1.00", "1.10", "-1.0"}
    names = [r["entry"] for r in rows] + [r["change"] for r in rows]
    assert numbers_in(text, *names) <= {a.lstrip("+-") for a in allowed}
    assert len(re.findall(r"[.!?](?:\s|$)", text)) >= 4


def test_7c_without_a_finished_baseline_says_there_is_no_evidence():
    rows = [dict(study_rows()[1], delta_points=None, status="skipped: needs ~9.00 min, 1.00 min left")]
    assert "no evidence" in answer_7c(rows)


def test_7b_without_a_finished_study_entry_says_so():
    reference = load_published()["cifar100_references"]["results"][0]
    text = answer_7b(study.best_study_row([dict(best_row(), test_accuracy=None)]), reference)
    assert "No entry of the architecture study finished" in text and count_sentences(text) >= 3


def test_best_study_row_picks_the_most_accurate_entry_that_ran():
    rows = study_rows() + [dict(study_rows()[0], entry="skipped", test_accuracy=None)]
    assert study.best_study_row(rows)["entry"] == "wide8"


def test_no_answer_types_in_a_published_figure():
    """Published accuracies and sizes come from published.json, never from the code of answers.py."""
    source = Path(answers.__file__).read_text()
    published = load_published()
    figures = [r["accuracy"] for r in published["cifar100_references"]["results"]]
    figures += [r["params"] for r in published["cifar100_references"]["results"] if r["params"]]
    figures += [r["fashion_mnist"] for r in published["fashion_mnist_table3"]["rows"]]
    for figure in figures:
        for spelling in {repr(figure), f"{figure:g}", f"{100 * figure:.1f}" if figure < 1 else f"{figure / 1e6:.1f}e6"}:
            assert spelling not in source, spelling


def test_every_answer_has_at_least_three_sentences():
    reference = load_published()["cifar100_references"]["results"][0]
    h = history([3.0, 2.0, 1.2, 0.7, 0.4], [3.1, 2.3, 2.0, 2.4, 2.9], [0.1, 0.3, 0.4, 0.41, 0.42])
    texts = [answer_8a(cnn(a), ROWS) for a in (0.95, 0.88, 0.5)] + [answer_8b(cnn(a), ROWS) for a in (0.95, 0.5)]
    texts += [answer_7a(h), answer_7a(h, h), answer_7b(best_row(), reference), answer_7b(None, reference),
              answer_7c(study_rows()), answer_7c([])]
    for text in texts:
        assert count_sentences(text) >= 3, text


def test_flip_averaging_is_reported_as_it_went_not_assumed_to_help():
    from smallcnn.answers import averaging_idea

    worse = averaging_idea({**cnn(0.897), "flip_tta_accuracy": 0.805})
    better = averaging_idea({**cnn(0.897), "flip_tta_accuracy": 0.901})
    assert "lowered this run's test accuracy from 89.7% to 80.5%" in worse
    assert "raised this run's test accuracy from 89.7% to 90.1%" in better
