"""The written answers: Part 1's 8(a) and 8(b) (cell 18), Part 2's (a), (b) and (c) (cell 37).

Each answer words analysis.py's judgements of the results records (results.Part1, results.Part2) in three to
eight sentences of first-person prose; Part 1's (a) adds a small table of Table 3 around the CNN. Accuracies
are the notebook's printed figures (f"{x:.2%}"), losses have four decimals, differences are taken between
printed figures, and counts below a hundred are written in words.
"""

from smallcnn.notebook import analysis
from smallcnn.notebook.analysis import TEST_IMAGES, Curves, Standing, read_curves
from smallcnn.notebook.check_text import sentences
from smallcnn.notebook.results import Part1, Part2
from smallcnn.published import load_published

REQUIRED = 0.30  # the CIFAR-100 test accuracy the assignment asks for
PAPER_TRAIN_IMAGES = 60_000  # the Fashion-MNIST training set that Table 3's classifiers were trained on
PIXELS = 28 * 28  # the raw pixels of a Fashion-MNIST image
SPEC_WIDTHS = (10, 5, 16)  # the output channels of the assignment's three convolutions
SMALL = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
         "seventeen eighteen nineteen").split()
TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
VERB = {"falling": "was still falling", "flat": "had levelled off", "rising": "rose"}
GAP_READING = {"rising": "widening beyond the epoch-to-epoch noise", "falling": "narrowing beyond the epoch-to-epoch "
               "noise", "flat": "steady within the epoch-to-epoch noise"}  # how the gap between the losses moved
AUGMENTATION = {"none": "no augmentation", "flip": "random horizontal flips",
                "crop-flip": "random crops and horizontal flips"}


# --- wording -----------------------------------------------------------------------------------------

def count_sentences(text: str) -> int:
    """The sentences of prose in a markdown answer as the notebook's checker counts them: table rows and
    headings are none, and "e.g.", "i.e.", "vs.", "et al." or a decimal point end none."""
    return len(sentences(text))


def pct(value: float) -> str:
    return f"{value:.2%}"


def points(a: float, b: float) -> str:
    """The difference of two accuracies in points, between the figures as printed (two decimals of a %)."""
    return f"{abs(round(100 * a, 2) - round(100 * b, 2)):.2f}"


def loss_gap(val: float, train: float) -> float:
    """The validation loss minus the training loss, between the figures as printed (four decimals)."""
    return round(round(val, 4) - round(train, 4), 4)


