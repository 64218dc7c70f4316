"""The written answers (cells 18 and 37): analysis.py's judgements of the records, in three to eight sentences."""

from smallcnn.notebook import analysis
from smallcnn.notebook.analysis import MIN_CHANGE, TEST_IMAGES, Curves, read_curves
from smallcnn.notebook.check.text import sentences
from smallcnn.notebook.results import Part1, Part2
from smallcnn.published import load_published  # tests/test_baselines.py imports it from here too

REQUIRED = 0.30  # the CIFAR-100 test accuracy the assignment asks for
PAPER_TRAIN_IMAGES = 60_000  # the Fashion-MNIST training set that Table 3's classifiers were trained on
PIXELS = 28 * 28  # the raw pixels of a Fashion-MNIST image
SPEC_WIDTHS = (10, 5, 16)  # the output channels of the assignment's three convolutions
SMALL = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
         "seventeen eighteen nineteen").split()
TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
VERB = {"falling": "was still falling", "flat": "had levelled off", "rising": "rose"}
GAP_READING = {  # how the gap between the losses moved (analysis.trend's two tests: noise and size)
    "rising": "widening beyond the epoch-to-epoch noise", "falling": "narrowing beyond the epoch-to-epoch noise",
    "flat": f"a change within the epoch-to-epoch noise or under {MIN_CHANGE:.0%} of the validation loss itself, so I "
            f"do not read it as a real widening"}
AUGMENTATION = {"none": "no augmentation", "flip": "random horizontal flips",
                "crop-flip": "random crops and horizontal flips"}
COURSE_NAMES = {  # Table 3's scikit-learn class names as the course calls the methods
    "SVC": "an RBF-kernel SVM", "GradientBoostingClassifier": "gradient boosting",
    "RandomForestClassifier": "a random forest", "MLPClassifier": "a multilayer perceptron",
    "KNeighborsClassifier": "k-nearest neighbours", "LogisticRegression": "logistic regression",
    "LinearSVC": "a linear SVM", "SGDClassifier": "a linear classifier trained by SGD",
    "DecisionTreeClassifier": "a decision tree", "Perceptron": "the perceptron", "GaussianNB": "Gaussian naive Bayes",
    "PassiveAggressiveClassifier": "a passive-aggressive classifier", "ExtraTreeClassifier": "a single extra tree"}
CAPACITY = {  # how Table 3's strong methods other than the SVM buy their accuracy, as configured there
    "GradientBoostingClassifier": "gradient boosting adds up a hundred trees of depth ten",
    "RandomForestClassifier": "a random forest averages a hundred deep trees",
    "MLPClassifier": "a multilayer perceptron connects every pixel to each of its hundred hidden units",
    "KNeighborsClassifier": "k-nearest neighbours compares each test image with every stored training image"}
SCHEDULE = {  # what the end of the one-cycle schedule, whose learning rate reaches zero at the last step, means
    "falling": "; my learning rate comes down to zero at the last step, so these last epochs took ever smaller "
    "steps and the training loss was still creeping down when the schedule ended",
    "flat": ", at the bottom of my schedule, whose learning rate reaches zero at the last step",
    "rising": ", although the learning rate was coming down to zero, which points to a problem with the optimisation "
    "rather than to an unfinished schedule"}
MEANING = {  # the verdict on a Part 1 run
    "capacity-limited": "So, as far as these figures show, the fixed network fits its own training images {barely} "
    "better than new ones: it looks limited by its capacity, underfitting rather than memorising.",
    "underfitting": "So the network underfits: it fits only {train} of its own training images, for lack of capacity.",
    "overfitting": "So the network had begun to overfit, fitting its training images while getting worse on new ones.",
    "starting to overfit": "So the network was beginning to fit its training images better than new ones, the first "
    "sign of overfitting.",
    "stable gap": "So the network fits its training images somewhat better than new ones, but as that gap was not "
    "growing I see no sign that it was starting to overfit.",
    "unstable": "Until that is fixed I cannot read over- or underfitting from these curves.",
    "too short": "Such a short run cannot tell me whether the network under- or overfits."}
