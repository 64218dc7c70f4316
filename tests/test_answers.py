"""The written answers: sentences of prose whose every number comes from the results they are given."""

import re

import pytest

from smallcnn import answers
from smallcnn.notebookcheck import count_sentences

PUBLISHED = answers.load_published()
TABLE3 = {r["classifier"]: r["fashion_mnist"] for r in PUBLISHED["fashion_mnist_table3"]["rows"]}
REFERENCE = max(PUBLISHED["cifar100_references"]["results"], key=lambda r: r["accuracy"])


def history(train, val, epochs=15):
    """A smooth history rising to the given final training and validation accuracies."""
    return [{"epoch": e, "train_loss": 2.0 / e, "val_loss": 2.1 / e, "train_accuracy": train * e / epochs,
             "val_accuracy": val * e / epochs, "lr": 0.1, "seconds": 3.0, "images_per_second": 15000.0}
            for e in range(1, epochs + 1)]


def part1(test_accuracy=0.8948, train=0.905, val=0.897):
    cnn = {"name": "my CNN (2,741 parameters)", "source": "this CNN", "accuracy": test_accuracy}
    rows = [{"name": n, "source": "published", "accuracy": a} for n, a in TABLE3.items()] + [cnn]
    ranked = [{**r, "rank": i} for i, r in enumerate(sorted(rows, key=lambda r: -r["accuracy"]), 1)]
    return {"epochs": 15, "params": 2741, "history": history(train, val), "best_epoch": 15, "best_val_accuracy": val,
            "test_accuracy": test_accuracy, "num_classes": 10, "train_images": 54000, "ranked": ranked,
            "per_class": {"Shirt": 0.6523, "Pullover": 0.8123, "Coat": 0.8311, "Bag": 0.9712}}


def study_row(entry, val, spec_val=0.30, params=27171):
    return {"entry": entry, "change": f"change {entry}", "params": params, "status": "ran", "val_accuracy": val,
            "best_epoch": 15, "seconds": 60.0, "val_delta_points": 100 * (val - spec_val)}


def part2(rows=None, chosen="batchnorm", chosen_test=0.3791):
    rows = rows or [study_row("spec", 0.30), study_row("wide2", 0.34), study_row("batchnorm", 0.38),
                    study_row("no-augment", 0.28)]
    return {"epochs": 15, "params": 27171, "history": history(0.33, 0.30), "best_epoch": 14, "best_val_accuracy": 0.30,
            "test_accuracy": 0.3012, "num_classes": 100, "train_images": 45000, "study": rows, "chosen": chosen,
            "chosen_test_accuracy": chosen_test, "chosen_widths": [10, 5, 16]}


def numbers_in(obj):
    """Every float and int anywhere in a nested structure of results."""
    if isinstance(obj, dict):
        return [n for value in obj.values() for n in numbers_in(value)]
    if isinstance(obj, list):
        return [n for value in obj for n in numbers_in(value)]
    return [obj] if isinstance(obj, (int, float)) and not isinstance(obj, bool) else []


def assert_derived(text, *inputs):
    """Every percentage in the text is one of the inputs (or a difference of two), formatted as the notebook does."""
    values = [v for source in inputs for v in numbers_in(source)]
    allowed = {answers.pct(v) for v in values}
    for number in re.findall(r"\d+\.\d+%", text):
        assert number in allowed, f"{number} is not derived from the inputs"


ALL = [
    ("8a", lambda: answers.answer_8a(part1()), lambda: (part1(),)),
    ("8a-best", lambda: answers.answer_8a(part1(0.93)), lambda: (part1(0.93),)),
    ("8a-worst", lambda: answers.answer_8a(part1(0.40, 0.41, 0.40)), lambda: (part1(0.40, 0.41, 0.40),)),
    ("8b", lambda: answers.answer_8b(part1()), lambda: (part1(),)),
    ("8b-overfit", lambda: answers.answer_8b(part1(train=0.99, val=0.90)), lambda: (part1(train=0.99, val=0.90),)),
    ("7a", lambda: answers.answer_7a(part1(), part2()), lambda: (part1(), part2())),
    ("7b", lambda: answers.answer_7b(part2(), REFERENCE), lambda: (part2(), REFERENCE)),
    ("7c", lambda: answers.answer_7c(part2()), lambda: (part2(),)),
]


@pytest.mark.parametrize("name, answer, inputs", ALL, ids=[a[0] for a in ALL])
def test_answers_are_three_to_eight_sentences_of_derived_numbers(name, answer, inputs):
    text = answer()
    assert 3 <= count_sentences(text) <= 8, text
    assert_derived(text, *inputs())


