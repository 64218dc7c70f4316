"""Every written answer of the assignment (Part 1: 8a, 8b; Part 2: 7a, 7b, 7c), composed from results.

Each answer is a pure function of the rows, histories and published figures it is given and returns
plain text of several sentences. Nothing about how a run went is written in advance, and no figure is
typed in: accuracies, sizes and citations of published work come from published.json (passed in by the
caller), everything else from this execution's results. Explanation cells print the text with
show_answer, so the notebook needs no IPython import.
"""

import json
import math
import textwrap
from pathlib import Path

from smallcnn.study import BASELINE

PUBLISHED_FILE = "published.json"  # beside this module; the notebook's builder embeds its text instead


def load_published(path=None):
    """published.json: Table 3 of Xiao et al. 2017 and the CIFAR-100 reference results, each with its citation."""
    return json.loads(Path(path or Path(__file__).with_name(PUBLISHED_FILE)).read_text())


def show_answer(text, width=100):
    """Print an answer as wrapped paragraphs (paragraphs are separated by blank lines)."""
    for paragraph in text.split("\n\n"):
        print(textwrap.fill(paragraph, width))
        print()


# --- shared wording and ranking --------------------------------------------------------------------

def pct(accuracy):
    return f"{accuracy:.1%}"


def points(difference):
    """Percentage points, with a second decimal where one decimal would round a real gap to 0.0."""
    value = 100 * abs(difference)
    return f"{value:.2f}" if 0 < value < 0.05 else f"{value:.1f}"


def label(row):
    return f"{row['name']} ({row['source']})"


def join_names(names):
    names = list(dict.fromkeys(names))
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def ratio(size, params):
    return f"{size / params:,.0f}x" if size >= params else f"{size / params:.2f}x"


def rank_rows(rows):
    """Rows sorted by test accuracy, best first, each with its 1-based rank (ties keep input order)."""
    ordered = sorted(rows, key=lambda row: -row["accuracy"])
    return [{**row, "rank": rank} for rank, row in enumerate(ordered, start=1)]


# --- Part 1, questions 8a and 8b: the CNN against Table 3 and the baselines measured here ----------

LINEAR = {"LogisticRegression", "LinearSVC", "SGDClassifier", "Perceptron", "PassiveAggressiveClassifier"}
SINGLE_TREES = {"DecisionTreeClassifier", "ExtraTreeClassifier"}
# How each Table 3 family stores what it learns: a fact about the method, not a measured number.
FAMILY_STORAGE = {
    "SVC": "keeps training images themselves as support vectors",
    "KNeighborsClassifier": "keeps every training image it was given",
    "RandomForestClassifier": "grows many deep trees that carve up the pixel space",
    "GradientBoostingClassifier": "grows many deep trees that carve up the pixel space",
    "MLPClassifier": "connects every pixel to every unit of its hidden layer",
    "GaussianNB": "keeps a mean and a variance per pixel and class",
    **dict.fromkeys(LINEAR, "keeps one weight per pixel and class"),
    **dict.fromkeys(SINGLE_TREES, "keeps one tree of bounded depth"),
}


def split_by_cnn(cnn, rows):
    """The classical rows that beat the CNN (best first) and those that do not (a tie does not beat it)."""
    classical = rank_rows([row for row in rows if row["model"] != "cnn"])
    return ([row for row in classical if row["accuracy"] > cnn["accuracy"]],
            [row for row in classical if row["accuracy"] <= cnn["accuracy"]])


def cnn_sentence(cnn):
    budget = (f", after {cnn['epochs']} epochs and {cnn['fit_seconds']:.0f} s of training on this CPU"
              if cnn.get("epochs") and cnn.get("fit_seconds") else "")
    return f"The {cnn['name']} reaches {pct(cnn['accuracy'])} test accuracy with {cnn['params']:,} parameters{budget}."


def sources_phrase(rows):
    """What a count of results is made of, e.g. '13 published in Table 3 and 7 measured here'."""
    published = sum(r["source"] == "published" for r in rows)
    measured = len(rows) - published
    if published and measured:
        return f"{published} published in Table 3 and {measured} measured here; a family can appear in both"
    return f"all {'published in Table 3' if published else 'measured here'}"