FLIPPED = {("flip", True): ", with mirrored images in training and at test time", ("flip", False): ", with mirrored "
           "images in training", ("crop-flip", True): ", with shifted and mirrored images in training and mirrored "
           "ones at test time", ("crop-flip", False): ", with shifted and mirrored images in training"}
WITHIN = "Within Part 1's fixed architecture and SGD with cross-entropy,"
FLIP = "averaging the predictions for each test image and its mirror image"
MORE_FLIPS = "averaging the predictions over small shifts of each test image, on top of the mirror image I already use"
IDEAS = {  # improvements that fit the verdict, as str.format templates
    "fix": ["The first thing I would try is {fix}, and only then ideas such as {augment} or {flip}."],
    "capacity": ["{within} the ideas that suit a network limited by its capacity add no weights: {flip}, and averaging "
                 "the weights of the last epochs (SWA); {augment} and {smoothing} might help a little too, though for "
                 "a network that already underfits such regularisers could cost as much as they give.",
                 "If the specification allowed it, I would first give the early layers more filters, above all the "
                 "bottleneck layer that every image has to pass through, since they see the finest detail."],
    "regularise": ["{within} the ideas that suit a network that fits its training images better than new ones are "
                   "regularisers: {augment}, {smoothing}, more weight decay and averaging the weights of the last "
                   "epochs (SWA){shorter}; {flip} costs nothing in training.",
                   "More filters in the early layers, if the specification allowed them, I would only try together "
                   "with that regularisation, since they add capacity to overfit with."]}
AUGMENT_IDEA = {"none": "small random shifts and flips as augmentation", "flip": "small random shifts on top of the "
                "flips I already use", "crop-flip": "stronger augmentation than the crops and flips I already use"}


