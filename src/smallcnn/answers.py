"""The written answers (Part 1: 8a, 8b; Part 2: 7a, 7b, 7c), composed from one execution's results.

Each answer is a pure function of the results it is given and returns markdown: a few sentences of
plain prose, with a small table where a comparison needs one. Every number in it is computed from those
results or read from published.json, formatted exactly as the notebook prints it, so a reader can find
it in the outputs above; statements that are general knowledge about a method say so.
"""

import json
from pathlib import Path

PUBLISHED_FILE = Path(__file__).with_name("published.json")


def load_published():
    """published.json: Table 3 of Xiao et al. 2017 and the CIFAR-100 reference results, each with its citation."""
    return json.loads(PUBLISHED_FILE.read_text())


def pct(value):
    return f"{value:.2%}"


def points(difference):
    return f"{100 * abs(difference):.2f}"


def join(names):
    names = list(dict.fromkeys(names))
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def listing(rows, most=4):
    """The rows with their accuracies; a longer list as its first and last row."""
    if len(rows) > most:
        return f"from {listing(rows[:1])} down to {listing(rows[-1:])}"
    return join(f"{r['name']} ({pct(r['accuracy'])})" for r in rows)


# --- Part 1 ------------------------------------------------------------------------------------------

# Why a Table 3 family beats or trails a small CNN: general knowledge about each method, not a measurement.
STRONGER = {
    "SVC": "an RBF-kernel SVC compares every image with thousands of stored training images (its support vectors)",
    "GradientBoostingClassifier": "gradient boosting adds up hundreds of deep trees",
    "RandomForestClassifier": "a random forest averages a hundred deep trees",
    "MLPClassifier": "the MLP connects every pixel to each of its 100 hidden units",
    "KNeighborsClassifier": "nearest neighbours keeps every training image and compares each test image with all of them",
}
WEAKER = {
    "linear": "the linear models (logistic regression, linear SVC, SGD, perceptron, passive-aggressive) can only "
              "draw one hyperplane per class through the raw pixels",
    "tree": "a single decision tree of depth 10 cuts the pixel space with a few dozen axis-parallel tests",
    "bayes": "Gaussian naive Bayes assumes that pixels are independent given the class, which neighbouring pixels "
             "never are",
}
FAMILY = {"LogisticRegression": "linear", "LinearSVC": "linear", "SGDClassifier": "linear", "Perceptron": "linear",
          "PassiveAggressiveClassifier": "linear", "DecisionTreeClassifier": "tree", "ExtraTreeClassifier": "tree",
          "GaussianNB": "bayes"}


def comparison_table(ranked, cnn, around=2):
    """The rows ranked just above and below the CNN, as a markdown table."""
    position = ranked.index(cnn)
    rows = ranked[max(0, position - around):position + around + 1]
    lines = ["| rank | classifier | source | test accuracy |", "|---:|---|---|---:|"]
    lines += [f"| {r['rank']} | {r['name']} | {r['source']} | {pct(r['accuracy'])} |" for r in rows]
    return "\n".join(lines)


def answer_8a(part1):
    """8(a): which Table 3 techniques beat the CNN, which do worse, and why."""
    ranked = part1["ranked"]
    cnn = next(r for r in ranked if r["source"] == "this CNN")
    published = [r for r in ranked if r["source"] == "published"]
    better = [r for r in published if r["accuracy"] > cnn["accuracy"]]
    worse = [r for r in published if r["accuracy"] <= cnn["accuracy"]]
    sentences = [f"My CNN reached {pct(cnn['accuracy'])} test accuracy (item 7) with only {part1['params']:,} "
                 f"parameters, which puts it at rank {cnn['rank']} of the {len(ranked)} results in item 8."]
    if better:
        who = f"only {listing(better)} reports" if len(better) == 1 else f"{len(better)} report"
        sentences.append(f"Of the {len(published)} classifiers in Table 3, {who} better accuracy"
                         + ("." if len(better) == 1 else f": {listing(better)}."))
        reasons = [STRONGER[r["name"]] for r in better if r["name"] in STRONGER]
        if reasons:
            sentences.append(f"They have far more capacity than my network: {join(reasons)} (general knowledge "
                             f"about these methods), while my CNN must compress everything into "
                             f"{part1['params']:,} weights.")
    else:
        sentences.append(f"None of the {len(published)} classifiers in Table 3 reports better accuracy; the closest "
                         f"is {listing(worse[:1])}.")
    if worse:
        sentences.append(f"{len(worse)} of them {'reports' if len(worse) == 1 else 'report'} worse accuracy: "
                         f"{listing(worse)}.")
        kinds = [k for k in WEAKER if any(FAMILY.get(r["name"]) == k for r in worse)]
        if kinds:
            sentences.append(f"Among those, {join(WEAKER[k] for k in kinds)} (general knowledge).")
    if worse:
        sentences.append("What my CNN has over those is its convolutions: the same small filters slide over every "
                         "position and max-pooling tolerates small shifts, so it learns local shapes such as "
                         "collars, soles and handles instead of one weight per pixel.")
    measured = [r for r in ranked if r["source"] == "measured here"]
    if measured:
        top = measured[0]
        sentences.append(f"The classifiers I fitted myself on the same split agree in order of magnitude: the best, "
                         f"{top['name']}, reached {pct(top['accuracy'])} ({top['note']}).")
    return "\n\n".join([" ".join(sentences), comparison_table(ranked, cnn)])


