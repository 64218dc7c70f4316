"""What the builder reads back from the kernel after each part: one typed record per part.

Each field names the expression the kernel evaluates for it (by default the notebook variable of the same
name); `probe_code` turns a record type into the one line of code that prints them all as JSON, and
`from_output` reads that line back into the record. The probe runs outside the notebook's history, so the
execution counts a reader sees are the notebook's own.
"""

import json
from dataclasses import dataclass, field, fields


def kernel(expression: str):
    """A field read from the kernel by evaluating `expression` there."""
    return field(metadata={"expression": expression})


@dataclass
class Part1:
    recipe: dict = kernel("__import__('dataclasses').asdict(recipe)")
    train_losses: list = kernel("train_losses")
    val_losses: list = kernel("val_losses")
    train_accs: list = kernel("train_accs")
    val_accs: list = kernel("val_accs")
    epoch_seconds: list = kernel("epoch_seconds")
    test_loss: float = kernel("test_loss")
    test_acc: float = kernel("test_acc")
    per_class: dict = kernel("per_class")
    confusions: list = kernel("confusions")
    ranked: list = kernel("ranked")
    params: int = kernel("n_params")
    fc_inputs: int = kernel("model.fc.in_features")  # the numbers per image the classifier sees
    bottleneck: int = kernel("min(m.out_channels for m in model.modules() if isinstance(m, nn.Conv2d))")
    train_images: int = kernel("len(train_ds)")
    val_images: int = kernel("len(val_ds)")
    num_classes: int = kernel("len(train_full.classes)")


@dataclass
class Part2:
    recipe: dict = kernel("__import__('dataclasses').asdict(recipe)")
    train_losses: list = kernel("train_losses")  # the adapted network's curves
    val_losses: list = kernel("val_losses")
    train_accs: list = kernel("train_accs")
    val_accs: list = kernel("val_accs")
    adapted_acc: float = kernel("adapted_acc")   # the adapted network's test accuracy
    test_acc: float = kernel("test_acc")         # my implementation's (the chosen candidate's)
    chosen: str = kernel("chosen")
    chosen_change: str = kernel("STUDY[chosen][2]")
    chosen_history: dict = kernel("chosen_history")
    study: list = kernel("rows")
    adapted_params: int = kernel("count_parameters(model)")
    train_images: int = kernel("len(train_ds)")
    val_images: int = kernel("len(val_ds)")
    num_classes: int = kernel("len(train_full.classes)")

    @property
    def chosen_params(self) -> int:
        return next(row["params"] for row in self.study if row["entry"] == self.chosen)


def probe_code(record: type) -> str:
    """One line of code that prints the record's fields, evaluated in the kernel, as one JSON object."""
    pairs = ", ".join(f"{f.name!r}: {f.metadata['expression']}" for f in fields(record))
    return f"print(__import__('json').dumps({{{pairs}}}))"


def from_output(record: type, text: str):
    """The record from the probe's printed line."""
    return record(**json.loads(text.strip().splitlines()[-1]))
