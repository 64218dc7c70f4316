"""The written answers (Part 1: 8a, 8b; Part 2: 7a, 7b, 7c), composed from one execution's results.

Each answer is a pure function of the results it is given and returns markdown: three to eight sentences of
first-person prose, with a small table where a comparison needs one. Accuracies are formatted as the notebook
prints them (f"{x:.2%}") and come from the results or from published.json; small counts are written in words.
"""

import math
import re

TEST_IMAGES = 10_000  # the Fashion-MNIST test set, on which Table 3 and my CNN are both measured
PAPER_TRAIN_IMAGES = 60_000  # the Fashion-MNIST training set that Table 3's classifiers were trained on
REQUIRED = 0.30  # the CIFAR-100 test accuracy the assignment asks for


def pct(value):
    return f"{value:.2%}"


def points(difference):
    """The size of a difference in percentage points (its direction is for the sentence to say)."""
    return f"{100 * abs(difference):.2f}"


SMALL = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
         "seventeen eighteen nineteen").split()
TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()


def last_epochs(n):
    """'the last epoch' or 'the last five epochs'."""
    return "the last epoch" if n == 1 else f"the last {words(n)} epochs"


def words(n):
    """A count as a student writes it: in words below a hundred, in digits from there on."""
    if n < 20:
        return SMALL[n]
    if n < 100:
        return TENS[n // 10 - 2] + (f"-{SMALL[n % 10]}" if n % 10 else "")
    return "a hundred" if n == 100 else f"{n:,}"


def join(items):
    items = list(dict.fromkeys(items))
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def capital(text):
    return text[:1].upper() + text[1:]


# --- the trend of the loss curves --------------------------------------------------------------------

FLAT = 0.02  # a loss that moves by less than 2% of its value over the window counts as flat


def loss_trend(history, window=5):
    """How the training and validation losses moved over the last `window` epochs, and what that means.

    Returns {"epochs", "train", "val", "widening", "verdict", "start", "end"}: train and val are "falling",
    "flat" or "rising"; widening says whether the gap between the losses grew; the verdict is "overfitting"
    (validation loss rising), "starting to overfit" (validation flat while training falls), "still improving"
    (both falling: not converged, still underfitting), "converged" (both flat) or "unstable" (training loss rising).
    """
    k = min(window, len(history) - 1)  # 0 for a single epoch: no trend to read
    start, end = history[-1 - k], history[-1]

    def direction(key):
        change = (end[key] - start[key]) / start[key]
        return "falling" if change < -FLAT else "rising" if change > FLAT else "flat"

    train, val = direction("train_loss"), direction("val_loss")
    gap_growth = (end["val_loss"] - end["train_loss"]) - (start["val_loss"] - start["train_loss"])
    verdict = ("too short" if k == 0 else "unstable" if train == "rising" else "overfitting" if val == "rising"
               else "starting to overfit" if train == "falling" and val == "flat"
               else "still improving" if train == "falling" else "converged")
    return {"epochs": k, "train": train, "val": val, "widening": gap_growth > FLAT * start["val_loss"],
            "verdict": verdict, "start": start, "end": end}


TREND = {  # each verdict as a clause about the last epochs
    "overfitting": "the validation loss rose while the training loss did not",
    "starting to overfit": "the validation loss levelled off while the training loss kept falling",
    "still improving": "both losses were still falling",
    "converged": "both losses had levelled off",
    "unstable": "the training loss rose",
    "too short": "a single epoch shows no trend",
}
MEANING = {
    "overfitting": "the network had begun to overfit",
    "starting to overfit": "the network was beginning to overfit",
    "still improving": "the network had not converged and was still underfitting",
    "converged": "the network had converged at the level it can reach",
    "unstable": "the optimisation was unstable, which points to too high a learning rate",
    "too short": "I cannot tell whether the network over- or underfits",
}


def next_step_key(trend):
    """NEXT_STEP's key for a trend: still improving with a widening gap has advice of its own."""
    widening = trend["verdict"] == "still improving" and trend["widening"]
    return trend["verdict"] + (", widening" if widening else "")


def trend_sentence(trend, dataset):
    start, end = trend["start"], trend["end"]
    widening = " and the gap between them widened" if trend["widening"] and trend["verdict"] != "overfitting" else ""
    return (f"Over {last_epochs(trend['epochs'])} on {dataset} my training loss went from "
            f"{start['train_loss']:.4f} to {end['train_loss']:.4f} and the validation loss from "
            f"{start['val_loss']:.4f} to {end['val_loss']:.4f}: {TREND[trend['verdict']]}{widening}, "
            f"so {meaning(trend)}.")


def meaning(trend):
    """What a trend says about fitting; a widening gap while both losses fall is the first sign of overfitting."""
    if trend["verdict"] == "still improving" and trend["widening"]:
        return ("the network had not converged yet, but it was starting to fit its training images better than "
                "images it had not seen")
    return MEANING[trend["verdict"]]


# --- Part 1 ------------------------------------------------------------------------------------------

COURSE_NAMES = {  # Table 3's scikit-learn class names as the course calls the methods
    "SVC": "an RBF-kernel SVM", "GradientBoostingClassifier": "gradient boosting",
    "RandomForestClassifier": "a random forest", "MLPClassifier": "a multilayer perceptron",
    "KNeighborsClassifier": "k-nearest neighbours", "LogisticRegression": "logistic regression",
    "LinearSVC": "a linear SVM", "SGDClassifier": "a linear classifier trained by SGD",
    "DecisionTreeClassifier": "a decision tree", "Perceptron": "the perceptron",
    "PassiveAggressiveClassifier": "a passive-aggressive classifier", "ExtraTreeClassifier": "a single extra tree",
    "GaussianNB": "Gaussian naive Bayes",
}
CAPACITY = {  # how the large families of Table 3 buy their accuracy, in their published configuration
    "SVC": "an RBF-kernel SVM compares each test image with its support vectors, a large share of the training images",
    "GradientBoostingClassifier": "gradient boosting adds up a hundred trees of depth ten",
    "RandomForestClassifier": "a random forest averages a hundred deep trees",
    "MLPClassifier": "a multilayer perceptron connects every pixel to each of its hundred hidden units",
    "KNeighborsClassifier": "k-nearest neighbours compares each test image with every stored training image",
}


def course_name(row):
    return COURSE_NAMES.get(row["name"], row["name"])


def listing(rows):
    """The rows with their accuracies; more than three as the first and the last."""
    named = [f"{course_name(r)} ({pct(r['accuracy'])})" for r in rows]
    return join(named) if len(named) <= 3 else f"from {named[0]} down to {named[-1]}"


def comparison_table(ranked, cnn, around=2):
    """Table 3's rows ranked just above and below the CNN (ranked among Table 3 alone), as a markdown table."""
    ranked = [r for r in ranked if r is cnn or r["source"] == "published"]
    position = ranked.index(cnn)
    lines = ["| rank | classifier | test accuracy |", "|---:|---|---:|"]
    lines += [f"| {rank} | {'my CNN' if r is cnn else re.sub('^(an?|the) ', '', course_name(r))} | "
              f"{pct(r['accuracy'])} |"
              for rank, r in enumerate(ranked, 1) if abs(rank - 1 - position) <= around]
    return "\n".join(lines)


def answer_8a(part1):
    """8(a): which Table 3 techniques beat the CNN, which do worse, why, and how far the comparison carries."""
    ranked = part1["ranked"]
    cnn = next(r for r in ranked if r["source"] == "this CNN")
    table = [r for r in ranked if r["source"] == "published"]
    accuracy, total = cnn["accuracy"], words(len(table))
    tied = [r for r in table if round(accuracy, 3) == r["accuracy"]]  # at Table 3's precision, 0.1 point
    better = [r for r in table if r["accuracy"] > accuracy and r not in tied]
    worse = [r for r in table if r["accuracy"] < accuracy and r not in tied]
    sentences = [f"My CNN reached {pct(accuracy)} on the {TEST_IMAGES:,} Fashion-MNIST test images with "
                 f"{part1['params']:,} parameters."]
    if better and not worse and not tied:
        sentences.append(f"All {total} classifiers in Table 3 score higher, {listing(better)}.")
    elif better:
        sentences.append(f"{capital(words(len(better)))} of the {total} classifiers in Table 3 "
                         f"{'scores' if len(better) == 1 else 'score'} higher: {listing(better)}.")
    if tied:
        sentences.append(f"I tie with {listing(tied)} at the precision Table 3 reports.")
    if worse:
        lead = (f"All {total} classifiers in Table 3" if len(worse) == len(table)
                else f"The other {words(len(worse))}" if better or tied else f"The {words(len(worse))}")
        sentences.append(f"{lead} {'scores' if len(worse) == 1 else 'score'} lower, "
                         f"{listing(worse)}.")
        sentences.append("Every classifier in the table treats an image as a flat list of pixel values, while my "
                         "network applies the same small filters at every position and max pooling tolerates small "
                         "shifts, so it learns local shapes such as collars, soles and handles with few weights.")
    large = [CAPACITY[r["name"]] for r in better if r["name"] in CAPACITY]
    if better and better[-1]["name"] not in CAPACITY:  # a simple method beats my network
        sentences.append(f"That even {course_name(better[-1])} beats my network tells me this run fell short of "
                         f"what the architecture can do, so I would check my training before blaming the method.")
    elif large:
        sentences.append(f"The classifiers above me make up for the flat view with far more stored numbers than my "
                         f"network has: {join(large) if len(large) <= 3 else 'for example, ' + join(large[:3])}.")
    images = part1.get("train_images")  # baselines.py's results do not say
    trained = f" trained on {images:,} of the {PAPER_TRAIN_IMAGES:,} training images" if images else ""
    sentences.append(f"The comparison is not like for like: my figure is one seeded run{trained}, while Table 3 "
                     f"gives the mean accuracy over repeated runs of the best configuration of each scikit-learn "
                     f"family.")
    nearest = min(table, key=lambda r: abs(r["accuracy"] - accuracy))
    margin = abs(nearest["accuracy"] - accuracy)
    if not tied and margin < 0.01:
        sentences.append(f"My nearest neighbour in the ranking, {course_name(nearest)}, is only {points(margin)} "
                         f"points {'ahead' if nearest in better else 'behind'}, about "
                         f"{words(round(margin * TEST_IMAGES))} test images, so I cannot claim that this order "
                         f"would survive another seed.")
    return " ".join(sentences) + "\n\n" + comparison_table(ranked, cnn)


NEXT_STEP = {
    "overfitting": "The first thing I would try is stronger regularisation: {augment}, more weight decay, or a "
                   "shorter schedule that ends before the validation loss turns up.",
    "starting to overfit": "More epochs alone would therefore mostly widen the gap, so I would add regularisation "
                           "first: {augment} and weight decay.",
    "still improving": "The first thing I would try is simply a longer schedule, since neither curve had flattened "
                       "when training stopped.",
    "still improving, widening": "The first thing I would try is a longer schedule together with {augment}, so that "
                                 "the extra epochs do not mostly widen the gap between the curves.",
    "converged": "More epochs would not help, so the next step is more capacity, such as more filters per layer, "
                 "which the assignment's fixed architecture rules out but a follow-up could test.",
    "unstable": "The first thing I would try is a lower learning rate before changing anything else.",
    "too short": "The first thing I would do is train for the full schedule, since one epoch says little.",
}


def confusion_sentence(confusions, per_class):
    """What the confusion matrix shows: the class most often mistaken and what for."""
    if not confusions:
        name, accuracy = min(per_class.items(), key=lambda item: item[1])
        return f"My weakest class on the test set is {name}, with {pct(accuracy)} of its images classified correctly."
    true = confusions[0][0]
    mistaken = [f"{pct(fraction)} as {predicted}" for t, predicted, fraction in confusions if t == true]
    other = next((c for c in confusions if c[0] != true), None)
    also = f", and {pct(other[2])} of the {other[0]} images were taken for {other[1]}" if other else ""
    return (f"The confusion matrix shows where my errors concentrate: of the {true} test images, "
            f"{join(mistaken).replace(' as ', ' were classified as ', 1)}{also}.")


def answer_8b(part1):
    """8(b): ideas to improve the CNN, read from the trend of its loss curves and from its confusion matrix."""
    trend = loss_trend(part1["history"])
    augment = part1.get("config", {}).get("augment")
    augmenting = augment not in (None, "", "none", False)
    sentences = [trend_sentence(trend, "Fashion-MNIST"),
                 NEXT_STEP[next_step_key(trend)].format(augment="stronger data augmentation" if augmenting
                                                    else "data augmentation such as small random shifts"),
                 confusion_sentence(part1.get("confusions"), part1["per_class"]),
                 f"Telling {'these classes' if part1.get('confusions') else 'that class'} apart depends on small "
                 f"details rather than the overall outline, so "
                 + ("if I add capacity, it should be more filters in the first layers, which see the finest detail, "
                    "together with that regularisation." if trend["verdict"] in OVERFIT_VERDICTS else
                    "more filters in the first layers, which see the finest detail, is where I would add capacity."),
                 "I have not tried these changes in Part 1, so they are proposals for the next run rather than "
                 "results."]
    return " ".join(sentences)


# --- Part 2 ------------------------------------------------------------------------------------------

def reached_epoch(history, fraction=0.9):
    """The first epoch whose validation accuracy reached `fraction` of the run's best."""
    best = max(row["val_accuracy"] for row in history)
    return next(row["epoch"] for row in history if row["val_accuracy"] >= fraction * best)


def final_gap(history):
    return history[-1]["train_accuracy"] - history[-1]["val_accuracy"]


UNDERFIT = 0.6  # a network that fits less than this share of its own training images is underfitting
OVERFIT_VERDICTS = ("overfitting", "starting to overfit")


def answer_7a(part1, part2):
    """7(a): how the curves changed from Fashion-MNIST to CIFAR-100, and whether the 30% requirement is met."""
    h1, h2 = part1["history"], part2["history"]
    t1, t2 = loss_trend(h1), loss_trend(h2)
    sentences = [
        f"On CIFAR-100 the spec-adapted network ended with {pct(h2[-1]['train_accuracy'])} training and "
        f"{pct(h2[-1]['val_accuracy'])} validation accuracy, against {pct(h1[-1]['train_accuracy'])} and "
        f"{pct(h1[-1]['val_accuracy'])} on Fashion-MNIST, and its test accuracy of {pct(part2['test_accuracy'])} "
        + (f"meets the {REQUIRED:.0%} the assignment asks for." if part2["test_accuracy"] >= REQUIRED else
           f"falls short of the {REQUIRED:.0%} the assignment asks for, which my implementation chosen on validation "
           f"in item 6, {part2['chosen']}, "
           + ("clears" if part2["chosen_test_accuracy"] >= REQUIRED else "does not clear either")
           + f" with {pct(part2['chosen_test_accuracy'])}."),
        f"On both datasets {TREND[t2['verdict']]} over the last epochs."
        if t1["verdict"] == t2["verdict"] else
        f"Over {last_epochs(t1['epochs'])} on Fashion-MNIST {TREND[t1['verdict']]}, while over "
        f"{last_epochs(t2['epochs'])} on CIFAR-100 {TREND[t2['verdict']]}."]
    gap1, gap2 = final_gap(h1), final_gap(h2)
    if h2[-1]["train_accuracy"] < UNDERFIT:
        still = (", although its validation loss had stopped improving, so more epochs alone would mostly widen "
                 "the gap" if t2["verdict"] in OVERFIT_VERDICTS else "")
        sentences.append(f"The main change is underfitting: the network fits only {pct(h2[-1]['train_accuracy'])} "
                         f"of its own CIFAR-100 training images, so it lacks capacity rather than memorising "
                         f"them{still}.")
    elif t2["verdict"] in OVERFIT_VERDICTS or gap2 > gap1 + 0.02:
        sentences.append(f"The main change is more overfitting: training accuracy ended {100 * gap2:+.2f} points "
                         f"above validation accuracy, against {100 * gap1:+.2f} on Fashion-MNIST.")
    else:
        sentences.append("I see neither clearly more overfitting nor clearly more underfitting than on "
                         "Fashion-MNIST.")
    e1, e2 = reached_epoch(h1), reached_epoch(h2)
    slower = e2 / len(h2) > e1 / len(h1)
    sentences.append(f"Validation accuracy first reached 90% of its best value in epoch {e1} of {len(h1)} on "
                     f"Fashion-MNIST and in epoch {e2} of {len(h2)} on CIFAR-100, so relative to the length of each "
                     f"run CIFAR-100 {'converged more slowly' if slower else 'did not converge more slowly'}.")
    per_class1 = part1["train_images"] // part1["num_classes"]
    per_class2 = part2["train_images"] // part2["num_classes"]
    sentences.append(f"That is what the data leads me to expect: {words(part2['num_classes'])} classes with about "
                     f"{per_class2:,} training images each instead of {words(part1['num_classes'])} with about "
                     f"{per_class1:,}, and colour photographs of objects on varied backgrounds instead of centred "
                     f"grey garments, all passing through the same five-channel middle layer.")
    if part2["config"].get("augment", "none") != part1["config"].get("augment", "none"):
        sentences.append("The gap between the curves is not directly comparable across the two parts, because on "
                         "CIFAR-100 the training images are randomly cropped and flipped, which makes them harder to "
                         "fit than the unchanged validation images.")
    return " ".join(sentences)


def pick_references(references):
    """(the best residual network, the best plain three-layer CNN or None) among published.json's results."""
    references = [references] if isinstance(references, dict) else list(references)
    residual = max((r for r in references if r["skip_connections"]), key=lambda r: r["accuracy"])
    plain = [r for r in references if not r["skip_connections"] and r.get("conv_layers") == 3]
    return residual, max(plain, key=lambda r: r["accuracy"]) if plain else None


def millions(n):
    return f"{n / 1e6:.1f} million"


def answer_7b(part2, references):
    """7(b): the gap to a wide residual network and to a plain three-layer CNN, and what explains it."""
    residual, plain = pick_references(references)
    chosen = part2.get("chosen")
    mine = part2["chosen_test_accuracy"] if chosen else part2["test_accuracy"]
    params = part2["chosen_params"] if chosen else part2["params"]
    if chosen and chosen != "spec":
        first = (f"The entry my study chose on validation accuracy, {chosen}, with {part2['chosen_change']}, "
                 f"reached {pct(mine)} test accuracy against {pct(part2['test_accuracy'])} for the spec-adapted "
                 f"model.")
    else:
        first = f"My spec-adapted model, which is also the one I keep, reached {pct(mine)} test accuracy."
    sentences = [
        first,
        f"That is {points(residual['accuracy'] - mine)} points below the {pct(residual['accuracy'])} of "
        f"{residual['name']} in {residual['cite']}, which has {words(residual['conv_layers'])} convolutional layers "
        f"with skip connections against my three without any, and {millions(residual['params'])} parameters "
        f"against my {params:,}.",
        "Skip connections are what make that depth trainable, because the gradient reaches the early layers "
        "through the identity paths, and each extra layer builds features of the features below it."]
    if plain and plain["accuracy"] > mine:
        sentences.append(
            f"Depth is not the whole story, though: {plain['cite']} report {pct(plain['accuracy'])} for a plain "
            f"three-layer CNN without skip connections or augmentation, with stochastic instead of max pooling, so at "
            f"least {points(plain['accuracy'] - mine)} points of my gap come from other differences such as the "
            f"number of channels, the length of training and the pooling itself.")
    augment = part2.get("config", {}).get("augment") or "none"
    sentences.append(f"{capital(residual['name'])} trained for {words(residual['epochs'])} epochs with "
                     f"{residual['augmentation']}, my run for {words(part2['epochs'])} epochs with "
                     f"{'no augmentation' if augment == 'none' else augment}.")
    measured = [r for r in part2.get("study", []) if r["status"] == "ran" and r["entry"] != "spec"
                and r["val_delta_points"] is not None]
    if measured:
        sentences.append("My study measured some of these factors against the spec-adapted model on the "
                         "validation split: " + "; ".join(f"{r['change']}, {r['val_delta_points']:+.2f} points"
                                                          for r in measured) + ".")
    return " ".join(sentences)


# The architecture changes of the study (7c asks about the architecture), each with the common expectation
# (+1 helps, -1 hurts) and why.
EXPECTATIONS = {
    "wide2": (1, "more channels give the network more capacity"),
    "wide4": (1, "more channels give the network more capacity"),
    "wide8": (1, "more channels give the network more capacity"),
    "no-bottleneck": (1, "a 5-channel layer squeezes every image into five feature maps"),
    "batchnorm": (1, "batch normalisation usually speeds up and stabilises training"),
    "dropout": (1, "dropout is the textbook cure for overfitting"),
    "gap": (-1, "averaging away the positions of features throws information away"),
}
NOISE_POINTS = 1.0  # smaller changes of a single seeded run are not read as effects (at least; see noise_points)
# What an underfitting network is expected to do with a regulariser: nothing to cure, so it costs accuracy.
UNDERFIT_EXPECTATIONS = {"dropout": (-1, "the network underfits, and dropout only makes fitting harder")}


def noise_points(part2):
    """The smallest difference in validation accuracy, in points, that I read as an effect of a change: two
    standard errors of the difference of two accuracies on the validation images, and at least NOISE_POINTS."""
    p, n = part2["history"][-1]["val_accuracy"], part2.get("val_images") or 5000
    return max(NOISE_POINTS, round(200 * math.sqrt(2 * p * (1 - p) / n), 1))


def expectations(part2):
    """EXPECTATIONS as they apply to this run: a regulariser is expected to hurt a network that underfits."""
    underfits = part2["history"][-1]["train_accuracy"] < UNDERFIT or loss_trend(part2["history"])["verdict"] in (
        "still improving", "converged")
    return {**EXPECTATIONS, **(UNDERFIT_EXPECTATIONS if underfits else {})}


def study_sentence(study):
    """Which study entries ran and which were skipped."""
    ran = [r["entry"] for r in study if r["status"] == "ran"]
    skipped = [r["entry"] for r in study if r["status"] != "ran"]
    if not study:
        return "My architecture study did not run in this execution."
    if not skipped:
        every = "Both" if len(study) == 2 else f"All {words(len(study))}"
        return f"{every} entries of my study ran within the time budget."
    return (f"Of the {words(len(study))} entries in my study, {words(len(ran))} ran and {words(len(skipped))} "
            f"did not fit the time budget and {'was' if len(skipped) == 1 else 'were'} skipped: {join(skipped)}.")


def answer_7c(part2):
    """7(c): the architecture change that surprised most, picked from the study's validation results."""
    study, expected, noise = part2.get("study", []), expectations(part2), noise_points(part2)
    ran = [r for r in study if r["entry"] in expected and r["status"] == "ran"
           and r["val_delta_points"] is not None]
    if not ran:
        return (f"{study_sentence(study)} None of the single architecture changes ran, so this run gives me no "
                f"evidence about which change would surprise me. Running the notebook with a larger study budget "
                f"would answer this question.")
    clear = [r for r in ran if abs(r["val_delta_points"]) >= noise]
    against = [r for r in clear if r["val_delta_points"] * expected[r["entry"]][0] < 0]
    if not clear:
        flat = max(ran, key=lambda r: abs(r["val_delta_points"]))
        return (f"{study_sentence(study)} What surprised me was that no single architecture change moved "
                f"validation accuracy by more than {noise:.1f} points against the spec-adapted model, the most that "
                f"chance alone moves it on my validation images; the largest was {flat['change']}, at "
                f"{flat['val_delta_points']:+.2f} points. My takeaway is that at this budget the training recipe, "
                f"not the architecture, limits the network, and that changes must be judged against run-to-run "
                f"variation.")
    surprise = max(against or clear, key=lambda r: abs(r["val_delta_points"]))
    sign, reason = expected[surprise["entry"]]
    helped = surprise["val_delta_points"] > 0
    sentences = [
        study_sentence(study),
        f"The change that surprised me most was {surprise['change']}: it moved validation accuracy by "
        f"{surprise['val_delta_points']:+.2f} points against the spec-adapted model.",
        f"The common expectation is that it {'helps' if sign > 0 else 'hurts'}, because {reason}, and here it "
        f"{'helped' if helped else 'hurt'}" + (", the opposite." if surprise in against
                                                else ", by more than any other single change.")]
    biggest = max(ran, key=lambda r: r["val_delta_points"])
    if biggest["val_delta_points"] >= noise and biggest is not surprise:
        sentences.append(f"The largest single-change gain came from {biggest['change']}, at "
                         f"{biggest['val_delta_points']:+.2f} points.")
    sentences += [f"Each entry is a single seeded run, so I only read differences above {noise:.1f} points, which "
                  f"chance alone rarely produces on my validation images.",
                  "My takeaway is to measure each change on the validation set instead of trusting the common "
                  "expectation, which was not a reliable guide for a network this small; a combined entry such as "
                  "wide-bn shows what works together, but only the single changes show which one mattered."
                  if against else
                  "My takeaway is that for a network this small the size of each change's effect, not just its "
                  "direction, has to be measured, one change at a time on the validation set."]
    return " ".join(sentences)