def answer_8b(part1):
    """8(b): ideas to improve the CNN, each tied to this run's evidence or stated as general knowledge."""
    last = part1["history"][-1]
    gap = last["train_accuracy"] - last["val_accuracy"]
    fit = ("so the network underfits rather than overfits: it lacks capacity more than it needs regularisation"
           if gap < 0.02 else "so the network already overfits a little and would profit from regularisation")
    sentences = [f"In the last epoch my training accuracy ({pct(last['train_accuracy'])}) and validation accuracy "
                 f"({pct(last['val_accuracy'])}) were {points(gap)} points apart, {fit}.",
                 "The most direct improvement is therefore more capacity: wider convolutions, or no 5-channel "
                 "bottleneck in the middle, which the fixed Part 1 architecture rules out but which Part 2's "
                 "architecture study tests."]
    best, epochs = part1["best_epoch"], part1["epochs"]
    if best == epochs:
        sentences.append(f"Validation accuracy was still at its best in the last epoch ({best} of {epochs}), so "
                         f"training for more epochs should help as well.")
    else:
        sentences.append(f"Validation accuracy peaked at epoch {best} of {epochs}, so more epochs alone would add "
                         f"little.")
    hardest = sorted(part1["per_class"].items(), key=lambda item: item[1])[:2]
    sentences.append(f"The hardest classes are {join(f'{name} ({pct(acc)})' for name, acc in hardest)} (item 6), "
                     f"garments whose outlines look alike at 28x28 pixels, so features that see finer detail "
                     f"(more channels in the first layer) would target the largest errors.")
    sentences.append("Batch normalisation after each convolution, random horizontal flips, and averaging the "
                     "predictions for an image and its mirror image are further standard techniques (general "
                     "knowledge; I did not measure them in Part 1).")
    return " ".join(sentences)


# --- Part 2 ------------------------------------------------------------------------------------------

def reached_epoch(history, fraction=0.9):
    """The first epoch whose validation accuracy reached `fraction` of the run's best."""
    best = max(row["val_accuracy"] for row in history)
    return next(row["epoch"] for row in history if row["val_accuracy"] >= fraction * best)


def final_gap(history):
    return history[-1]["train_accuracy"] - history[-1]["val_accuracy"]


def answer_7a(part1, part2):
    """7(a): how the curves changed from Fashion-MNIST to CIFAR-100."""
    h1, h2 = part1["history"], part2["history"]
    sentences = [
        f"On Fashion-MNIST my model ended with {pct(h1[-1]['train_accuracy'])} training and "
        f"{pct(h1[-1]['val_accuracy'])} validation accuracy; on CIFAR-100 the same architecture ended with "
        f"{pct(h2[-1]['train_accuracy'])} and {pct(h2[-1]['val_accuracy'])} (the item 5 summaries).",
        f"Both curves sit far lower on CIFAR-100, and its validation loss ended at {h2[-1]['val_loss']:.4f} against "
        f"{h1[-1]['val_loss']:.4f} on Fashion-MNIST.",
    ]
    gap1, gap2 = final_gap(h1), final_gap(h2)
    if h2[-1]["train_accuracy"] < 0.6:
        sentences.append(f"The main change is underfitting: the network cannot even fit its CIFAR-100 training "
                         f"images, and the gap between training and validation accuracy ({points(gap2)} points, "
                         f"against {points(gap1)} on Fashion-MNIST) is small compared with what it gets wrong.")
    else:
        sentences.append(f"The gap between training and validation accuracy grew from {points(gap1)} to "
                         f"{points(gap2)} points, a sign of more overfitting on CIFAR-100.")
    e1, e2 = reached_epoch(h1), reached_epoch(h2)
    speed = "converged more slowly" if e2 / len(h2) > e1 / len(h1) else "did not converge more slowly"
    sentences.append(f"Validation accuracy first came within 10% of its best value in epoch {e1} of {len(h1)} on "
                     f"Fashion-MNIST and in epoch {e2} of {len(h2)} on CIFAR-100, so relative to the length of its "
                     f"run CIFAR-100 {speed}.")
    per_class1 = part1["train_images"] // part1["num_classes"]
    per_class2 = part2["train_images"] // part2["num_classes"]
    sentences.append(f"This is what the data leads one to expect: {part2['num_classes']} classes with about "
                     f"{per_class2:,} training images each instead of {part1['num_classes']} with about "
                     f"{per_class1:,}, colour photographs of objects on varied backgrounds instead of centred grey "
                     f"garments, and a 5-channel middle layer that has to carry all of it.")
    return " ".join(sentences)


