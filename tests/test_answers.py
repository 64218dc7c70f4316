"""The written answers: first-person prose whose claims follow from the results records they are given."""

import re
from dataclasses import replace

import pytest

from smallcnn.notebook import analysis, answers
from smallcnn.notebook.check.text import contradictions, split_answers
from smallcnn.notebook.results import Part1, Part2
from smallcnn.published import load_published

PUBLISHED = load_published()
TABLE3 = {r["classifier"]: r["fashion_mnist"] for r in PUBLISHED["fashion_mnist_table3"]["rows"]}
NOISE = [0.003, -0.002, 0.004, -0.003, 0.001, -0.004, 0.002, 0.0, -0.001, 0.003]  # epoch-to-epoch wobble
PER_CLASS = {"T-shirt/top": 0.852, "Trouser": 0.975, "Pullover": 0.823, "Dress": 0.896, "Coat": 0.841,
             "Sandal": 0.969, "Shirt": 0.681, "Sneaker": 0.958, "Bag": 0.974, "Ankle boot": 0.956}
CONFUSIONS = [["Shirt", "T-shirt/top", 0.121], ["Shirt", "Pullover", 0.082], ["Pullover", "Coat", 0.071]]
CHANGES = {"spec": "nothing: the adapted network",
           "wide-bn": "widths 32-64-128 with BatchNorm (several changes at once)",
           "no-bottleneck": "no 5-channel bottleneck (the second conv has 16 channels)",
           "batchnorm": "BatchNorm after every conv", "wide2": "every conv layer 2x wider",
           "no-augment": "augmentation off (no random crops or flips)", "dropout": "dropout 0.3 before the classifier",
           "label-smoothing": "label smoothing 0.1", "gap": "global average pooling before the classifier"}
PARAMS = {"spec": 27171, "wide-bn": 298372, "no-bottleneck": 29756, "batchnorm": 27202, "wide2": 56582, "gap": 3171}
DELTAS = {"spec": 0.0, "wide-bn": 13.3, "no-bottleneck": 2.2, "batchnorm": 1.3, "wide2": 4.6, "no-augment": -1.1,
          "dropout": -2.6, "label-smoothing": 0.3, "gap": -4.4}


def recipe(**changes) -> dict:
    return {"epochs": 25, "batch_size": 128, "lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4,
            "label_smoothing": 0.0, "augment": "none", "test_flips": False, "val_fraction": 0.1, "seed": 42, **changes}


def accuracies(last: float, epochs: int) -> list[float]:
    """Accuracies rising quickly, then slowly, to `last` at the final epoch, with the usual wobble."""
    return [last - 0.2 * 0.7 ** (e - 1) - 0.001 * (epochs - e) + NOISE[e % 10]
            for e in range(1, epochs)] + [last]


def curves(train_losses, gaps, train_acc=0.915, val_acc=0.903) -> dict:
    """The four lists of a run whose validation loss is the training loss plus `gaps`."""
    epochs = len(train_losses)
    return {"train_losses": train_losses, "val_losses": [t + g for t, g in zip(train_losses, gaps)],
            "train_accs": accuracies(train_acc, epochs), "val_accs": accuracies(val_acc, epochs)}


def annealed(epochs=25, floor=0.26):
    """A training loss still falling at the end, as when the learning rate is annealed to zero."""
    return [floor + 0.55 * 0.75 ** (e - 1) + 0.0025 * (epochs - e) for e in range(1, epochs + 1)]


# The gap between the losses grows from 0.045 to 0.056 over the last eight epochs: within the noise.
WITHIN_NOISE = curves(annealed(), [0.03] * 17 + [0.045, 0.049, 0.044, 0.052, 0.047, 0.053, 0.050, 0.056])
WIDENING = curves(annealed()[:17] + [0.28 - 0.0115 * i for i in range(8)],  # the validation loss stays flat
                  [0.03] * 17 + [0.03 + 0.01 * i + NOISE[i] for i in range(8)])
DIVERGING = curves(annealed(), [0.03] * 17 + [0.04 + 0.02 * i for i in range(8)])  # the validation loss rises
BOTH_FLAT = curves([0.4 - 0.01 * e for e in range(10)] + [0.30 + n for n in NOISE] + [0.30] * 5, [0.01] * 25)
TRAIN_RISING = curves(annealed()[:17] + [0.28 + 0.01 * i for i in range(8)], [0.03] * 25)
SINGLE = {"train_losses": [0.52], "val_losses": [0.41], "train_accs": [0.81], "val_accs": [0.85]}


