"""The written answers: sentences of prose whose every number comes from the results they are given."""

import re

import pytest

from smallcnn import answers
from smallcnn.notebook import count_sentences

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
            "chosen_test_accuracy": chosen_test}


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
    text = answers.answer_8a(part1(0.8948))
    assert "Of the 13 classifiers in Table 3, only SVC (89.70%) reports better accuracy." in text
    assert "12 of them report worse accuracy: from GradientBoostingClassifier (88.00%) down to GaussianNB (51.10%)" in text
    assert "rank 2 of the 14" in text
    text = answers.answer_8a(part1(0.875))
    assert "2 report better accuracy: SVC (89.70%) and GradientBoostingClassifier (88.00%)." in text


def test_8a_when_the_cnn_beats_every_published_classifier():
    text = answers.answer_8a(part1(0.93))
    assert "None of the 13 classifiers in Table 3 reports better accuracy; the closest is SVC (89.70%)" in text


def test_8a_when_the_cnn_loses_to_everything_it_claims_no_advantage():
    text = answers.answer_8a(part1(0.40, 0.41, 0.40))
    assert "What my CNN has over those" not in text and "13 report better accuracy" in text


def test_8b_reads_underfitting_and_overfitting_from_the_curves():
    assert "underfits rather than overfits" in answers.answer_8b(part1(train=0.905, val=0.897))
    assert "already overfits" in answers.answer_8b(part1(train=0.99, val=0.90))
    assert "Shirt (65.23%) and Pullover (81.23%)" in answers.answer_8b(part1())


def test_7a_compares_both_parts_with_their_own_numbers():
    text = answers.answer_7a(part1(), part2())
    assert "33.00%" in text and "30.00%" in text and "90.50%" in text
    assert "about 450 training images each" in text and "about 5,400" in text


def test_7b_speaks_of_the_entry_chosen_on_validation():
    text = answers.answer_7b(part2(chosen="wide2", chosen_test=0.355), REFERENCE)
    assert text.startswith("My best model, wide2 (chosen on validation accuracy), reached 35.50%")
    assert f"{100 * (REFERENCE['accuracy'] - 0.355):.2f} points" in text


def test_7c_prefers_a_change_that_went_against_expectation():
    rows = [study_row("spec", 0.30), study_row("wide2", 0.34), study_row("no-augment", 0.31)]
    text = answers.answer_7c(part2(rows))  # switching augmentation off was expected to hurt, and helped
    assert text.startswith("The change that surprised me most was change no-augment: it moved validation "
                           "accuracy by +1.00 points") and "did the opposite" in text
    text = answers.answer_7c(part2())  # everything as expected: the largest change is the surprise
    assert text.startswith("The change that surprised me most was change batchnorm: it moved validation "
                           "accuracy by +8.00 points") and "more than I expected" in text


def test_7c_without_single_change_entries_says_there_is_no_evidence():
    text = answers.answer_7c(part2([study_row("spec", 0.30), study_row("best", 0.40)]))
    assert "no evidence" in text and 3 <= count_sentences(text)
