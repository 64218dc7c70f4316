"""Beyond accuracy: the predictions on a whole split, the confusion matrix, per-class accuracy."""

import math

import torch
from torch import Tensor

from smallcnn.core.train import logits_of


def two_standard_errors(accuracy: float, n: int) -> float:
    """Two standard errors, in points, of an accuracy measured on n images: how far chance alone
    can move it."""
    return 200 * math.sqrt(accuracy * (1 - accuracy) / n)


@torch.no_grad()
def predict(model, dataloader, device, flips: bool = False) -> tuple[Tensor, Tensor]:
    """(predicted classes, true labels) of every image of the loader, on the CPU; flips as in
    evaluate."""
    model.eval()
    predicted, true = [], []
    for images, labels in dataloader:
        predicted.append(logits_of(model, images.to(device), flips).argmax(dim=1).cpu())
        true.append(labels.cpu())
    return torch.cat(predicted), torch.cat(true)


def confusion_matrix(labels: Tensor, predictions: Tensor, num_classes: int) -> Tensor:
    """counts[true class, predicted class], from one bincount over the pairs."""
    pairs = labels.cpu() * num_classes + predictions.cpu()
    return torch.bincount(pairs, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def class_rates(matrix: Tensor) -> Tensor:
    """The confusion matrix, each row divided by its total: what each true class is taken for."""
    matrix = torch.as_tensor(matrix)
    return matrix.float() / matrix.sum(dim=1, keepdim=True).clamp(min=1)


def mistakes(matrix: Tensor, classes: list, count: int = 3) -> tuple[dict, list]:
    """({class: accuracy}, the `count` most frequent mistakes as [[true class, predicted class,
    share of the true class], ...]) of a confusion matrix."""
    rates = class_rates(matrix)
    wrong = rates - torch.diag(rates.diagonal())  # the right answers left out
    largest = torch.topk(wrong.flatten(), count)
    pairs = [[classes[i // len(classes)], classes[i % len(classes)], rate]
             for rate, i in zip(largest.values.tolist(), largest.indices.tolist())]
    return dict(zip(classes, rates.diagonal().tolist())), pairs


def print_mistakes(matrix: Tensor, classes: list, count: int = 3) -> tuple[dict, list]:
    """Print the accuracy on each class, worst first, then the `count` most frequent mistakes;
    returns them as mistakes() does."""
    per_class, pairs = mistakes(matrix, classes, count)
    for name, value in sorted(per_class.items(), key=lambda item: item[1]):
        print(f"{name:<14} {value:.2%}")
    for true, predicted, rate in pairs:
        print(f"{rate:.2%} of the {true} images are predicted as {predicted}")
    return per_class, pairs