def ranking_sentences(cnn, better, worse):
    total = len(better) + len(worse)
    counted = f"the {total} classical results ({sources_phrase(better + worse)})"
    if better:
        margins = "; ".join(f"{label(r)} by {points(r['accuracy'] - cnn['accuracy'])} points "
                            f"({pct(r['accuracy'])})" for r in better)
        first = f"Of {counted}, {len(better)} {'beats' if len(better) == 1 else 'beat'} it: {margins}."
    else:
        first = (f"None of {counted} beats it; the closest, {label(worse[0])}, is "
                 f"{points(cnn['accuracy'] - worse[0]['accuracy'])} points lower at {pct(worse[0]['accuracy'])}.")
    if not worse:
        return [first, "None of the classical results does worse."]
    low = worse[-1]
    verb = "does" if len(worse) == 1 else "do"
    rest = (f"The other {len(worse)} {verb} worse, from {label(worse[0])} "
            f"({points(cnn['accuracy'] - worse[0]['accuracy'])} points lower) down to {label(low)} "
            f"({points(cnn['accuracy'] - low['accuracy'])} points lower).")
    if len(worse) == 1:
        rest = (f"The other one, {label(low)}, does worse ({points(cnn['accuracy'] - low['accuracy'])} points "
                f"lower).")
    return [first, rest] if better else [first, rest.replace("The other", "All").replace("All one", "The only one")]


def capacity_sentences(cnn, better, worse):
    """Relate the winners' (or, if none, the largest loser's) stored numbers to the CNN's parameters.

    Only the families in the rows are named: measured rows by their measured size, published rows
    (Table 3 reports no sizes) by how their method stores what it learns.
    """
    if not better:
        sized = [r for r in worse if r["params"]]
        if not sized:
            return []
        largest = max(sized, key=lambda r: r["params"])
        return [f"Capacity does not decide it: {label(largest)} stores {largest['params']:,} {largest['size_unit']} "
                f"({ratio(largest['params'], cnn['params'])} the CNN's parameters) and still scores lower, so the "
                f"CNN's advantage comes from how it uses its weights rather than how many it has."]
    sentences = []
    sized = [r for r in better if r["params"]]
    if sized:
        sizes = "; ".join(f"{label(r)} stores {r['params']:,} {r['size_unit']} "
                          f"({ratio(r['params'], cnn['params'])} the CNN's parameters)" for r in sized)
        larger = all(r["params"] > cnn["params"] for r in sized)
        sentences.append(f"Measured sizes of the stronger ones: {sizes}" + (
            "; each keeps more numbers than the CNN, which must compress what it learns into its own few "
            "weights." if larger else "."))
    unsized = [r["name"] for r in better if not r["params"] and r["name"] not in {s["name"] for s in sized}]
    if unsized:
        by_storage = {}
        for name in dict.fromkeys(unsized):
            by_storage.setdefault(FAMILY_STORAGE.get(name, "is a different kind of model"), []).append(name)
        how = "; ".join(f"{'each of ' * (len(names) > 1)}{join_names(names)} {storage}"
                        for storage, names in by_storage.items())
        sentences.append(f"Table 3 reports no model sizes, but by construction {how}.")
    return sentences


INDUCTIVE_BIAS = (
    "The CNN's strength is its spatial inductive bias: each convolution shares one small set of weights "
    "across every position and max-pooling makes its features tolerant of small shifts, so a collar or "
    "a sole learnt in one place is recognised in another, whereas every classical method here treats "
    "each pixel as an independent feature and sees a garment shifted by a pixel as a different vector.",
    "Fashion-MNIST images are centred and size-normalised, which is why methods working on raw pixels "
    "can stay competitive on it despite lacking that bias.",
)


def weakness_sentence(worse):
    """Why the families below the CNN fall short, named from the rows actually below it."""
    names = [r["name"] for r in worse]
    parts = []
    if linear := [n for n in names if n in LINEAR]:
        parts.append(f"{join_names(linear)} can only draw one hyperplane per class through the raw pixels")
    if trees := [n for n in names if n in SINGLE_TREES]:
        verb = "cuts" if len(set(trees)) == 1 else "each cut"
        parts.append(f"{join_names(trees)} {verb} the pixel space with a single shallow tree")
    if "GaussianNB" in names:
        parts.append("GaussianNB assumes the pixels are independent given the class, which neighbouring "
                     "pixels of a garment never are")
    if not parts:
        return None
    return "Of those below it, " + "; ".join(parts) + "."