def part1(test_acc: float = 0.8967, run: dict = WITHIN_NOISE, **changes) -> Part1:
    cnn = {"name": "my CNN", "source": "this CNN", "accuracy": test_acc}
    rows = [{"name": n, "source": "published", "accuracy": a} for n, a in TABLE3.items()] + [cnn]
    ranked = [{**r, "rank": i} for i, r in enumerate(sorted(rows, key=lambda r: -r["accuracy"]), 1)]
    fields = dict(recipe=recipe(), epoch_seconds=[3.0] * len(run["val_accs"]), test_loss=0.2890, test_acc=test_acc,
                  per_class=PER_CLASS, confusions=CONFUSIONS, ranked=ranked, params=2741, fc_inputs=144,
                  bottleneck=5, train_images=54000, val_images=6000, num_classes=10)
    return Part1(**{**fields, **run, **changes})


def study(deltas: dict = DELTAS, spec_val: float = 0.2841) -> list[dict]:
    return [{"entry": e, "change": CHANGES[e], "params": PARAMS.get(e, 27171), "val_accuracy": spec_val + d / 100,
             "seconds": 80.0, "val_delta_points": d} for e, d in deltas.items()]


UNDERFIT = curves([2.78 + 1.3 * 0.7 ** (e - 1) + 0.01 * (15 - e) for e in range(1, 16)], [0.02 + n for n in NOISE] +
                  [0.02] * 5, train_acc=0.3011, val_acc=0.2841)
OVERFIT = curves([1.2 + 1.5 * 0.7 ** (e - 1) - 0.03 * e for e in range(1, 16)], [0.1] * 10 +
                 [0.2, 0.35, 0.5, 0.65, 0.8], train_acc=0.7512, val_acc=0.4533)


def part2(adapted_acc=0.279, chosen="wide-bn", test_acc=0.412, deltas=DELTAS, run=UNDERFIT, **changes) -> Part2:
    fields = dict(recipe=recipe(epochs=15, augment="crop-flip"), adapted_acc=adapted_acc, test_acc=test_acc,
                  chosen=chosen, chosen_change=CHANGES[chosen], chosen_history={}, study=study(deltas),
                  adapted_params=27171, train_images=45000, val_images=5000, num_classes=100)
    return Part2(**{**fields, **run, **changes})


# --- every answer: length, voice, and only figures the notebook prints -------------------------------

def numbers_in(obj) -> list:
    """Every number anywhere in a nested structure of results, those inside its strings included."""
    if isinstance(obj, (Part1, Part2)):
        obj = vars(obj)
    if isinstance(obj, dict):
        return [n for value in obj.values() for n in numbers_in(value)]
    if isinstance(obj, list):
        return [n for value in obj for n in numbers_in(value)]
    if isinstance(obj, str):
        return [float(n) for n in re.findall(r"\d+\.\d+", obj)]
    return [obj] if isinstance(obj, (int, float)) and not isinstance(obj, bool) else []


def allowed_figures(*sources) -> set[str]:
    """Every decimal an answer may quote: the sources' figures as the notebook prints them, differences of two
    printed figures, the study's deltas, and the noise thresholds computed from them."""
    numbers = numbers_in(list(sources))
    floats = sorted({round(n, 6) for n in numbers if isinstance(n, float) and abs(n) < 10})
    allowed = {f for n in numbers for f in (answers.pct(n), f"{n:.4f}", f"{n:+.2f}", f"{n:.1f}", f"{n / 1e6:.1f}")}
    allowed |= {f for a in floats for b in floats for f in (answers.points(a, b), f"{answers.loss_gap(a, b):.4f}")}
    for source in sources:
        if isinstance(source, Part1):
            allowed.add(f"{analysis.table3_standing(source.ranked).noise:.2f}")
        if isinstance(source, Part2):
            allowed.add(f"{analysis.noise_points(source):.1f}")
    return allowed


def prose(text: str) -> str:
    return " ".join(line for line in text.splitlines() if not line.lstrip().startswith("|"))