def count_sentences(text: str) -> int:
    """The sentences of prose in a markdown answer as the notebook's checker counts them."""
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
    return SMALL[n] if n < 20 else f"{n:,}" if n >= 100 else TENS[n // 10 - 2] + f"-{SMALL[n % 10]}" * bool(n % 10)


def join(items: list[str]) -> str:
    *rest, last = list(dict.fromkeys(items)) or [""]
    return f"{', '.join(rest)} and {last}" if rest else last


def capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def movement(curves: Curves) -> str:
    """How both losses moved over the trend window, as a clause."""
    train, val = curves.train_loss.direction, curves.val_loss.direction
    return (f"both losses {VERB[train].replace('was', 'were')}" if train == val else
            f"the training loss {VERB[train]} and the validation loss {VERB[val]}")


def course_name(row: dict, article: str = "") -> str:
    """The method as the course names it; with article "the", "the RBF-kernel SVM" for "an RBF-kernel SVM"."""
    name = COURSE_NAMES.get(row["name"], row["name"])
    return article + name.split(" ", 1)[1] if article and name.startswith(("a ", "an ")) else name


def answer_8a(part1: Part1) -> str:
    """8(a): which Table 3 techniques beat the CNN, which do worse, why, and how far the comparison carries."""
    s = analysis.table3_standing(part1.ranked)
    near, mine, total, clauses = s.nearest, pct(s.accuracy), len(s.above + s.equal + s.below), []
    close = near in s.close
    for rows, verb in ((s.above, "higher"), (s.equal, "exactly the same"), (s.below, "lower")):
        if rows:  # compared at full precision; more than three rows named by the first and the last
            named, k = [f"{course_name(r)} ({pct(r['accuracy'])})" for r in rows], words(len(rows))
            lead = (f"all {k} classifiers in Table 3" if len(rows) == total else f"the other {k}" if clauses else
                    f"{k} of the {words(total)} classifiers in Table 3")
            clauses.append(f"{lead} score{'s' * (len(rows) == 1)} {verb}" + (
                f": {join(named)}" if len(rows) <= 3 else f", from {named[0]} down to {named[-1]}"))
    gap = f"{points(near['accuracy'], s.accuracy)} points"
    images = f"{words(round(abs(near['accuracy'] - s.accuracy) * TEST_IMAGES))} of the {TEST_IMAGES:,} test images"
    margin = (f"My {mine} equals {course_name(near, 'the ')}'s to the last of the {TEST_IMAGES:,} test images"
              if near in s.equal else f"At full precision {course_name(near, 'the ')}'s {pct(near['accuracy'])} is "
              f"higher than my {mine}, {'but only ' * close}by {gap}, {images}" if near in s.above else
              f"The closest method below me, {course_name(near)} with {pct(near['accuracy'])}, is {gap} behind, "
              f"{images}")
    order = (f"one seeded run cannot order my network against {join([course_name(r) for r in s.close])}" if close
             else "chance alone is unlikely to explain the order")
    svm = next(r for r in s.above + s.equal + s.below if r["name"] == "SVC")
    large = [CAPACITY[r["name"]] for r in s.above if r["name"] in CAPACITY]
    flipped = FLIPPED.get((part1.recipe["augment"], bool(part1.recipe.get("test_flips"))), "")
    weak = s.above[-1] if s.above and s.above[-1]["name"] not in analysis.STRONG else None  # beats me with little
    why = [(s.below, "The classifiers below me treat an image as a flat list of pixel values, while my network applies "
            "the same small filters at every position and max pooling tolerates small shifts, so it learns local "
            "shapes such as collars, soles and handles with few weights."),
           (svm not in s.below or svm in s.close, f"I think an RBF-kernel SVM on raw pixels can match my "
            f"{part1.params:,}-parameter network because mine keeps little of each image: every image passes through "
            f"a {words(part1.bottleneck)}-channel layer, and its classifier sees only {part1.fc_inputs} numbers per "
            f"image, while the SVM compares all {PIXELS} raw pixels of a test image with each stored support vector."),
           (large, f"The other methods above me make up for the flat view with far more stored numbers than my "
            f"network has in Table 3's best configurations: {join(large[:3])}.")]
    if weak:
        why = [(True, f"That even {course_name(weak)} beats my network tells me this run fell short of what the "
                f"architecture can do, so I would check my training before blaming the method.")]
    return " ".join([
        f"My CNN reached {mine} on the {TEST_IMAGES:,} Fashion-MNIST test images with {part1.params:,} parameters.",
        f"{capital('; '.join(clauses))}.", f"{margin}; two standard errors of my accuracy span {s.noise:.2f} points, "
        f"so {order}.", *(sentence for keep, sentence in why if keep),
        f"The comparison is not like for like: my figure is one seeded run trained on {part1.train_images:,} of the "
        f"{PAPER_TRAIN_IMAGES:,} training images{flipped}, while Table 3 gives the mean accuracy over repeated runs "
        f"of the best configuration of each scikit-learn family."])


def caveat(recipe: dict) -> str:
    """Why the training and validation figures are not measured alike, as a sentence."""
    augmented = f", on images with {AUGMENTATION[recipe['augment']]}" if recipe["augment"] != "none" else ""
    flips = ", while validation averages each image with its mirror image" if recipe.get("test_flips") else ""
    return (f"The training figures are means over each epoch while the weights were still changing{augmented}{flips}, "
            f"so they lean towards validation and I read the gap with care.")


def answer_8b(part1: Part1) -> str:
    """8(b): ideas to improve the CNN, read from its curves at the end of the schedule and from its mistakes."""
    c, recipe = read_curves(part1), part1.recipe
    train, val, verdict, n = c.train_loss, c.val_loss, c.verdict, c.epochs
    gap, gap_before = (loss_gap(part1.val_losses[-k], part1.train_losses[-k]) for k in (1, c.gap.epochs))
    said = [f"{capital(words(n))} epoch{'s are' if n > 1 else ' is'} too few to read a trend from my curves: the run "
            f"ended with a training loss of {train.last:.4f} and a validation loss of {val.last:.4f}."
            if train.direction == "unknown" else
            f"Over the last {words(train.epochs)} epochs of {words(n)} my training loss went from {train.first:.4f} to "
            f"{train.last:.4f} and the validation loss from {val.first:.4f} to {val.last:.4f}, so "
            f"{movement(c)}{SCHEDULE[train.direction]}.",
            f"At the end my training accuracy was {pct(c.train_acc)} against {pct(c.val_acc)} on validation, "
            f"{points(c.train_acc, c.val_acc)} points apart, and the validation loss was {abs(gap):.4f} "
            f"{'above' if gap >= 0 else 'below'} the training loss" + ("." if c.gap.direction == "unknown" else
            f"; over those epochs that gap went from {gap_before:.4f} to {gap:.4f}, {GAP_READING[c.gap.direction]}."),
            caveat(recipe),
            MEANING[verdict].format(train=pct(c.train_acc), barely="barely" if c.train_acc > c.val_acc else "no")]
    kind = "fix" if verdict in ("unstable", "too short") else "capacity" if c.underfits else "regularise"
    fix = "a lower peak learning rate" if verdict == "unstable" else "the full schedule of epochs"
    smoothing = "stronger label smoothing" if recipe["label_smoothing"] else "label smoothing"
    shorter = ", or a shorter schedule that ends before the validation loss turns up" * (verdict == "overfitting")
    said += [idea.format(fix=fix, augment=AUGMENT_IDEA[recipe["augment"]], smoothing=smoothing, shorter=shorter,
                         flip=MORE_FLIPS if recipe.get("test_flips") else FLIP, within=WITHIN) for idea in IDEAS[kind]]
    weakest, accuracy = min(part1.per_class.items(), key=lambda item: item[1])
    last = f"{weakest} is my weakest class, with {pct(accuracy)} of its test images right"
    mistakes = [f"{pct(rate)} as {predicted}" if i and true == part1.confusions[i - 1][0] else  # same true class
                f"{pct(rate)} of the {true} images {'as' if i else 'are predicted as'} {predicted}"
                for i, (true, predicted, rate) in enumerate(part1.confusions)]
    said.append(f"My most frequent mistakes show where the finest detail matters: {join(mistakes)}, while {last}."
                if mistakes else capital(last) + ".")
    longer = (", and so is a longer schedule, one more experiment the still-falling training loss suggests"
              if train.direction == "falling" and c.underfits else "")
    return " ".join(said + [f"These are proposals that I have not tried in Part 1{longer}."])


def part1_answers(part1: Part1) -> str:
    """Cell 18: the answers to Part 1's discussion prompts (a) and (b), as markdown."""
    return f"**(a)** {answer_8a(part1)}\n\n**(b)** {answer_8b(part1)}"


def answer_7a(part1: Part1, part2: Part2) -> str:
    """(a): how the curves changed from Fashion-MNIST to CIFAR-100, and whether the 30% requirement is met."""
    fashion, cifar = read_curves(part1), read_curves(part2)
    said = [f"On CIFAR-100 the adapted network ended with {pct(cifar.train_acc)} training and {pct(cifar.val_acc)} "
            f"validation accuracy, against {pct(fashion.train_acc)} and {pct(fashion.val_acc)} on Fashion-MNIST."]
    if "too short" in (fashion.verdict, cifar.verdict):
        said.append("With so few epochs I cannot tell whether CIFAR-100 shows more over- or underfitting.")
    else:
        gaps = GAP_READING[cifar.gap.direction], GAP_READING[fashion.gap.direction]
        shares = cifar.converged_epoch / cifar.epochs, fashion.converged_epoch / fashion.epochs
        pace = "more slowly" if shares[0] > shares[1] else "at the same pace" if shares[0] == shares[1] else "faster"
        said += [
            f"The main change is {'stronger ' * fashion.underfits}underfitting: the network fits only "
            f"{pct(cifar.train_acc)} of its own CIFAR-100 training images, so it lacks capacity rather than memorising "
            f"them." if cifar.verdict == "underfitting" else
            f"The main change is more overfitting: training accuracy ended {points(cifar.train_acc, cifar.val_acc)} "
            f"points above validation accuracy, against {points(fashion.train_acc, fashion.val_acc)} on Fashion-MNIST."
            if cifar.verdict in ("overfitting", "starting to overfit") or
            cifar.train_acc - cifar.val_acc > fashion.train_acc - fashion.val_acc + analysis.SMALL_GAP else
            "I see neither clearly more overfitting nor clearly more underfitting than on Fashion-MNIST.",
            f"Over the last {words(cifar.train_loss.epochs)} epochs on CIFAR-100 {movement(cifar)}, and over the last "
            f"{words(fashion.train_loss.epochs)} on Fashion-MNIST {movement(fashion)}; " +
            (f"on both the gap between the losses was {gaps[0]}." if gaps[0] == gaps[1] else
             f"the gap between the losses was {gaps[0]} on CIFAR-100 and {gaps[1]} on Fashion-MNIST."),
            f"Validation accuracy first reached 90% of its best value in epoch {fashion.converged_epoch} of "
            f"{fashion.epochs} on Fashion-MNIST and in epoch {cifar.converged_epoch} of {cifar.epochs} on CIFAR-100, "
            f"so relative to the length of each run CIFAR-100 converged {pace}."]
    if part2.recipe["augment"] not in ("none", part1.recipe["augment"]):
        said.append(f"The training curve is not directly comparable with Part 1's: on CIFAR-100 the training images "
                    f"get {AUGMENTATION[part2.recipe['augment']]}, so they are harder to fit than the unchanged "
                    f"validation images.")
    met = part2.adapted_acc >= REQUIRED
    tail = ("." if met else ", and since no study entry beat it on validation it is also my implementation, so my "
            "notebook misses that requirement." if part2.chosen == "spec" else f"; my implementation, chosen on "
            f"validation, {part2.chosen}, {'clears it' if part2.test_acc >= REQUIRED else 'misses it too'} with "
            f"{pct(part2.test_acc)}.")
    return " ".join(said + [f"The adapted network's test accuracy of {pct(part2.adapted_acc)} "
                            f"{'meets' if met else 'falls short of'} the {REQUIRED:.0%} the assignment asks for{tail}"])


def answer_7b(part2: Part2, references: list[dict]) -> str:
    """(b): the gap to the best residual network and to a plain three-layer CNN, and what explains it."""
    residual = max((r for r in references if r["skip_connections"]), key=lambda r: r["accuracy"])
    plain = max((r for r in references if not r["skip_connections"] and r["conv_layers"] == 3),
                key=lambda r: r["accuracy"])
    mine, study = part2.test_acc, analysis.read_study(part2)
    beyond = f"the {study.noise:.1f} points that chance alone can move it"
    rest = f", while {join([r['entry'] for r in study.within])} stayed within it" * bool(study.within)
    said = [f"My implementation is the adapted network itself, and it reached {pct(mine)} test accuracy."
            if part2.chosen == "spec" else
            f"My implementation, the study entry {part2.chosen}, whose change is {part2.chosen_change}, reached "
            f"{pct(mine)} test accuracy against {pct(part2.adapted_acc)} for the adapted network.",
            f"That is {points(residual['accuracy'], mine)} points below the {pct(residual['accuracy'])} of "
            f"{residual['name']} in {residual['cite']}, which has {words(residual['conv_layers'])} convolutional "
            f"layers with skip connections against my three without any, groups of {join(map(str, residual['widths']))}"
            f" channels against the adapted network's {join([words(w) for w in SPEC_WIDTHS])}, and "
            f"{residual['params'] / 1e6:.1f} million parameters against my {part2.chosen_params:,}. Skip connections "
            f"are what make that depth trainable, because the gradient reaches the early layers through the identity "
            f"paths, so each extra layer can build features of the features below it."]
    said += [f"Depth is not the whole story, though: {plain['cite']} report {pct(plain['accuracy'])} for a plain "
             f"three-layer CNN without skip connections or augmentation, with stochastic instead of max pooling, so at "
             f"least {points(plain['accuracy'], mine)} points of my gap come from other differences such as the number "
             f"of channels, the length of training and the pooling itself."] * (plain["accuracy"] > mine)
    return " ".join(said + [
        f"{capital(residual['name'])} trained for {words(residual['epochs'])} epochs with {residual['augmentation']}, "
        f"my networks for {words(part2.recipe['epochs'])} epochs with {AUGMENTATION[part2.recipe['augment']]}.",
        f"Against the adapted network on the validation images, my study measured "
        f"{join([f'{r['entry']} at {r['val_delta_points']:+.2f}' for r in study.clear])} points, "
        f"{'all ' * (len(study.clear) > 1)}beyond {beyond}{rest}." if study.clear else
        f"My study tested some of these factors, but no entry moved validation accuracy against the adapted network "
        f"by more than {beyond}."])


def answer_7c(part2: Part2) -> str:
    """(c): the architecture change that surprised me most, from the study's validation deltas."""
    study = analysis.read_study(part2)
    surprising, noise = study.surprise, f"{study.noise:.1f} points"
    said = [f"All {words(len(part2.study))} study entries are single runs of {words(part2.recipe['epochs'])} epochs "
            f"on the same split from the same seed, so I read only validation differences from the adapted network "
            f"above {noise}, two standard errors of the difference of two accuracies on {part2.val_images:,} images."]
    if surprising is None:
        flat = max(study.effects, key=lambda e: abs(e.delta))
        return " ".join(said + [
            f"What surprised me was that no single architecture change moved validation accuracy by more than {noise} "
            f"against the adapted network; the largest was {flat.row['change']}, at {flat.delta:+.2f} points.",
            "My takeaway is that at this budget the training recipe, not the architecture, limits the network, and "
            "that changes must be judged against run-to-run variation."])
    best = max(study.effects, key=lambda e: e.delta)
    said += [f"The change that surprised me most was {surprising.row['change']}: it moved validation accuracy by "
             f"{surprising.delta:+.2f} points against the adapted network.",
             f"The common expectation is that it {'helps' if surprising.expected > 0 else 'hurts'}, because "
             f"{surprising.reason}, and here it {'helped' if surprising.delta > 0 else 'hurt'}"
             + (", the opposite." if surprising.against else ", by more than any other single change.")]
    said += [f"The largest single-change gain came from {best.row['change']}, at {best.delta:+.2f} points."
             ] * (best.clear and best.delta > 0 and best is not surprising)
    return " ".join(said + [
        "My takeaway is to measure each change on the validation set rather than trust the common expectation, a poor "
        "guide for a network this small; a combined entry such as wide-bn shows what works together, but only the "
        "single changes show which one mattered." if surprising.against else
        "My takeaway is that for a network this small the size of each change's effect, not just its direction, has "
        "to be measured, one change at a time on the validation set."])


def part2_answers(part1: Part1, part2: Part2) -> str:
    """Cell 37: the answers to Part 2's discussion prompts (a), (b) and (c), as markdown."""
    references = load_published()["cifar100_references"]["results"]
    return f"**(a)** {answer_7a(part1, part2)}\n\n**(b)** {answer_7b(part2, references)}\n\n**(c)** {answer_7c(part2)}"
