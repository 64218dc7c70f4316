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
    """The size of a difference in percentage points (its direction is for the sentence to say)."""
    return f"{100 * abs(difference):.2f}"


def join(names):
    names = list(dict.fromkeys(names))
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def listing(rows, most=4):
    """The rows with their accuracies; a longer list as its first and last row."""
    if len(rows) > most:
        return f"from {listing(rows[:1])} down to {listing(rows[-1:])}"
    return join(f"{r['name']} ({pct(r['accuracy'])})" for r in rows)


def count(n, singular, plural):
    return f"{n} {singular if n == 1 else plural}"


# --- Part 1 ------------------------------------------------------------------------------------------

# How each Table 3 family decides: general knowledge about the method, not a measurement.
FAMILIES = {
    "SVC": "an RBF-kernel SVC compares each image with thousands of stored training images",
    "GradientBoostingClassifier": "gradient boosting adds up hundreds of deep trees",
    "RandomForestClassifier": "a random forest averages a hundred deep trees",
    "MLPClassifier": "the MLP connects every pixel to each of its 100 hidden units",
    "KNeighborsClassifier": "nearest neighbours compares each image with every stored training image",
    "linear": "the linear models (logistic regression, linear SVC, SGD, perceptron, passive-aggressive) draw one "
              "hyperplane per class through the raw pixels",
    "tree": "a single decision tree of depth 10 decides with at most 10 tests on single pixels",
    "GaussianNB": "Gaussian naive Bayes assumes the pixels are independent given the class, which neighbouring "
                  "pixels never are",
}
# The families that store far more numbers than the CNN's few thousand weights.
LARGE = {"SVC", "GradientBoostingClassifier", "RandomForestClassifier", "MLPClassifier", "KNeighborsClassifier"}
KIND = {"LogisticRegression": "linear", "LinearSVC": "linear", "SGDClassifier": "linear", "Perceptron": "linear",
        "PassiveAggressiveClassifier": "linear", "DecisionTreeClassifier": "tree", "ExtraTreeClassifier": "tree"}
TEST_IMAGES = 10_000  # the Fashion-MNIST test set, on which Table 3 and item 7 are both measured


def how_they_work(rows):
    """How the families of these rows decide, each kind once (general knowledge)."""
    return join(FAMILIES[KIND.get(r["name"], r["name"])] for r in rows if KIND.get(r["name"], r["name"]) in FAMILIES)


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
    sentences = [f"My CNN reached {pct(cnn['accuracy'])} test accuracy (item 7) with {part1['params']:,} "
                 f"parameters, rank {cnn['rank']} of the {len(ranked)} results in item 8."]
    if better:
        margin = better[-1]["accuracy"] - cnn["accuracy"]  # the closest of those ahead
        close = (f"; the closest is ahead by {points(margin)} points, about {round(margin * TEST_IMAGES)} of the "
                 f"{TEST_IMAGES:,} test images" if margin < 0.01 else "")
        sentences.append(f"{count(len(better), 'classifier', 'classifiers')} of Table 3 "
                         f"{'reports' if len(better) == 1 else 'report'} better accuracy: {listing(better)}{close}.")
        large = [r for r in better if r["name"] in LARGE]
        if large:
            sentences.append(f"{'It decides' if len(large) == 1 else 'Those decide'} with far more stored numbers "
                             f"than my network: {how_they_work(large)} (general knowledge about these methods).")
    else:
        sentences.append(f"None of Table 3's {len(published)} classifiers reports better accuracy; the closest is "
                         f"{listing(worse[:1])}.")
    if worse:
        sentences.append(f"{count(len(worse), 'classifier reports', 'classifiers report')} worse accuracy: "
                         f"{listing(worse)}.")
        large = [r["name"] for r in worse if r["name"] in LARGE]
        simple = [r for r in worse if r["name"] not in LARGE]
        if large:
            one = len(large) == 1
            sentences.append(f"Even {join(large)}, which {'decides' if one else 'decide'} with far more stored "
                             f"numbers than my network, {'scores' if one else 'score'} lower, so size alone does "
                             f"not decide the ranking.")
        if simple:
            sentences.append(f"Among the simpler ones, {how_they_work(simple)} (general knowledge).")
        sentences.append("My network instead applies the same small convolution filters at every position, and its "
                         "max-pooling tolerates small shifts, so it learns local shapes such as collars, soles and "
                         "handles instead of one weight per pixel.")
    measured = [r for r in ranked if r["source"] == "measured here"]
    if measured:
        sentences.append(f"Of the classifiers I fitted myself on the same split, the best was {measured[0]['name']} "
                         f"with {pct(measured[0]['accuracy'])} ({measured[0]['note']}).")
    return "\n\n".join([" ".join(sentences), comparison_table(ranked, cnn)])


