"""The core's metrics: predictions on a whole loader, the confusion matrix, per-class accuracy, mistakes."""

import pytest
import torch
from torch import nn

from smallcnn.core.metrics import class_rates, confusion_matrix, mistakes, predict, print_mistakes


def test_the_confusion_matrix_counts_true_classes_by_row():
    labels = torch.tensor([0, 0, 0, 1, 2, 2])
    predicted = torch.tensor([0, 1, 1, 1, 2, 0])
    matrix = confusion_matrix(labels, predicted, 3)
    assert matrix.tolist() == [[1, 2, 0], [0, 1, 0], [1, 0, 1]]  # row: the true class, column: the prediction
    expected = torch.tensor([[1 / 3, 2 / 3, 0], [0, 1, 0], [0.5, 0, 0.5]])
    assert torch.allclose(class_rates(matrix).double(), expected.double())


def test_mistakes_are_the_largest_off_diagonal_shares_with_their_classes(capsys):
    matrix = torch.tensor([[6, 4, 0], [0, 10, 0], [1, 0, 9]])
    per_class, pairs = print_mistakes(matrix, ["a", "b", "c"], count=2)
    assert per_class == pytest.approx({"a": 0.6, "b": 1.0, "c": 0.9})
    assert [pair[:2] for pair in pairs] == [["a", "b"], ["c", "a"]]
    assert pairs[0][2] == pytest.approx(0.4) and pairs[1][2] == pytest.approx(0.1)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("a ") and printed[-2:] == ["40.00% of the a images are predicted as b",
                                                            "10.00% of the c images are predicted as a"]
    assert mistakes(matrix, ["a", "b", "c"], count=2) == (per_class, pairs)


def test_predict_gives_every_prediction_and_label_and_can_average_mirror_images():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(8, 3))
    x, y = torch.randn(10, 1, 2, 4), torch.arange(10) % 3
    batches = [(x[:6], y[:6]), (x[6:], y[6:])]
    predicted, labels = predict(model, batches, "cpu")
    with torch.no_grad():
        assert predicted.tolist() == model(x).argmax(1).tolist() and labels.tolist() == y.tolist()
        mirrored = ((model(x) + model(x.flip(-1))) / 2).argmax(1)
    assert predict(model, batches, "cpu", flips=True)[0].tolist() == mirrored.tolist()