def assert_well_written(text: str, letters: str, *sources):
    """3-8 sentences per sub-answer, no headings or asides about tools, and no figure the sources do not give."""
    parts = split_answers(text, letters)
    assert set(parts) == set(letters), text
    for letter, part in parts.items():
        assert 3 <= answers.count_sentences(part) <= 8, f"({letter}) {part}"
    assert not any(line.lstrip().startswith("#") for line in text.splitlines()) and "EXPLAIN" not in text
    assert not re.search(r"\b(AI|generated|package|smallcnn|script|tool)\b", text), text
    allowed = allowed_figures(*sources)
    for figure in re.findall(r"[+-]?\d+\.\d+%?", prose(text)):
        assert figure.lstrip("+-") in allowed or figure in allowed, f"{figure} is not derived from the records"
    assert not re.search(r"\b\d{1,2} (classifier|entr|layer|epoch|class|test image|change|run)", prose(text)), text
    for class_name in TABLE3:  # the course's names, not scikit-learn's
        assert class_name not in prose(text), text


PART1_CASES = {"svc-ahead": part1(), "first": part1(0.9012), "clearly-first": part1(0.93), "last": part1(0.40),
               "between": part1(0.875), "equal": part1(0.897), "widening": part1(run=WIDENING),
               "diverging": part1(run=DIVERGING), "both-flat": part1(run=BOTH_FLAT),
               "train-rising": part1(run=TRAIN_RISING), "single-epoch": part1(run=SINGLE),
               "no-confusions": part1(confusions=[])}
PART2_CASES = {"under-30-chosen-over": part2(), "under-30-chosen-under": part2(test_acc=0.2851),
               "over-30": part2(adapted_acc=0.3122), "spec-kept": part2(chosen="spec", test_acc=0.279),
               "nothing-clears": part2(deltas={e: 0.4 * (-1) ** i for i, e in enumerate(DELTAS)}),
               "overfitting": part2(run=OVERFIT), "single-epoch": part2(run=SINGLE)}


@pytest.mark.parametrize("record", PART1_CASES.values(), ids=PART1_CASES)
def test_part1_answers_are_well_written(record):
    assert_well_written(answers.part1_answers(record), "ab", record, PUBLISHED)


@pytest.mark.parametrize("record", PART2_CASES.values(), ids=PART2_CASES)
def test_part2_answers_are_well_written(record):
    assert_well_written(answers.part2_answers(part1(), record), "abc", part1(), record, PUBLISHED)


@pytest.mark.parametrize("accuracy", [0.8967, 0.9012, 0.93, 0.40, 0.875, 0.897, 0.873, 0.8541])
def test_8a_never_contradicts_table3_as_the_checker_reads_it(accuracy):
    assert contradictions(answers.answer_8a(part1(accuracy)), TABLE3, 100 * accuracy) == []


def test_count_sentences_ignores_abbreviations_decimals_and_tables():
    text = "I reached 89.67% on the test set. This is e.g. close to the SVM, i.e. a tie vs. it. Xiao et al. agree.\n" \
           "| 1 | my CNN | 89.67% |"
    assert answers.count_sentences(text) == 3


# --- the curves --------------------------------------------------------------------------------------

@pytest.mark.parametrize("run, verdict", [(WITHIN_NOISE, "capacity-limited"), (WIDENING, "starting to overfit"),
                                          (DIVERGING, "overfitting"), (BOTH_FLAT, "capacity-limited"),
                                          (TRAIN_RISING, "unstable"), (SINGLE, "too short"),
                                          (UNDERFIT, "underfitting")])
def test_the_verdict_reads_the_gaps_and_the_trends_beyond_noise(run, verdict):
    assert analysis.read_curves(part1(run=run)).verdict == verdict


def test_a_trend_needs_its_slope_beyond_two_standard_errors_and_a_real_size():
    assert analysis.trend([0.30 + n for n in NOISE]).direction == "flat"
    assert analysis.trend([0.30 - 0.01 * e + n for e, n in enumerate(NOISE)]).direction == "falling"
    assert analysis.trend([0.30 + 0.0004 * e for e in range(10)]).direction == "flat"  # steady, but too small
    assert analysis.trend([0.3, 0.2]).direction == "unknown" and analysis.trend_window(25) == 8


def test_a_gap_growing_within_noise_is_not_called_widening():
    text = answers.answer_8b(part1())
    assert "that gap went from 0.0450 to 0.0560, a change within the epoch-to-epoch noise or under 5% of the " \
           "validation loss itself, so I do not read it as a real widening." in text and "widening beyond" not in text
    assert "widening beyond the epoch-to-epoch noise" in answers.answer_8b(part1(run=WIDENING))


def test_8b_reads_a_loss_still_falling_at_the_end_as_room_for_a_longer_schedule():
    text = answers.answer_8b(part1())
    assert "the training loss was still falling" in text and "still creeping down when the schedule ended" in text
    assert not re.search(r"not (yet )?converged|had not converged|unfinished", text)
    assert "longer schedule, one more experiment" in text
    assert "looks limited by its capacity, underfitting rather than memorising" in text