def answer_8b(part1):
    """8(b): ideas to improve the CNN, each tied to this run's evidence or stated as general knowledge."""
    last = part1["history"][-1]
    gap = last["train_accuracy"] - last["val_accuracy"]
    side = "above" if gap > 0 else "below"
    sentences = [f"In the last epoch my training accuracy ({pct(last['train_accuracy'])}) was {points(gap)} points "
                 f"{side} the validation accuracy ({pct(last['val_accuracy'])}): "
                 + ("no sign of overfitting, so with only " if gap < 0.02 else "some overfitting already, yet with ")
                 + f"{part1['params']:,} parameters the network's size is the likelier limit (my judgement, "
                 f"not a measurement).",
                 "The most direct improvement is therefore more capacity: wider convolutions, or no 5-channel "
                 "bottleneck in the middle, which the fixed Part 1 architecture rules out but which Part 2's "
                 "architecture study tests."]
    hardest = sorted(part1["per_class"].items(), key=lambda item: item[1])[:2]
    sentences.append(f"The hardest classes are {join(f'{name} ({pct(acc)})' for name, acc in hardest)} (item 6); "
                     f"the confusion matrix shows which classes they are mistaken for, so features that see finer "
                     f"detail would target the largest errors.")
    sentences.append("Batch normalisation after each convolution, random horizontal flips, a longer schedule, and "
                     "averaging the predictions for an image and its mirror image are further standard techniques "
                     "(general knowledge; I did not measure them in Part 1).")
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
    gap1, gap2 = final_gap(h1), final_gap(h2)
    sentences = [
        f"On Fashion-MNIST my model ended with {pct(h1[-1]['train_accuracy'])} training and "
        f"{pct(h1[-1]['val_accuracy'])} validation accuracy; on CIFAR-100 the same architecture ended with "
        f"{pct(h2[-1]['train_accuracy'])} and {pct(h2[-1]['val_accuracy'])} (the item 5 summaries).",
        f"Both curves sit far lower on CIFAR-100, and its validation loss ended at {h2[-1]['val_loss']:.4f} against "
        f"{h1[-1]['val_loss']:.4f}.",
        f"Training minus validation accuracy went from {100 * gap1:+.2f} to {100 * gap2:+.2f} points (CIFAR-100's "
        f"training accuracy is measured on randomly cropped and flipped images, which tends to lower it), "
        + ("which is small next to what the network gets wrong: the main change is underfitting, as it cannot even "
           "fit its CIFAR-100 training images." if h2[-1]["train_accuracy"] < 0.6 else
           "a sign of more overfitting on CIFAR-100." if gap2 > gap1 + 0.02 else
           "so there is no more overfitting on CIFAR-100 than on Fashion-MNIST.")]
    e1, e2 = reached_epoch(h1), reached_epoch(h2)
    speed = "converged more slowly" if e2 / len(h2) > e1 / len(h1) else "did not converge more slowly"
    sentences.append(f"Validation accuracy first reached 90% of its best value in epoch {e1} of {len(h1)} on "
                     f"Fashion-MNIST and in epoch {e2} of {len(h2)} on CIFAR-100, so relative to the length of "
                     f"its run CIFAR-100 {speed}.")
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
    widths = "-".join(map(str, part2["chosen_widths"]))
    sentences = [
        f"The model my study chose on validation accuracy, {chosen}, reached {pct(part2['chosen_test_accuracy'])} "
        f"test accuracy, against {pct(reference['accuracy'])} for {reference['name']} (Zagoruyko and Komodakis, "
        f"2016), a gap of {points(reference['accuracy'] - part2['chosen_test_accuracy'])} points.",
        f"Depth is the largest difference: that network has {reference['conv_layers']} convolutional layers and "
        f"mine has 3, so it can build features of features many times over.",
        f"Width follows: its three groups of layers have {'-'.join(map(str, reference['widths']))} channels "
        f"against {widths} in my model, and {reference['params']:,} parameters against "
        f"{rows[chosen]['params']:,}.",
        "Skip connections are what make such depth trainable, since gradients flow through the identity paths "
        "(general knowledge); my three-layer network has none.",
    ]
    measured = [rows[name] for name in ("no-bottleneck", "wide2", "wide4", "batchnorm", "no-augment")
                if name in rows and rows[name]["val_delta_points"] is not None]
    if measured:
        sentences.append("My study measured some of these factors on the validation split, against the "
                         "spec-adapted model: " + join(f"{r['change']}: {r['val_delta_points']:+.2f} points"
                                                         for r in measured) + ".")
    sentences.append(f"Both use random crops and flips, so augmentation does not explain the gap; the training "
                     f"budget adds to it ({reference['epochs']} epochs against my {part2['epochs']}).")
    return " ".join(sentences)


