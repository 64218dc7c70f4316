"""The numerical judgements behind the written answers, apart from their wording (answers.py).

Pure functions of the results records (results.Part1, results.Part2): how the curves moved at the end of
training, read only beyond their epoch-to-epoch noise; whether a network under- or overfits; where the CNN
stands among Table 3's methods and how far chance could move it; and which study entries changed validation
accuracy by more than chance, for or against the common expectation.
"""

import math
from dataclasses import dataclass

from smallcnn.notebook.results import Part1, Part2

MIN_WINDOW = 3        # a trend is read from the last third of a run, and from at least three epochs
MIN_CHANGE = 0.05     # ... and must move its curve by 5% of its level: about the sampling noise of a loss on
                      # a few thousand validation images
UNDERFIT = 0.6        # a network that fits less than this share of its own training images lacks capacity
SMALL_GAP = 0.02      # training accuracy within two points of validation: the network memorises nothing
CONVERGED = 0.9       # a run has converged once its validation accuracy reaches 90% of its best
TEST_IMAGES = 10_000  # the Fashion-MNIST test set, on which Table 3 and my CNN are both measured
NOISE_POINTS = 1.0    # the least difference of two validation accuracies read as an effect (see noise_points)
# Table 3's methods with much capacity of their own: being beaten by one of these is no sign of a failed run.
STRONG = ("SVC", "GradientBoostingClassifier", "RandomForestClassifier", "MLPClassifier", "KNeighborsClassifier")


# --- the curves ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Trend:
    """How a curve moved over its last `epochs` epochs: "falling", "flat" or "rising" beyond noise, or
    "unknown" where the run is too short to tell; `first` and `last` are its values at the window's ends."""
    direction: str
    first: float
    last: float
    epochs: int


def trend_window(epochs: int) -> int:
    """The epochs a trend is read from: the last third of the run, at least MIN_WINDOW (or all there are)."""
    return min(epochs, max(MIN_WINDOW, round(epochs / 3)))


def slope_and_error(values: list[float]) -> tuple[float, float]:
    """The least-squares slope per epoch of `values` (at least three) and its standard error."""
    n = len(values)
    mean_x, mean_y = (n - 1) / 2, sum(values) / n
    sxx = sum((x - mean_x) ** 2 for x in range(n))
    slope = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(values)) / sxx
    residuals = sum((y - mean_y - slope * (x - mean_x)) ** 2 for x, y in enumerate(values))
    return slope, math.sqrt(residuals / (n - 2) / sxx)


def trend(values: list[float], level: float | None = None) -> Trend:
    """The direction of a curve's last epochs, read only beyond noise: the slope must exceed two standard
    errors, and its change over the window must reach MIN_CHANGE of `level` (by default the curve's mean)."""
    k = trend_window(len(values))
    tail = values[-k:]
    if k < MIN_WINDOW:
        return Trend("unknown", tail[0], tail[-1], k)
    slope, error = slope_and_error(tail)
    level = sum(abs(v) for v in tail) / k if level is None else level
    beyond = abs(slope) > 2 * error and abs(slope) * (k - 1) >= MIN_CHANGE * level
    return Trend(("rising" if slope > 0 else "falling") if beyond else "flat", tail[0], tail[-1], k)


@dataclass(frozen=True)
class Curves:
    """What a run's curves say at the end of its schedule (accuracies of the last epoch)."""
    epochs: int
    train_loss: Trend
    val_loss: Trend
    gap: Trend            # validation minus training loss, measured against the validation loss's level
    train_acc: float
    val_acc: float
    converged_epoch: int  # the first epoch whose validation accuracy reached CONVERGED of the best

    @property
    def verdict(self) -> str:
        """"too short" (no trend to read), "unstable" (training loss rising), "underfitting" (under UNDERFIT of
        its own training images), "overfitting" (validation loss rising), "starting to overfit" (the loss gap
        widening), "capacity-limited" (training barely above validation accuracy) or "stable gap" (a larger gap
        that does not grow)."""
        if self.train_loss.direction in ("rising", "unknown"):
            return "unstable" if self.train_loss.direction == "rising" else "too short"
        if self.train_acc < UNDERFIT:
            return "underfitting"
        if self.val_loss.direction == "rising":
            return "overfitting"
        if self.gap.direction == "rising":
            return "starting to overfit"
        return "capacity-limited" if self.train_acc - self.val_acc < SMALL_GAP else "stable gap"

    @property
    def underfits(self) -> bool:
        return self.verdict in ("underfitting", "capacity-limited")