def budget_sentence(cnn, better):
    """Training cost of the strongest measured winner against the CNN's, when both were timed."""
    timed = [r for r in better if r["source"] == "measured" and r["fit_seconds"] is not None]
    if not timed or not cnn.get("fit_seconds"):
        return None
    r = timed[0]
    return (f"Training budget is part of the picture too: the measured {r['name']} took {r['fit_seconds']:.0f} s "
            f"to fit and {r['predict_seconds']:.1f} s to predict on {r['train_images']:,} training images, "
            f"against {cnn['fit_seconds']:.0f} s for the CNN's whole training run.")


def answer_8a(cnn, rows):
    """Question 8a: which techniques beat the CNN, which do worse, and why -- from the rows given."""
    better, worse = split_by_cnn(cnn, rows)
    sentences = [cnn_sentence(cnn), *ranking_sentences(cnn, better, worse), *capacity_sentences(cnn, better, worse),
                 *INDUCTIVE_BIAS, weakness_sentence(worse), budget_sentence(cnn, better)]
    return " ".join(s for s in sentences if s)


def target_sentence(cnn, better, worse):
    if better:
        return (f"To overtake the best classical result, {label(better[0])}, the CNN needs "
                f"{points(better[0]['accuracy'] - cnn['accuracy'])} more points of test accuracy.")
    return (f"The CNN already leads the best classical result, {label(worse[0])}, by "
            f"{points(cnn['accuracy'] - worse[0]['accuracy'])} points, so further gains should be judged "
            f"against wider CNNs rather than against these baselines.")


def capacity_idea(cnn, better):
    sized = [r for r in better if r["params"]]
    scale = (f"; {label(sized[0])} stores {ratio(sized[0]['params'], cnn['params'])} as many numbers"
             if sized else "")
    return (f"First, capacity: the network has only {cnn['params']:,} parameters{scale}; widening the CNN's "
            f"convolutions (the wide variants) costs little compute on images this small.")


def schedule_idea(cnn):
    if not cnn.get("epochs") or not cnn.get("best_epoch"):
        return ("Second, training budget: a longer schedule with batch normalisation after each convolution "
                "lets the same network train faster and more stably.")
    still = (f"validation accuracy was still at its best in the last epoch ({cnn['best_epoch']} of {cnn['epochs']}), "
             f"so a longer schedule should help"
             if cnn["best_epoch"] == cnn["epochs"] else
             f"validation accuracy peaked at epoch {cnn['best_epoch']} of {cnn['epochs']}, so more epochs alone "
             f"will help less than more capacity")
    return (f"Second, training budget and stability: {still}, and batch normalisation after each convolution "
            f"allows a higher learning rate.")


def augmentation_idea(cnn):
    now = f" (this run used {cnn['augment']})" if cnn.get("augment") else ""
    return (f"Third, augmentation{now}: random crops, small shifts or mirroring teach the invariances that "
            f"pixel-based classifiers lack, but they regularise, so they pay off for a larger network rather "
            f"than for one that already underfits.")


def averaging_idea(cnn):
    tta = cnn.get("flip_tta_accuracy")
    if tta is not None:
        change = "raised" if tta > cnn["accuracy"] else "lowered"
        return (f"Finally, averaging the predictions for an image and its mirror {change} this run's test accuracy "
                f"from {pct(cnn['accuracy'])} to {pct(tta)}: it helps a network trained on mirrored images and "
                f"hurts one that never saw them, while an ensemble of a few independently seeded CNNs adds "
                f"accuracy either way, at the cost of training each one.")
    return ("Finally, an ensemble of a few independently seeded CNNs usually adds accuracy without changing the "
            "training recipe, and averaging over an image and its mirror helps once the network is trained on "
            "mirrored images.")


def answer_8b(cnn, rows):
    """Question 8b: concrete ways to improve the CNN, anchored to the gap the rows show."""
    better, worse = split_by_cnn(cnn, rows)
    return " ".join([target_sentence(cnn, better, worse), capacity_idea(cnn, better), schedule_idea(cnn),
                     augmentation_idea(cnn), averaging_idea(cnn)])


# --- Part 2, questions 7a, 7b and 7c: the curves, the gap to published results, the study ----------

def converged_epoch(history, near):
    """Shared curve helper. First epoch whose validation accuracy reaches `near` times the run's best validation accuracy."""
    best = max(row["val_accuracy"] for row in history)
    return next(row["epoch"] for row in history if row["val_accuracy"] >= near * best)