def test_8b_says_why_training_and_validation_figures_differ_in_kind():
    plain = answers.answer_8b(part1())
    assert "means over each epoch while the weights were still changing, so they lean" in plain
    flipped = answers.answer_8b(part1(recipe=recipe(augment="flip", test_flips=True)))
    assert ("while the weights were still changing, on images with random horizontal flips, while validation "
            "averages each image with its mirror image") in flipped


def test_8b_proposes_what_fits_the_diagnosis_and_claims_no_trials():
    underfit = answers.answer_8b(part1())
    assert "mirror image" in underfit and "(SWA)" in underfit and "more filters" in underfit
    assert "I have not tried" in underfit and not re.search(r"several seeds|few candidates", underfit)
    assert "12.10% of the Shirt images are predicted as T-shirt/top, 8.20% as Pullover and 7.10% of the Pullover " \
           "images as Coat, while Shirt is my weakest class, with 68.10%" in underfit
    overfit = answers.answer_8b(part1(run=DIVERGING))
    assert "the validation loss rose" in overfit and "begun to overfit" in overfit
    assert "regularisers" in overfit and "shorter schedule" in overfit and "longer schedule" not in overfit
    assert "lower peak learning rate" in answers.answer_8b(part1(run=TRAIN_RISING))
    assert "flips I already use" in answers.answer_8b(part1(recipe=recipe(augment="flip")))
    flipped = answers.answer_8b(part1(recipe=recipe(augment="flip", test_flips=True)))
    assert "small shifts of each test image, on top of the mirror image I already use" in flipped
    assert "its mirror image, and" not in flipped
    assert "Shirt is my weakest class, with 68.10%" in answers.answer_8b(part1(confusions=[]))
    # A class whose mistakes are not next to each other is named again: each share keeps its own class.
    mixed = [["Shirt", "Pullover", 0.376], ["Coat", "Pullover", 0.303], ["Shirt", "T-shirt/top", 0.21]]
    assert "37.60% of the Shirt images are predicted as Pullover, 30.30% of the Coat images as Pullover and " \
           "21.00% of the Shirt images as T-shirt/top" in answers.answer_8b(part1(confusions=mixed))


def test_8b_of_a_single_epoch_claims_no_trend():
    text = answers.answer_8b(part1(run=SINGLE))
    assert text.startswith("One epoch is too few to read a trend") and "gap went" not in text


# --- 8(a) --------------------------------------------------------------------------------------------

def test_8a_says_who_scores_higher_at_full_precision_and_how_small_the_margin_is():
    text = answers.answer_8a(part1(0.8967))
    assert "One of the thirteen classifiers in Table 3 scores higher: an RBF-kernel SVM (89.70%); the other twelve " \
           "score lower, from gradient boosting (88.00%) down to Gaussian naive Bayes (51.10%)." in text
    assert "the RBF-kernel SVM's 89.70% is higher than my 89.67%, but only by 0.03 points, three of the 10,000 test " \
           "images" in text and "tie" not in text
    assert "one seeded run cannot order my network against an RBF-kernel SVM." in text
    assert "five-channel layer" in text and "144 numbers per image" in text and "784 raw pixels" in text
    assert not re.search(r"\d[\d,]* (of the )?(stored )?support vectors", text)


def test_8a_when_the_cnn_is_first():
    text = answers.answer_8a(part1(0.9012))
    assert "All thirteen classifiers in Table 3 score lower, from an RBF-kernel SVM (89.70%) down to Gaussian naive " \
           "Bayes (51.10%)." in text and "higher" not in text
    assert "The closest method below me, an RBF-kernel SVM with 89.70%, is 0.42 points behind, forty-two of the " \
           "10,000 test images" in text and "cannot order" in text
    clear = answers.answer_8a(part1(0.93))
    assert "chance alone is unlikely to explain the order" in clear and "can match" not in clear


def test_8a_when_the_cnn_is_last_it_claims_no_advantage():
    text = answers.answer_8a(part1(0.40))
    assert "All thirteen classifiers in Table 3 score higher" in text and "lower" not in text
    assert "That even Gaussian naive Bayes beats my network" in text and "filters" not in text