def answer_7b(part2, reference):
    """7(b): the architectural differences behind the gap to a published wide residual network."""
    chosen = part2["chosen"]
    rows = {r["entry"]: r for r in part2["study"]}
    sentences = [
        f"My best model, {chosen} (chosen on validation accuracy), reached {pct(part2['chosen_test_accuracy'])} test "
        f"accuracy, against {pct(reference['accuracy'])} for {reference['name']} (Zagoruyko and Komodakis, 2016), "
        f"a gap of {points(reference['accuracy'] - part2['chosen_test_accuracy'])} points.",
        f"Depth is the largest difference: that network has {reference['conv_layers']} convolutional layers, mine "
        f"has 3, so it builds features of features many times over.",
        f"Width follows: it has {reference['params']:,} parameters against {rows[chosen]['params']:,} in my model.",
        "Skip connections are what make such depth trainable at all, since gradients flow through the identity "
        "paths (general knowledge); my three-layer network has none and does not need them.",
    ]
    measured = [(name, rows[name]) for name in ("wide2", "wide4", "no-bottleneck", "batchnorm", "no-augment")
                if name in rows and rows[name]["val_delta_points"] is not None]
    if measured:
        sentences.append("My own study measured some of these factors on the validation split: " + join(
            f"{r['change']} changed validation accuracy by {r['val_delta_points']:+.2f} points" for _, r in measured)
            + ".")
    sentences.append(f"Both use random crops and flips, so augmentation does not explain the gap; the training "
                     f"budget does add to it ({reference['epochs']} epochs against my {part2['epochs']}).")
    return " ".join(sentences)


# What a gain from each entry suggests about the spec-adapted network (an interpretation, not a measurement).
LESSONS = {
    "wide2": "the narrow layers are what limits the spec-adapted network most",
    "wide4": "the narrow layers are what limits the spec-adapted network most",
    "wide8": "the narrow layers are what limits the spec-adapted network most",
    "no-bottleneck": "the 5-channel layer is a bottleneck for 100 classes",
    "batchnorm": "the spec-adapted network is hard to optimise at this learning rate without normalisation",
    "dropout": "the network overfits its training images",
    "no-augment": "with so little capacity, augmentation costs more than it protects",
    "label-smoothing": "the network is over-confident on 100 classes",
    "gap": "the positions of features matter less than having fewer weights to fit",
}
# Each entry's common expectation (+1 helps, -1 hurts) and why: general knowledge, not a measurement.
EXPECTATIONS = {
    "wide2": (1, "more channels give the network more capacity"),
    "wide4": (1, "more channels give the network more capacity"),
    "wide8": (1, "more channels give the network more capacity"),
    "no-bottleneck": (1, "a 5-channel layer squeezes every image into five feature maps"),
    "batchnorm": (1, "batch normalisation usually speeds up and stabilises training"),
    "dropout": (1, "dropout is the textbook cure for overfitting"),
    "no-augment": (-1, "random crops and flips usually help a small network on CIFAR"),
    "label-smoothing": (1, "label smoothing usually helps a little with many classes"),
    "more-epochs": (1, "twice the training should fit the data better"),
    "gap": (-1, "averaging away the positions of features throws information away"),
}


def answer_7c(part2):
    """7(c): the most surprising change in the study, picked from its validation results."""
    ran = [r for r in part2["study"] if r["entry"] in EXPECTATIONS and r["val_delta_points"] is not None]
    if not ran:
        return ("No single-change entry of the study fitted the time budget, so this run has no evidence about "
                "which change surprised me. The study table lists every entry with the time it would have "
                "needed. Running the notebook with a larger study budget would answer this question.")
    against = [r for r in ran if r["val_delta_points"] * EXPECTATIONS[r["entry"]][0] < 0]
    surprise = max(against or ran, key=lambda r: abs(r["val_delta_points"]))
    sign, reason = EXPECTATIONS[surprise["entry"]]
    biggest = max(ran, key=lambda r: r["val_delta_points"])
    sentences = [
        f"The change that surprised me most was {surprise['change']}: it moved validation accuracy by "
        f"{surprise['val_delta_points']:+.2f} points against the spec-adapted model (the study table).",
        f"I expected it to {'help' if sign > 0 else 'hurt'}, because {reason}, and it did "
        f"{'the opposite' if surprise in against else 'so, but by more than I expected'}.",
        f"The largest gain came from {biggest['change']} ({biggest['val_delta_points']:+.2f} points), which "
        f"suggests that {LESSONS[biggest['entry']]}." if biggest["val_delta_points"] > 0 else
        "No single change improved on the spec-adapted model in this run.",
        "Each entry is a single seeded run, so a difference of a point or less may not repeat with another seed.",
        "My takeaway is to change one thing at a time and judge it on the validation set, because intuition "
        "about what should help was not a reliable guide for a network this small.",
    ]
    return " ".join(sentences)
