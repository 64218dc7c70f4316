"""The numerical judgements behind the written answers (answers.py words them), from the results records."""

import math
from collections import namedtuple

from smallcnn.core.metrics import two_standard_errors
from smallcnn.notebook.results import Part1, Part2

MIN_WINDOW = 3        # a trend is read from the last third of a run, and from at least three epochs,
MIN_CHANGE = 0.05     # and must move its curve by 5% of its level: about a loss's noise on a few thousand images
UNDERFIT = 0.6        # a network that fits less than this share of its own training images lacks capacity
SMALL_GAP = 0.02      # training accuracy within two points of validation: the network memorises nothing
CONVERGED = 0.9       # a run has converged once its validation accuracy reaches 90% of its best
TEST_IMAGES = 10_000  # the Fashion-MNIST test set, on which Table 3 and my CNN are both measured
NOISE_POINTS = 1.0    # the least difference of two validation accuracies read as an effect (see noise_points)
# Table 3's methods with much capacity of their own: being beaten by one of these is no sign of a failed run.
STRONG = ("SVC", "GradientBoostingClassifier", "RandomForestClassifier", "MLPClassifier", "KNeighborsClassifier")
# A curve over its last `epochs` epochs: "falling", "flat" or "rising" beyond noise, or "unknown" (too short).
Trend = namedtuple("Trend", "direction first last epochs")
# My CNN's test accuracy among Table 3's rows (each list best first), the nearest row (the higher of two as near),
# two standard errors of my accuracy in points (what chance moves it by), and the rows within that of mine.
Standing = namedtuple("Standing", "accuracy above equal below nearest noise close")
# One architecture change: its row, delta in points, expected sign and why, beyond noise, against expectation.
Effect = namedtuple("Effect", "row delta expected reason clear against")
# The study against noise: its rows beyond and within it (the adapted network left out, largest first), its single
# architecture changes, and the most surprising: the largest against expectation, else beyond noise, else None.
Study = namedtuple("Study", "noise clear within effects surprise")


def trend_window(epochs: int) -> int:
    """The epochs a trend is read from: the last third of the run, at least MIN_WINDOW (or all there are)."""
    return min(epochs, max(MIN_WINDOW, round(epochs / 3)))


def trend(values: list[float], level: float | None = None) -> Trend:
    """A least-squares slope beyond two standard errors that moves the curve by MIN_CHANGE of `level` (its mean)."""
    k = trend_window(len(values))
    tail = values[-k:]
    if k < MIN_WINDOW:
        return Trend("unknown", tail[0], tail[-1], k)
    mean_x, mean_y = (k - 1) / 2, sum(tail) / k
    sxx = sum((x - mean_x) ** 2 for x in range(k))
    slope = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(tail)) / sxx
    error = math.sqrt(sum((y - mean_y - slope * (x - mean_x)) ** 2 for x, y in enumerate(tail)) / (k - 2) / sxx)
    level = sum(abs(v) for v in tail) / k if level is None else level
    beyond = abs(slope) > 2 * error and abs(slope) * (k - 1) >= MIN_CHANGE * level
    return Trend(("rising" if slope > 0 else "falling") if beyond else "flat", tail[0], tail[-1], k)


class Curves(namedtuple("Curves", "epochs train_loss val_loss gap train_acc val_acc converged_epoch")):
    """A run's Trends (gap: validation minus training loss), last accuracies, first epoch at CONVERGED of its best."""

    @property
    def verdict(self) -> str:
        """Too short, unstable, underfitting, overfitting, starting to overfit, capacity-limited or stable gap."""
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
    return Curves(len(record.val_accs), trend(record.train_losses), trend(record.val_losses),
                  trend(gaps, level=sum(tail) / len(tail)), record.train_accs[-1], record.val_accs[-1],
                  next(e for e, a in enumerate(record.val_accs, 1) if a >= CONVERGED * max(record.val_accs)))


def table3_standing(ranked: list[dict]) -> Standing:
    """Which of Table 3's methods (the rows from "published") score above, equal to and below the CNN."""
    mine = next(row["accuracy"] for row in ranked if row["source"] == "this CNN")
    table = sorted((row for row in ranked if row["source"] == "published"), key=lambda row: -row["accuracy"])
    noise = two_standard_errors(mine, TEST_IMAGES)
    return Standing(mine, [r for r in table if r["accuracy"] > mine], [r for r in table if r["accuracy"] == mine],
                    [r for r in table if r["accuracy"] < mine], min(table, key=lambda r: abs(r["accuracy"] - mine)),
                    noise, [r for r in table if 100 * abs(r["accuracy"] - mine) < noise])


# The study's single architecture changes with the common expectation (+1 helps, -1 hurts) and why; an
# underfitting network is expected to lose accuracy to a regulariser.
EXPECTATIONS = {
    "wide2": (1, "more channels give the network more capacity"),
    "no-bottleneck": (1, "a 5-channel layer squeezes every image into five feature maps"),
    "batchnorm": (1, "batch normalisation usually speeds up and stabilises training"),
    "dropout": (1, "dropout is the textbook cure for overfitting"),
    "gap": (-1, "averaging away the positions of features throws information away")}
UNDERFIT_EXPECTATIONS = {"dropout": (-1, "the network underfits, and dropout only makes fitting harder")}


def noise_points(part2: Part2) -> float:
    """Two standard errors of the difference of two validation accuracies, in points, and at least NOISE_POINTS."""
    p = part2.val_accs[-1]
    return max(NOISE_POINTS, round(200 * math.sqrt(2 * p * (1 - p) / part2.val_images), 1))


def read_study(part2: Part2) -> Study:
    """The study's validation deltas against noise and against what is expected of each change in this run."""
    noise, rows = noise_points(part2), sorted(part2.study, key=lambda r: -abs(r["val_delta_points"]))
    expected = {**EXPECTATIONS, **(UNDERFIT_EXPECTATIONS if read_curves(part2).underfits else {})}
    effects = [Effect(row, delta, sign, reason, abs(delta) >= noise, abs(delta) >= noise and delta * sign < 0)
               for row in part2.study if row["entry"] in expected
               for delta, (sign, reason) in [(row["val_delta_points"], expected[row["entry"]])]]
    candidates = [e for e in effects if e.against] or [e for e in effects if e.clear]
    return Study(noise, [r for r in rows if r["entry"] != "spec" and abs(r["val_delta_points"]) >= noise],
                 [r for r in rows if r["entry"] != "spec" and abs(r["val_delta_points"]) < noise], effects,
                 max(candidates, key=lambda e: abs(e.delta), default=None))