def read_curves(record: Part1 | Part2) -> Curves:
    """The Curves of a record's train_losses, val_losses, train_accs and val_accs (a Part1 or a Part2)."""
    gaps = [v - t for t, v in zip(record.train_losses, record.val_losses)]
    tail = record.val_losses[-trend_window(len(gaps)):]
    best = max(record.val_accs)
    return Curves(len(record.val_accs), trend(record.train_losses), trend(record.val_losses),
                  trend(gaps, level=sum(tail) / len(tail)), record.train_accs[-1], record.val_accs[-1],
                  next(e for e, a in enumerate(record.val_accs, 1) if a >= CONVERGED * best))


# --- Part 1: Table 3 ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Standing:
    """My CNN's test accuracy among Table 3's rows (best first, compared at full precision), the row nearest to
    it (the higher of two as near), and two standard errors of my accuracy in points: what chance moves it by."""
    accuracy: float
    above: list
    equal: list
    below: list
    nearest: dict
    noise: float

    def within_noise(self, row: dict) -> bool:
        return 100 * abs(row["accuracy"] - self.accuracy) < self.noise

    @property
    def fell_short(self) -> bool:
        """Whether a method without much capacity of its own (not one of STRONG) beats my network."""
        return bool(self.above) and self.above[-1]["name"] not in STRONG


def table3_standing(ranked: list[dict]) -> Standing:
    """Which of Table 3's methods (the rows from "published") score above, equal to and below the CNN."""
    mine = next(row["accuracy"] for row in ranked if row["source"] == "this CNN")
    table = sorted((row for row in ranked if row["source"] == "published"), key=lambda row: -row["accuracy"])
    return Standing(mine, [r for r in table if r["accuracy"] > mine], [r for r in table if r["accuracy"] == mine],
                    [r for r in table if r["accuracy"] < mine], min(table, key=lambda r: abs(r["accuracy"] - mine)),
                    200 * math.sqrt(mine * (1 - mine) / TEST_IMAGES))


# --- Part 2: the study --------------------------------------------------------------------------------

# The single architecture changes of the study ((c) asks about the architecture), each with the common
# expectation (+1 helps, -1 hurts) and why.
EXPECTATIONS = {
    "wide2": (1, "more channels give the network more capacity"),
    "no-bottleneck": (1, "a 5-channel layer squeezes every image into five feature maps"),
    "batchnorm": (1, "batch normalisation usually speeds up and stabilises training"),
    "dropout": (1, "dropout is the textbook cure for overfitting"),
    "gap": (-1, "averaging away the positions of features throws information away"),
}
# What an underfitting network is expected to do with a regulariser: nothing to cure, so it costs accuracy.
UNDERFIT_EXPECTATIONS = {"dropout": (-1, "the network underfits, and dropout only makes fitting harder")}


def noise_points(part2: Part2) -> float:
    """The smallest difference in validation accuracy, in points, that I read as an effect of a change: two
    standard errors of the difference of two accuracies on the validation images, and at least NOISE_POINTS."""
    p = part2.val_accs[-1]
    return max(NOISE_POINTS, round(200 * math.sqrt(2 * p * (1 - p) / part2.val_images), 1))


@dataclass(frozen=True)
class Effect:
    """One single architecture change of the study: its row and validation delta in points, the expected sign
    (+1 helps, -1 hurts) and why, whether the delta is beyond noise, and whether it went against expectation."""
    row: dict
    delta: float
    expected: int
    reason: str
    clear: bool
    against: bool


def architecture_effects(part2: Part2) -> list[Effect]:
    """The study's single architecture changes against what is expected of them in this run: a regulariser is
    expected to hurt a network that underfits."""
    expected = {**EXPECTATIONS, **(UNDERFIT_EXPECTATIONS if read_curves(part2).underfits else {})}
    effects, noise = [], noise_points(part2)
    for row in (row for row in part2.study if row["entry"] in expected):
        delta, (sign, reason) = row["val_delta_points"], expected[row["entry"]]
        clear = abs(delta) >= noise
        effects.append(Effect(row, delta, sign, reason, clear, clear and delta * sign < 0))
    return effects


def surprise(effects: list[Effect]) -> Effect | None:
    """The most surprising effect: the largest against expectation, else the largest beyond noise, else None."""
    candidates = [e for e in effects if e.against] or [e for e in effects if e.clear]
    return max(candidates, key=lambda e: abs(e.delta), default=None)


def measured_changes(part2: Part2) -> tuple[list[dict], list[dict]]:
    """(the study's rows beyond noise, those within it), the adapted network left out, largest effect first."""
    rows = sorted((r for r in part2.study if r["entry"] != "spec"), key=lambda r: -abs(r["val_delta_points"]))
    clear = [r for r in rows if abs(r["val_delta_points"]) >= noise_points(part2)]
    return clear, [r for r in rows if r not in clear]