def answer_7a(history, part1_history=None, near=0.9):
    """Question 7a from the loss curves: over- or underfitting, and convergence speed against Part 1."""
    first, last, n = history[0], history[-1], len(history)
    best = min(history, key=lambda row: row["val_loss"])
    gap = last["val_loss"] - last["train_loss"]
    # "Still falling": the last third of the epochs lowered the training loss further.
    tail = history[-max(2, n // 3):]
    still_falling = tail[-1]["train_loss"] < tail[0]["train_loss"]
    rising = best["epoch"] < last["epoch"] and last["val_loss"] > best["val_loss"]
    sentences = [
        f"Over {n} epochs the training loss fell from {first['train_loss']:.3f} to {last['train_loss']:.3f} "
        f"and the validation loss went from {first['val_loss']:.3f} to {last['val_loss']:.3f}.",
    ]
    if rising and gap > 0:
        sentences.append(
            f"The validation loss was lowest ({best['val_loss']:.3f}) at epoch {best['epoch']} and then rose "
            f"while the training loss kept falling, so the model overfits after epoch {best['epoch']}: it "
            f"starts to memorise the training split instead of learning what carries over to new images.")
    elif still_falling and gap <= 0.1 * last["train_loss"]:
        sentences.append(
            "Both losses were still falling at the end and the validation loss stays close to the training "
            "loss, so the model underfits: it is limited by its capacity or its epochs, not by memorisation, "
            "and a wider model or a longer schedule should help.")
    else:
        sentences.append(
            "The validation loss ended at its lowest point or close to it without a rising trend, so the "
            "model neither clearly overfits nor is it still improving fast: the fit is about balanced.")
    why = ("the training images are augmented, so they are harder than the untouched validation images" if gap < 0
           else "this gap is what the model learnt about its training images that does not carry over")
    sentences.append(
        f"At the end the validation loss is {abs(gap):.3f} {'above' if gap >= 0 else 'below'} the training loss "
        f"(training accuracy {last['train_accuracy']:.1%}, validation accuracy {last['val_accuracy']:.1%}): {why}.")
    epoch = converged_epoch(history, near)
    sentences.append(f"Validation accuracy first reached {near:.0%} of its best at epoch {epoch} of {n}.")
    if part1_history:
        part1_epoch, part1_n = converged_epoch(part1_history, near), len(part1_history)
        speed = "faster" if epoch / n < part1_epoch / part1_n else (
            "slower" if epoch / n > part1_epoch / part1_n else "as fast")
        sentences.append(f"The Fashion-MNIST run reached the same mark at epoch {part1_epoch} of {part1_n}, so "
                         f"relative to its schedule this run converges {speed}.")
    else:
        sentences.append("No Fashion-MNIST history was given, so convergence speed is not compared with it.")
    return " ".join(sentences)


def answer_7b(best, reference):
    """Question 7b: why the best model here stays below a published ResNet/WRN result.

    `best` is a study row (study.best_study_row) or None when no entry finished; `reference` one of
    published.json's CIFAR-100 results.
    """
    if best is None:
        return (f"No entry of the architecture study finished within its time budget, so there is no trained "
                f"model here to compare with {reference['name']} ({pct(reference['accuracy'])}, "
                f"{reference['citation']}). Rerun the study with a larger budget or fewer entries. "
                f"Until then the gap to that result is not measured in this notebook.")
    gap = 100 * (reference["accuracy"] - best["test_accuracy"])
    name = best["entry"]
    sentences = []
    if not best["official"]:
        sentences.append("The accuracy below comes from data that is NOT the official dataset files, so this "
                         "comparison shows the method, not a measured gap on the real data.")
    sentences += [
        f"The best model here, {name}, reached {best['test_accuracy']:.1%} test accuracy against "
        f"{reference['accuracy']:.1%} for {reference['name']} ({reference['citation']}), a gap of "
        f"{gap:.1f} percentage points.",
        f"Depth comes first: {name} has {best['conv_layers']} convolutional layers against "
        f"{reference['conv_layers']} in {reference['name']}, and every extra layer composes the features "
        f"below it into more abstract ones, which fine-grained classes need.",
    ]
    if reference.get("params"):
        sentences.append(f"Width and capacity follow: {best['params']:,} parameters against "
                         f"{reference['params']:,}, {reference['params'] / best['params']:.0f} times as many.")
    if reference["skip_connections"]:
        sentences.append(f"{reference['name']} adds identity skip connections, which carry gradients straight to "
                         f"the early layers; without them a plain stack like ours degrades when made that deep, so "
                         f"depth cannot simply be added to it.")
    if reference["augmentation"] == "none":
        sentences.append(f"Augmentation does not explain the gap: {reference['name']} reports its result without "
                         f"augmentation, while this model used '{best['augment']}'.")
    else:
        sentences.append(f"Augmentation is a smaller part: {reference['name']} trains with "
                         f"{reference['augmentation']}, while this model used '{best['augment']}'.")
    budget = f"{reference['epochs']} epochs" if reference.get("epochs") else "its published schedule"
    sentences.append(f"Finally the training budget: {reference['name']} trains for {budget} on a GPU, while this "
                     f"model had {best['epochs']} epochs in {best['minutes']:.1f} minutes on a CPU.")
    return " ".join(sentences)


# Why a change has the effect it has -- the mechanism, independent of any measured number.
MECHANISMS = {
    "batchnorm": "BatchNorm adds almost no parameters, but re-centres and re-scales every layer's activations, "
                 "which keeps narrow layers from dying and lets SGD take larger effective steps.",
    "no-bottleneck": "the 5-channel layer is an information bottleneck: widening only it removes the narrowest "
                     "point of the network for very few parameters.",
    "gap": "global average pooling throws away where a feature is and shrinks the classifier, so it removes "
           "parameters but also the spatial detail the small network relied on.",
    "no-augment": "augmentation adds no parameters; removing it lets a small model fit the training images more "
                  "easily, which helps when the model underfits and hurts when it overfits.",
    "label-smoothing": "label smoothing adds no parameters; it only stops the model from pushing logits towards "
                       "certainty, which changes calibration more than capacity.",
    "more-epochs": "more epochs add no parameters; they only show whether the shorter schedule had converged.",
    "dropout": "dropout adds no parameters and regularises; a model that underfits has little to gain from it.",
}


def answer_7c(study_rows):
    """Question 7c: the most surprising change -- the largest accuracy change per unit of parameter cost."""
    ran = [r for r in study_rows if r.get("delta_points") is not None]
    base = next((r for r in ran if r["entry"] == BASELINE), None)
    changes = [r for r in ran if r["entry"] != BASELINE]
    if base is None or not changes:
        return ("The spec-adapted model and at least one change must both finish for a comparison. This study "
                "does not have both, so no change can be measured against the spec-adapted model. Rerun it with "
                "a larger budget, fewer epochs or fewer entries. Until then this question has no evidence behind "
                "an answer.")

    def cost(row):
        # Doubling the parameters counts as one unit of cost; a change that adds none costs nothing.
        return abs(math.log2(row["params"] / base["params"]))

    surprise = max(changes, key=lambda r: abs(r["delta_points"]) / (1 + cost(r)))
    low, high = min(changes, key=lambda r: r["delta_points"]), max(changes, key=lambda r: r["delta_points"])
    sentences = []
    if not base["official"]:
        sentences.append(f"These runs used data that is NOT the official dataset ({base['dataset_identity']}), "
                         f"so the ranking shows the method, not a result on the real images.")
    sentences += [
        f"Against the spec-adapted model's {base['test_accuracy']:.1%}, the changes moved test accuracy from "
        f"{low['delta_points']:+.1f} points ({low['entry']}) to {high['delta_points']:+.1f} points ({high['entry']}).",
        f"The most surprising change is {surprise['entry']} ({surprise['change']}): "
        f"{surprise['delta_points']:+.1f} points with {surprise['params'] / base['params']:.2f} times the "
        f"parameters, the largest effect relative to its parameter cost.",
    ]
    if surprise["entry"] in MECHANISMS:
        sentences.append("The mechanism: " + MECHANISMS[surprise["entry"]])
    hurt = [r for r in changes if r["params"] > base["params"] and r["delta_points"] < 0]
    if hurt:
        worst = min(hurt, key=lambda r: r["delta_points"])
        sentences.append(f"{worst['entry']} hurt ({worst['delta_points']:+.1f} points) despite "
                         f"{worst['params'] / base['params']:.2f} times the parameters, so added capacity alone "
                         f"did not help it.")
    else:
        sentences.append("No change that added parameters lowered the accuracy, so on this data capacity was "
                         "never the thing to fear.")
    sentences.append("Each figure is one seeded run, so differences of about a point are within run-to-run noise.")
    return " ".join(sentences)