def test_8a_when_the_cnn_is_in_between_or_equal():
    text = answers.answer_8a(part1(0.875))
    assert "Two of the thirteen classifiers in Table 3 score higher: an RBF-kernel SVM (89.70%) and gradient " \
           "boosting (88.00%); the other eleven score lower, from a random forest (87.30%)" in text
    assert "far more stored numbers" in text and "The closest method below me, a random forest with 87.30%" in text
    assert "cannot order my network against gradient boosting, a random forest and a multilayer perceptron" in text
    equal = answers.answer_8a(part1(0.897))
    assert "One of the thirteen classifiers in Table 3 scores exactly the same: an RBF-kernel SVM (89.70%)" in equal
    assert "My 89.70% equals the RBF-kernel SVM's to the last of the 10,000 test images" in equal


def test_8a_reads_table3_rows_only():
    record = part1(0.8948)
    record = replace(record, ranked=[{"name": "SVC", "source": "measured here", "accuracy": 0.95, "rank": 0},
                                     *record.ranked])
    text = answers.answer_8a(record)
    assert "95.00%" not in text and "|" not in text  # no table: the notebook prints the ranking itself
    assert "One of the thirteen classifiers in Table 3 scores higher: an RBF-kernel SVM (89.70%)" in text
    assert "At full precision the RBF-kernel SVM's 89.70% is higher than my 89.48%" in text


# --- Part 2 ------------------------------------------------------------------------------------------

def test_7a_compares_both_parts_and_stays_truthful_about_30_percent():
    text = answers.answer_7a(part1(), part2())
    assert "30.11% training and 28.41% validation accuracy" in text and "stronger underfitting" in text
    assert "training images get random crops and horizontal flips" in text and "converged more slowly" in text
    assert "27.90% falls short of the 30%" in text and "wide-bn, clears it with 41.20%" in text
    assert "misses it too with 28.51%" in answers.answer_7a(part1(), part2(test_acc=0.2851))
    assert "31.22% meets the 30%" in answers.answer_7a(part1(), part2(adapted_acc=0.3122))
    assert "it is also my implementation" in answers.answer_7a(part1(), part2(chosen="spec", test_acc=0.279))
    same = part2(recipe=recipe(epochs=15))
    assert "not directly comparable" not in answers.answer_7a(part1(), same)


def test_7a_reads_overfitting_from_the_cifar_curves():
    text = answers.answer_7a(part1(), part2(run=OVERFIT))
    assert "The main change is more overfitting" in text and "underfitting:" not in text


def test_7b_compares_my_implementation_with_both_references_and_reads_the_study_beyond_noise():
    text = answers.answer_7b(part2(), PUBLISHED["cifar100_references"]["results"])
    assert "the study entry wide-bn" in text and "41.20% test accuracy against 27.90%" in text
    assert "39.95 points below the 81.15% of WRN-28-10 with dropout in Zagoruyko and Komodakis (2016)" in text
    assert "twenty-eight convolutional layers" in text and "against my 298,372" in text
    assert "Zeiler and Fergus (2013) report 57.49%" in text and "16.29 points of my gap" in text
    assert "wide-bn at +13.30, wide2 at +4.60" in text and "batchnorm, no-augment and label-smoothing stayed" in text
    nothing = answers.answer_7b(part2(deltas={e: 0.4 for e in DELTAS}), PUBLISHED["cifar100_references"]["results"])
    assert "no entry moved validation accuracy" in nothing


def test_7c_prefers_a_change_against_expectation():
    text = answers.answer_7c(part2(run=OVERFIT))  # dropout is expected to help an overfitting network
    assert "The change that surprised me most was dropout 0.3 before the classifier: it moved validation accuracy " \
           "by -2.60 points" in text and "the opposite" in text
    assert "largest single-change gain came from every conv layer 2x wider, at +4.60 points" in text


def test_7c_expects_a_regulariser_to_hurt_an_underfitting_network():
    text = answers.answer_7c(part2(deltas={"spec": 0.0, "dropout": -3.0, "wide2": 0.5}))
    assert "dropout only makes fitting harder" in text and "the opposite" not in text


def test_7c_when_nothing_clears_the_noise():
    record = part2(deltas={e: 0.4 * (-1) ** i for i, e in enumerate(DELTAS)})
    assert analysis.noise_points(record) == 1.8  # two standard errors of a difference at 28% on 5,000 images
    assert analysis.noise_points(replace(record, val_images=1_000_000)) == analysis.NOISE_POINTS
    text = answers.answer_7c(record)
    assert "no single architecture change moved validation accuracy by more than 1.8 points" in text