def words(n: int) -> str:
    """A count as a student writes it: in words below a hundred, in digits from there on."""
    if n < 20:
        return SMALL[n]
    if n < 100:
        return TENS[n // 10 - 2] + (f"-{SMALL[n % 10]}" if n % 10 else "")
    return f"{n:,}"


def join(items: list[str]) -> str:
    items = list(dict.fromkeys(items))
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def movement(curves: Curves) -> str:
    """How both losses moved over the trend window, as a clause."""
    train, val = curves.train_loss.direction, curves.val_loss.direction
    if train == val:
        return f"both losses {VERB[train].replace('was', 'were')}"
    return f"the training loss {VERB[train]} and the validation loss {VERB[val]}"


# --- Part 1 (a) --------------------------------------------------------------------------------------

COURSE_NAMES = {  # Table 3's scikit-learn class names as the course calls the methods
    "SVC": "an RBF-kernel SVM", "GradientBoostingClassifier": "gradient boosting",
    "RandomForestClassifier": "a random forest", "MLPClassifier": "a multilayer perceptron",
    "KNeighborsClassifier": "k-nearest neighbours", "LogisticRegression": "logistic regression",
    "LinearSVC": "a linear SVM", "SGDClassifier": "a linear classifier trained by SGD",
    "DecisionTreeClassifier": "a decision tree", "Perceptron": "the perceptron",
    "PassiveAggressiveClassifier": "a passive-aggressive classifier", "ExtraTreeClassifier": "a single extra tree",
    "GaussianNB": "Gaussian naive Bayes",
}
CAPACITY = {  # how Table 3's strong methods other than the SVM buy their accuracy, as configured there
    "GradientBoostingClassifier": "gradient boosting adds up a hundred trees of depth ten",
    "RandomForestClassifier": "a random forest averages a hundred deep trees",
    "MLPClassifier": "a multilayer perceptron connects every pixel to each of its hundred hidden units",
    "KNeighborsClassifier": "k-nearest neighbours compares each test image with every stored training image",
}


def course_name(row: dict, article: str = "") -> str:
    """The method as the course names it; with article "the", "the RBF-kernel SVM" for "an RBF-kernel SVM"."""
    name = COURSE_NAMES.get(row["name"], row["name"])
    return article + name.split(" ", 1)[1] if article and name.startswith(("a ", "an ")) else name


def listing(rows: list[dict]) -> str:
    """The rows with their accuracies; more than three as the first and the last."""
    named = [f"{course_name(r)} ({pct(r['accuracy'])})" for r in rows]
    return join(named) if len(named) <= 3 else f"from {named[0]} down to {named[-1]}"


def who_scores_higher(standing: Standing) -> str:
    """Which of Table 3's methods score higher than my CNN, which the same, which lower, at full precision."""
    groups = ((standing.above, "higher"), (standing.equal, "exactly the same"), (standing.below, "lower"))
    total, clauses = sum(len(rows) for rows, _ in groups), []
    for rows, verb in groups:
        if rows:
            lead = (f"all {words(total)} classifiers in Table 3" if len(rows) == total else
                    f"the other {words(len(rows))}" if clauses else
                    f"{words(len(rows))} of the {words(total)} classifiers in Table 3")
            named = listing(rows)
            mark = "," if named.startswith("from") else ":"
            clauses.append(f"{lead} {'scores' if len(rows) == 1 else 'score'} {verb}{mark} {named}")
    return capital("; ".join(clauses)) + "."


def margin_sentence(standing: Standing) -> str:
    """How far my nearest neighbour in Table 3 is, in points and test images, and whether chance explains it."""
    near, mine = standing.nearest, pct(standing.accuracy)
    gap = f"{points(near['accuracy'], standing.accuracy)} points"
    images = f"{words(round(abs(near['accuracy'] - standing.accuracy) * TEST_IMAGES))} of the {TEST_IMAGES:,}"
    if near in standing.equal:
        opening = f"My {mine} equals {course_name(near, 'the ')}'s to the last of the {TEST_IMAGES:,} test images"
    elif near in standing.above:
        opening = (f"At full precision {course_name(near, 'the ')}'s {pct(near['accuracy'])} is higher than my {mine}, "
                   f"{'but only ' * standing.within_noise(near)}by {gap}, {images} test images")
    else:
        opening = (f"My nearest neighbour, {course_name(near)} with {pct(near['accuracy'])}, is {gap} behind me, "
                   f"{images} test images")
    verdict = ("so one seeded run cannot order the two" if standing.within_noise(near) else
               "so chance alone is unlikely to explain the order")
    return f"{opening}; two standard errors of my accuracy span {standing.noise:.2f} points, {verdict}."


def why_sentences(standing: Standing, part1: Part1) -> list[str]:
    """Why the methods above and below score as they do against my network."""
    if standing.fell_short:
        return [f"That even {course_name(standing.above[-1])} beats my network tells me this run fell short of what "
                f"the architecture can do, so I would check my training before blaming the method."]
    found = ["The classifiers below me treat an image as a flat list of pixel values, while my network applies the "
             "same small filters at every position and max pooling tolerates small shifts, so it learns local shapes "
             "such as collars, soles and handles with few weights."] if standing.below else []
    svm = next(r for r in standing.above + standing.equal + standing.below if r["name"] == "SVC")
    if svm not in standing.below or standing.within_noise(svm):
        found.append(f"I think an RBF-kernel SVM on raw pixels can match my {part1.params:,}-parameter network "
                     f"because my network keeps little of each image: every image passes through a "
                     f"{words(part1.bottleneck)}-channel layer, and its classifier sees only {part1.fc_inputs} numbers "
                     f"per image, while the SVM compares all {PIXELS} raw pixels of a test image with each of its "
                     f"stored support vectors.")
    large = [CAPACITY[r["name"]] for r in standing.above if r["name"] in CAPACITY]
    if large:
        found.append(f"The other methods above me make up for the flat view with far more stored numbers than my "
                     f"network has: {join(large[:3])}.")
    return found


def comparison_table(ranked: list[dict], around: int = 2) -> str:
    """Table 3's rows ranked just above and below the CNN (ranked among Table 3 alone), as a markdown table."""
    rows = [r for r in ranked if r["source"] in ("published", "this CNN")]
    position = next(i for i, r in enumerate(rows) if r["source"] == "this CNN")
    lines = ["| rank | classifier | test accuracy |", "|---:|---|---:|"]
    lines += [f"| {i + 1} | {'my CNN' if i == position else capital(course_name(r, ' ').strip())} | "
              f"{pct(r['accuracy'])} |" for i, r in enumerate(rows) if abs(i - position) <= around]
    return "\n".join(lines)


def answer_8a(part1: Part1) -> str:
    """8(a): which Table 3 techniques beat the CNN, which do worse, why, and how far the comparison carries."""
    standing = analysis.table3_standing(part1.ranked)
    opening = (f"My CNN reached {pct(standing.accuracy)} on the {TEST_IMAGES:,} Fashion-MNIST test images with "
               f"{part1.params:,} parameters.")
    caveat = (f"The comparison is not like for like: my figure is one seeded run trained on {part1.train_images:,} "
              f"of the {PAPER_TRAIN_IMAGES:,} training images, while Table 3 gives the mean accuracy over repeated "
              f"runs of the best configuration of each scikit-learn family.")
    text = " ".join([opening, who_scores_higher(standing), margin_sentence(standing),
                     *why_sentences(standing, part1), caveat])
    return text + "\n\n" + comparison_table(part1.ranked)


# --- Part 1 (b) --------------------------------------------------------------------------------------

SCHEDULE = {  # what the end of the one-cycle schedule, whose learning rate reaches zero at the last step, means
    "falling": "; a training loss that still falls at the end is what annealing the learning rate to zero at the "
               "last step does, so the run ended at the bottom of its schedule rather than before it had converged",
    "flat": ", at the bottom of my schedule, whose learning rate reaches zero at the last step",
    "rising": ", although the learning rate was coming down to zero, which points to a problem with the "
              "optimisation rather than to an unfinished schedule",
}
MEANING = {
    "capacity-limited": "So the fixed network fits its own training images {barely} better than new ones: it is "
                        "limited by its capacity and underfits rather than memorises.",
    "underfitting": "So the network underfits: it fits only {train} of its own training images, which means it lacks "
                    "capacity rather than memorising them.",
    "overfitting": "So the network had begun to overfit: it kept fitting its training images while getting worse "
                   "on new ones.",
    "starting to overfit": "So the network was beginning to fit its training images better than new ones, the first "
                           "sign of overfitting.",
    "stable gap": "So the network fits its training images somewhat better than new ones, but as that gap was not "
                  "growing I see no sign that it was starting to overfit.",
    "unstable": "Until that is fixed I cannot read over- or underfitting from these curves.",
    "too short": "Such a short run says little about fitting, so I cannot yet tell whether the network under- or "
                 "overfits.",
}
FLIP_AVERAGE = "averaging the predictions for each test image and its mirror image"


def trend_sentence(curves: Curves, part1: Part1) -> str:
    """How the losses moved over the last epochs, and where that leaves the schedule."""
    train, val = curves.train_loss, curves.val_loss
    if train.direction == "unknown":
        return (f"{capital(words(curves.epochs))} epoch{'s are' if curves.epochs > 1 else ' is'} too few to read a "
                f"trend from my curves: the run ended with a training loss of {part1.train_losses[-1]:.4f} and a "
                f"validation loss of {part1.val_losses[-1]:.4f}.")
    return (f"Over the last {words(train.epochs)} epochs of {words(curves.epochs)} my training loss went from "
            f"{train.first:.4f} to {train.last:.4f} and the validation loss from {val.first:.4f} to {val.last:.4f}, "
            f"so {movement(curves)}{SCHEDULE[train.direction]}.")


def gap_sentence(curves: Curves, part1: Part1) -> str:
    """The final accuracy and loss gaps, and whether the loss gap grew beyond noise."""
    gap = loss_gap(part1.val_losses[-1], part1.train_losses[-1])
    sentence = (f"At the end my training accuracy was {pct(curves.train_acc)} against {pct(curves.val_acc)} on "
                f"validation, {points(curves.train_acc, curves.val_acc)} points apart, and the validation loss was "
                f"{abs(gap):.4f} {'above' if gap >= 0 else 'below'} the training loss")
    if curves.gap.direction == "unknown":
        return sentence + "."
    first = loss_gap(part1.val_losses[-curves.gap.epochs], part1.train_losses[-curves.gap.epochs])
    reading = ", so I do not read it as widening" if curves.gap.direction == "flat" else ""
    return (f"{sentence}; over those epochs that gap went from {first:.4f} to {gap:.4f}, "
            f"{GAP_READING[curves.gap.direction]}{reading}.")


def idea_sentences(curves: Curves, recipe: dict) -> list[str]:
    """Improvements that fit the diagnosis, within Part 1's fixed architecture, SGD and cross-entropy."""
    augment = {"none": "small random shifts and flips as augmentation",
               "flip": "small random shifts on top of the flips I already use"}.get(
        recipe["augment"], "stronger augmentation than the random crops and flips I already use")
    smoothing = "stronger label smoothing" if recipe["label_smoothing"] else "label smoothing"
    within = "Within Part 1's fixed architecture and SGD with cross-entropy,"
    if curves.verdict in ("unstable", "too short"):
        first = "a lower peak learning rate" if curves.verdict == "unstable" else "the full schedule of epochs"
        return [f"The first thing I would try is {first}, and only then ideas such as {augment} or {FLIP_AVERAGE}."]
    if curves.underfits:
        return [f"{within} the ideas that suit a network limited by its capacity add no weights: {FLIP_AVERAGE}, and "
                f"averaging the weights of the last epochs (SWA); {augment} and {smoothing} might help a little too, "
                f"although for a network that already underfits such regularisers could cost as much as they give.",
                "If the specification allowed it, I would first give the early layers more filters, above all the "
                "bottleneck layer that every image has to pass through, since they see the finest detail."]
    shorter = ", or a shorter schedule that ends before the validation loss turns up"
    return [f"{within} the ideas that suit a network that fits its training images better than new ones are "
            f"regularisers: {augment}, {smoothing}, more weight decay and averaging the weights of the last epochs "
            f"(SWA){shorter * (curves.verdict == 'overfitting')}; {FLIP_AVERAGE} costs nothing in training.",
            "More filters in the early layers, if the specification allowed them, I would only try together with "
            "that regularisation, since they add capacity to overfit with."]


def confusion_sentence(part1: Part1) -> str:
    """The most frequent mistakes and the weakest class, with the figures the notebook prints."""
    weakest, accuracy = min(part1.per_class.items(), key=lambda item: item[1])
    last = f"{weakest} is my weakest class, with {pct(accuracy)} of its test images right"
    mistakes, seen = [], set()
    for true, predicted, rate in part1.confusions:
        mistakes.append(f"{pct(rate)} as {predicted}" if true in seen else
                        f"{pct(rate)} of the {true} images {'' if seen else 'are predicted '}as {predicted}")
        seen.add(true)
    if not mistakes:
        return capital(last) + "."
    return f"My most frequent mistakes show where the finest detail matters: {join(mistakes)}, while {last}."


def answer_8b(part1: Part1) -> str:
    """8(b): ideas to improve the CNN, read from its curves at the end of the schedule and from its mistakes."""
    curves = read_curves(part1)
    longer = (", and so is a longer schedule, one more experiment the still-falling training loss suggests"
              if curves.train_loss.direction == "falling" and curves.underfits else "")
    return " ".join([trend_sentence(curves, part1), gap_sentence(curves, part1),
                     MEANING[curves.verdict].format(train=pct(curves.train_acc),
                                                    barely="barely" if curves.train_acc > curves.val_acc else "no"),
                     *idea_sentences(curves, part1.recipe),
                     confusion_sentence(part1), f"These are proposals that I have not tried in Part 1{longer}."])


def part1_answers(part1: Part1) -> str:
    """Cell 18: the answers to Part 1's discussion prompts (a) and (b), as markdown."""
    return f"**(a)** {answer_8a(part1)}\n\n**(b)** {answer_8b(part1)}"


# --- Part 2 ------------------------------------------------------------------------------------------

def fitting_sentence(fashion: Curves, cifar: Curves) -> str:
    """Whether CIFAR-100 shows more under- or overfitting than Fashion-MNIST."""
    if "too short" in (fashion.verdict, cifar.verdict):
        return "With so few epochs I cannot tell whether CIFAR-100 shows more over- or underfitting than Fashion-MNIST."
    if cifar.verdict == "underfitting":
        return (f"The main change is {'stronger ' * fashion.underfits}underfitting: the network fits only "
                f"{pct(cifar.train_acc)} of its own CIFAR-100 training images, so it lacks capacity rather than "
                f"memorising them.")
    if cifar.verdict in ("overfitting", "starting to overfit") or \
            cifar.train_acc - cifar.val_acc > fashion.train_acc - fashion.val_acc + analysis.SMALL_GAP:
        return (f"The main change is more overfitting: training accuracy ended "
                f"{points(cifar.train_acc, cifar.val_acc)} points above validation accuracy, against "
                f"{points(fashion.train_acc, fashion.val_acc)} on Fashion-MNIST.")
    return "I see neither clearly more overfitting nor clearly more underfitting than on Fashion-MNIST."


def curves_sentence(fashion: Curves, cifar: Curves) -> str:
    """The trends of both runs' losses and of the gap between them, beyond noise (both runs long enough)."""
    cifar_gap, fashion_gap = GAP_READING[cifar.gap.direction], GAP_READING[fashion.gap.direction]
    gaps = (f"on both the gap between the losses was {cifar_gap}" if cifar_gap == fashion_gap else
            f"the gap between the losses was {cifar_gap} on CIFAR-100 and {fashion_gap} on Fashion-MNIST")
    return (f"Over the last {words(cifar.train_loss.epochs)} epochs on CIFAR-100 {movement(cifar)}, and over the "
            f"last {words(fashion.train_loss.epochs)} on Fashion-MNIST {movement(fashion)}; {gaps}.")


def speed_sentence(fashion: Curves, cifar: Curves) -> str:
    """When each run's validation accuracy first reached 90% of its best, relative to the run's length."""
    shares = cifar.converged_epoch / cifar.epochs, fashion.converged_epoch / fashion.epochs
    pace = "more slowly" if shares[0] > shares[1] else "at the same pace" if shares[0] == shares[1] else "faster"
    return (f"Validation accuracy first reached 90% of its best value in epoch {fashion.converged_epoch} of "
            f"{fashion.epochs} on Fashion-MNIST and in epoch {cifar.converged_epoch} of {cifar.epochs} on CIFAR-100, "
            f"so relative to the length of each run CIFAR-100 converged {pace}.")


def requirement_sentence(part2: Part2) -> str:
    """Whether the adapted network, and otherwise my implementation, meets the assignment's 30%."""
    adapted = f"The adapted network's test accuracy of {pct(part2.adapted_acc)}"
    if part2.adapted_acc >= REQUIRED:
        return f"{adapted} meets the {REQUIRED:.0%} the assignment asks for."
    if part2.chosen == "spec":
        return (f"{adapted} falls short of the {REQUIRED:.0%} the assignment asks for, and since no study entry beat "
                f"it on validation it is also my implementation, so my notebook misses that requirement.")
    return (f"{adapted} falls short of the {REQUIRED:.0%} the assignment asks for; my implementation, chosen on "
            f"validation, {part2.chosen}, {'clears it' if part2.test_acc >= REQUIRED else 'misses it too'} with "
            f"{pct(part2.test_acc)}.")


def answer_7a(part1: Part1, part2: Part2) -> str:
    """(a): how the curves changed from Fashion-MNIST to CIFAR-100, and whether the 30% requirement is met."""
    fashion, cifar = read_curves(part1), read_curves(part2)
    found = [f"On CIFAR-100 the adapted network ended with {pct(cifar.train_acc)} training and {pct(cifar.val_acc)} "
             f"validation accuracy, against {pct(fashion.train_acc)} and {pct(fashion.val_acc)} on Fashion-MNIST.",
             fitting_sentence(fashion, cifar)]
    if "too short" not in (fashion.verdict, cifar.verdict):
        found += [curves_sentence(fashion, cifar), speed_sentence(fashion, cifar)]
    if part2.recipe["augment"] not in ("none", part1.recipe["augment"]):
        found.append(f"The training curve is not directly comparable with Part 1's, because on CIFAR-100 the training "
                     f"images get {AUGMENTATION[part2.recipe['augment']]}, which makes them harder to fit than the "
                     f"unchanged validation images.")
    return " ".join(found + [requirement_sentence(part2)])


def study_sentence(part2: Part2) -> str:
    """What the study measured against the adapted network, reading only differences beyond noise."""
    clear, within = analysis.measured_changes(part2)
    noise = f"the {analysis.noise_points(part2):.1f} points that chance alone can move it"
    if not clear:
        return (f"My study measured some of these factors on the validation images, but no entry moved validation "
                f"accuracy against the adapted network by more than {noise}.")
    named = join([f"{r['entry']} at {r['val_delta_points']:+.2f}" for r in clear])
    rest = f", while {join([r['entry'] for r in within])} stayed within it" if within else ""
    return (f"Against the adapted network on the validation images, my study measured {named} points, "
            f"{'all ' * (len(clear) > 1)}beyond {noise}{rest}.")


def answer_7b(part2: Part2, references: list[dict]) -> str:
    """(b): the gap to the best residual network and to a plain three-layer CNN, and what explains it."""
    residual = max((r for r in references if r["skip_connections"]), key=lambda r: r["accuracy"])
    plain = max((r for r in references if not r["skip_connections"] and r["conv_layers"] == 3),
                key=lambda r: r["accuracy"])
    mine = part2.test_acc
    found = [f"My implementation is the adapted network itself, and it reached {pct(mine)} test accuracy."
             if part2.chosen == "spec" else
             f"My implementation, the study entry {part2.chosen}, whose change is {part2.chosen_change}, reached "
             f"{pct(mine)} test accuracy against {pct(part2.adapted_acc)} for the adapted network.",
             f"That is {points(residual['accuracy'], mine)} points below the {pct(residual['accuracy'])} of "
             f"{residual['name']} in {residual['cite']}, which has {words(residual['conv_layers'])} convolutional "
             f"layers with skip connections against my three without any, groups of "
             f"{join(map(str, residual['widths']))} channels against the adapted network's "
             f"{join([words(w) for w in SPEC_WIDTHS])}, and "
             f"{residual['params'] / 1e6:.1f} million parameters against my {part2.chosen_params:,}.",
             "Skip connections are what make that depth trainable, because the gradient reaches the early layers "
             "through the identity paths, so each extra layer can build features of the features below it."]
    if plain["accuracy"] > mine:
        found.append(f"Depth is not the whole story, though: {plain['cite']} report {pct(plain['accuracy'])} for a "
                     f"plain three-layer CNN without skip connections or augmentation, with stochastic instead of max "
                     f"pooling, so at least {points(plain['accuracy'], mine)} points of my gap come from other "
                     f"differences such as the number of channels, the length of training and the pooling itself.")
    found += [f"{capital(residual['name'])} trained for {words(residual['epochs'])} epochs with "
              f"{residual['augmentation']}, my networks for {words(part2.recipe['epochs'])} epochs with "
              f"{AUGMENTATION[part2.recipe['augment']]}.", study_sentence(part2)]
    return " ".join(found)


def answer_7c(part2: Part2) -> str:
    """(c): the architecture change that surprised me most, from the study's validation deltas."""
    effects, noise = analysis.architecture_effects(part2), f"{analysis.noise_points(part2):.1f}"
    ran = (f"All {words(len(part2.study))} entries of my study trained for {words(part2.recipe['epochs'])} epochs "
           f"on the same split from the same seed, and I compare them with the adapted network on validation.")
    surprising = analysis.surprise(effects)
    if surprising is None:
        flat = max(effects, key=lambda e: abs(e.delta))
        return (f"{ran} What surprised me was that no single architecture change moved validation accuracy by more "
                f"than {noise} points against the adapted network, about what chance alone can move it on my "
                f"{part2.val_images:,} validation images; the largest was {flat.row['change']}, at {flat.delta:+.2f} "
                f"points. My takeaway is that at this budget the training recipe, not the architecture, limits the "
                f"network, and that changes must be judged against run-to-run variation.")
    said = [ran, f"The change that surprised me most was {surprising.row['change']}: it moved validation accuracy by "
                 f"{surprising.delta:+.2f} points against the adapted network.",
            f"The common expectation is that it {'helps' if surprising.expected > 0 else 'hurts'}, because "
            f"{surprising.reason}, and here it {'helped' if surprising.delta > 0 else 'hurt'}"
            + (", the opposite." if surprising.against else ", by more than any other single change.")]
    best = max(effects, key=lambda e: e.delta)
    if best.clear and best.delta > 0 and best is not surprising:
        said.append(f"The largest single-change gain came from {best.row['change']}, at {best.delta:+.2f} points.")
    said += [
        f"Each entry is a single seeded run, so I only read differences above {noise} points, two standard errors of "
        f"the difference of two accuracies on my {part2.val_images:,} validation images.",
        "My takeaway is to measure each change on the validation set instead of trusting the common expectation, "
        "which was not a reliable guide for a network this small; a combined entry such as wide-bn shows what works "
        "together, but only the single changes show which one mattered." if surprising.against else
        "My takeaway is that for a network this small the size of each change's effect, not just its direction, has "
        "to be measured, one change at a time on the validation set."]
    return " ".join(said)


def part2_answers(part1: Part1, part2: Part2) -> str:
    """Cell 37: the answers to Part 2's discussion prompts (a), (b) and (c), as markdown."""
    references = load_published()["cifar100_references"]["results"]
    return (f"**(a)** {answer_7a(part1, part2)}\n\n**(b)** {answer_7b(part2, references)}\n\n"
            f"**(c)** {answer_7c(part2)}")