# The architecture changes of the study (7c asks about the architecture), each with the common expectation
# (+1 helps, -1 hurts) and why: general knowledge, not a measurement.
EXPECTATIONS = {
    "wide2": (1, "more channels give the network more capacity"),
    "wide4": (1, "more channels give the network more capacity"),
    "wide8": (1, "more channels give the network more capacity"),
    "no-bottleneck": (1, "a 5-channel layer squeezes every image into five feature maps"),
    "batchnorm": (1, "batch normalisation usually speeds up and stabilises training"),
    "dropout": (1, "dropout is the textbook cure for overfitting"),
    "gap": (-1, "averaging away the positions of features throws information away"),
}
NOISE_POINTS = 1.0  # smaller changes of a single seeded run are not read as effects


def answer_7c(part2):
    """7(c): the architecture change that surprised most, picked from the study's validation results."""
    ran = [r for r in part2["study"] if r["entry"] in EXPECTATIONS and r["val_delta_points"] is not None]
    if not ran:
        return ("No single architecture change of the study fitted the time budget, so this run has no evidence "
                "about which change surprised me. The study table lists every entry with the time it would have "
                "needed. Running the notebook with a larger study budget would answer this question.")
    clear = [r for r in ran if abs(r["val_delta_points"]) >= NOISE_POINTS]
    against = [r for r in clear if r["val_delta_points"] * EXPECTATIONS[r["entry"]][0] < 0]
    if not clear:
        flat = max(ran, key=lambda r: abs(r["val_delta_points"]))
        return (f"What surprised me was that no architecture change moved validation accuracy by {NOISE_POINTS:.0f} "
                f"point or more against the spec-adapted model; the largest was {flat['change']} "
                f"({flat['val_delta_points']:+.2f} points). Each entry is a single seeded run, so differences this "
                f"small may not repeat with another seed. My takeaway is that at this budget the recipe, not the "
                f"architecture, limits the network, and that changes must be judged against run-to-run variation.")
    surprise = max(against or clear, key=lambda r: abs(r["val_delta_points"]))
    sign, reason = EXPECTATIONS[surprise["entry"]]
    helped = surprise["val_delta_points"] > 0
    sentences = [
        f"The change that surprised me most was {surprise['change']}: it moved validation accuracy by "
        f"{surprise['val_delta_points']:+.2f} points against the spec-adapted model (the study table).",
        f"The common expectation is that it {'helps' if sign > 0 else 'hurts'}, because {reason} (general "
        f"knowledge), and here it {'helped' if helped else 'hurt'}"
        + (", the opposite." if surprise in against else ", by more than any other single change.")]
    biggest = max(ran, key=lambda r: r["val_delta_points"])
    if biggest["val_delta_points"] >= NOISE_POINTS and biggest is not surprise:
        sentences.append(f"The largest single-change gain came from {biggest['change']} "
                         f"({biggest['val_delta_points']:+.2f} points).")
    sentences += ["Each entry is a single seeded run, so a difference of a point or less may not repeat with "
                  "another seed.",
                  "My takeaway is to change one thing at a time and judge it on the validation set, because the "
                  "common expectation about what helps was not a reliable guide for a network this small."
                  if against else
                  "My takeaway is that for a network this small the size of each change's effect, not just its "
                  "direction, has to be measured, one change at a time on the validation set."]
    return " ".join(sentences)