def test_8a_names_the_better_and_the_worse_published_classifiers():
    text = answers.answer_8a(part1(0.875))
    assert "2 classifiers of Table 3 report better accuracy: SVC (89.70%) and GradientBoostingClassifier (88.00%); " \
           "the closest is ahead by 0.50 points, about 50 of the 10,000 test images." in text
    assert "11 classifiers report worse accuracy: from RandomForestClassifier (87.30%) down to GaussianNB (51.10%)" in text
    assert "rank 3 of the 14" in text and "an RBF-kernel SVC" in text and "gradient boosting" in text


def test_8a_says_how_close_a_narrow_lead_is_in_test_images():
    text = answers.answer_8a(part1(0.8967))
    assert "1 classifier of Table 3 reports better accuracy: SVC (89.70%); the closest is ahead by 0.03 points, " \
           "about 3 of the 10,000 test images." in text


def test_8a_when_the_cnn_beats_every_published_classifier():
    text = answers.answer_8a(part1(0.93))
    assert "None of Table 3's 13 classifiers reports better accuracy; the closest is SVC (89.70%)." in text


def test_8a_when_the_cnn_loses_to_everything_it_claims_no_advantage():
    text = answers.answer_8a(part1(0.40, 0.41, 0.40))
    assert "convolutions" not in text and "13 classifiers of Table 3 report better accuracy" in text


def test_8b_reads_the_gap_between_training_and_validation():
    assert "0.80 points above the validation accuracy (89.70%): no sign of overfitting" in answers.answer_8b(part1())
    assert "9.00 points above the validation accuracy (90.00%): some overfitting" in answers.answer_8b(
        part1(train=0.99, val=0.90))
    assert "1.00 points below" in answers.answer_8b(part1(train=0.89, val=0.90))
    assert "Shirt (65.23%) and Pullover (81.23%)" in answers.answer_8b(part1())


def test_7a_compares_both_parts_with_their_own_numbers():
    text = answers.answer_7a(part1(), part2())
    assert "33.00%" in text and "30.00%" in text and "90.50%" in text
    assert "went from +0.80 to +3.00 points" in text and "the main change is underfitting" in text
    healthy = part2()
    healthy["history"] = history(0.75, 0.40)
    assert "a sign of more overfitting on CIFAR-100" in answers.answer_7a(part1(), healthy)
    assert "about 450 training images each" in text and "about 5,400" in text


def test_7a_does_not_call_a_shrinking_gap_more_overfitting():
    healthy = part2()
    healthy["history"] = history(0.70, 0.66)
    text = answers.answer_7a(part1(train=0.95, val=0.85), healthy)
    assert "went from +10.00 to +4.00 points" in text and "no more overfitting" in text


def test_7b_speaks_of_the_entry_chosen_on_validation():
    text = answers.answer_7b(part2(chosen="wide2", chosen_test=0.355), REFERENCE)
    assert text.startswith("The model my study chose on validation accuracy, wide2, reached 35.50%")
    assert f"{100 * (REFERENCE['accuracy'] - 0.355):.2f} points" in text
    assert "160-320-640 channels against 10-5-16" in text and "change wide2: +4.00 points" in text


def test_7c_prefers_an_architecture_change_that_went_against_expectation():
    rows = [study_row("spec", 0.30), study_row("wide2", 0.34), study_row("dropout", 0.28)]
    text = answers.answer_7c(part2(rows))  # dropout is expected to help, and hurt by 2 points
    assert text.startswith("The change that surprised me most was change dropout: it moved validation "
                           "accuracy by -2.00 points") and "the opposite" in text
    assert "largest single-change gain came from change wide2 (+4.00 points)" in text
    text = answers.answer_7c(part2())  # everything as expected: the largest change is the surprise
    assert text.startswith("The change that surprised me most was change batchnorm: it moved validation "
                           "accuracy by +8.00 points") and "more than any other single change" in text


def test_7c_reads_no_recipe_change_and_no_noise_as_a_surprise():
    rows = [study_row("spec", 0.30), study_row("no-augment", 0.40), study_row("wide2", 0.305)]
    text = answers.answer_7c(part2(rows))  # no-augment is not an architecture change; wide2 is within noise
    assert text.startswith("What surprised me was that no architecture change moved validation accuracy by 1 "
                           "point or more") and "change wide2 (+0.50 points)" in text


def test_7c_without_single_change_entries_says_there_is_no_evidence():
    text = answers.answer_7c(part2([study_row("spec", 0.30), study_row("wide-bn", 0.40)]))
    assert "no evidence" in text and 3 <= count_sentences(text)
