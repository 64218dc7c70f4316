"""Table 3: the CNN against the Fashion-MNIST paper's benchmark.

Table 3 of Xiao, Rasul and Vollgraf (2017) lists the best configuration of each scikit-learn
classifier family and its test accuracy. Its figures are read from the published-figures data file
(never typed in) and ranked together with the CNN's own test accuracy.
"""


def table3_rows(accuracy: dict[str, float]) -> list[dict]:
    """Table 3's Fashion-MNIST column ({classifier: test accuracy}) as comparison rows."""
    return [{"name": name, "source": "published", "accuracy": value, "train_images": None,
             "note": "Xiao et al. 2017, Table 3"} for name, value in accuracy.items()]


def rank(rows: list[dict]) -> list[dict]:
    """The rows sorted by test accuracy, best first, each with its rank (1 = best)."""
    ordered = sorted(rows, key=lambda row: -row["accuracy"])
    return [{**row, "rank": position} for position, row in enumerate(ordered, start=1)]
