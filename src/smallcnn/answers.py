"""Answers to the assignment's explanation items, written from one execution's own numbers.

Every function reads a run's history (one dict per epoch, as fit() returns it) and metrics (as
test_metrics() returns them) and returns plain text of several sentences. Nothing about how a run
went is written in advance: execute the notebook again and the answers follow the new numbers.
Explanation cells print the text (show_answer), so the notebook needs no IPython import.
"""

import math
import textwrap

from torch import nn

REFERENCE_ACCURACY = 0.80   # CIFAR-100 accuracy of ResNet / Wide-ResNet models, as the assignment quotes it
WRN_PARAMETERS = 36.5e6     # Wide-ResNet-28-10 (Zagoruyko & Komodakis, 2016), for scale
GAP_OVERFIT = 0.05          # train - validation accuracy above this: the model memorises
GAP_CLOSE = 0.02            # below this the curves are "close"
LOSS_RISE_OVERFIT = 0.05    # validation loss 5% above its minimum by the end: it turned upwards
STILL_IMPROVING = 0.005     # validation accuracy gained over the last epochs that means "not converged"


def show_answer(text, width=100):
    """Print an answer as wrapped paragraphs (paragraphs are separated by blank lines)."""
    for paragraph in text.split("\n\n"):
        print(textwrap.fill(paragraph, width))
        print()


def curve_facts(history):
    """The numbers every diagnosis below rests on, read from the last and the best epochs."""
    last = history[-1]
    lowest = min(history, key=lambda row: row["val_loss"])
    earlier = history[max(0, len(history) - 4)]
    return {
        "epochs": len(history),
        "train_loss": last["train_loss"], "val_loss": last["val_loss"],
        "train_acc": last["train_accuracy"], "val_acc": last["val_accuracy"],
        "gap": last["train_accuracy"] - last["val_accuracy"],
        "min_val_loss": lowest["val_loss"], "min_val_epoch": lowest["epoch"],
        "val_loss_rise": last["val_loss"] / lowest["val_loss"] - 1,
        "recent_gain": last["val_accuracy"] - earlier["val_accuracy"],
    }


def fit_diagnosis(facts):
    """'overfitting', 'underfitting' or 'good fit' -- from the accuracy gap and the validation loss."""
    if facts["gap"] > GAP_OVERFIT or facts["val_loss_rise"] > LOSS_RISE_OVERFIT:
        return "overfitting"
    # Close curves with a training accuracy far from 100% mean the model cannot fit even its training data.
    if facts["gap"] < GAP_CLOSE and facts["train_acc"] < 0.95:
        return "underfitting"
    return "good fit"


def epochs_to_reach(history, fraction=0.9):
    """First epoch whose validation accuracy reaches `fraction` of the run's best."""
    target = fraction * max(row["val_accuracy"] for row in history)
    return next(row["epoch"] for row in history if row["val_accuracy"] >= target)


def describe_curves(history):
    """Over- or underfitting, read off the training and validation curves."""
    f = curve_facts(history)
    diagnosis = fit_diagnosis(f)
    text = (f"After {f['epochs']} epochs the training loss is {f['train_loss']:.3f} and the validation loss "
            f"{f['val_loss']:.3f}, with {f['train_acc']:.1%} training and {f['val_acc']:.1%} validation accuracy "
            f"(a gap of {100 * f['gap']:.1f} points). The validation loss was lowest in epoch "
            f"{f['min_val_epoch']} and ends {100 * f['val_loss_rise']:.1f}% above that minimum. ")
    if diagnosis == "overfitting":
        text += ("The model overfits: it keeps improving on the images it trains on while the validation "
                 "curve stalls or turns upwards, so it is learning details of the training set that do not "
                 "generalise. ")
    elif diagnosis == "underfitting":
        text += ("The model underfits rather than overfits: the two curves stay close while the training "
                 "accuracy stays far from 100%, so it lacks the capacity to fit even its training data. "
                 "The training accuracy is measured on augmented images while the weights still change, "
                 "which makes it slightly pessimistic, but not by this much. ")
    else:
        text += ("The fit is balanced: the training accuracy is high and the validation curve follows it "
                 "closely, with no sign of the validation loss turning upwards. ")
    if f["recent_gain"] > STILL_IMPROVING:
        text += (f"Validation accuracy was still rising at the end ({100 * f['recent_gain']:+.1f} points over the "
                 f"last epochs), so training had not fully converged.")
    else:
        text += "Validation accuracy had levelled off by the end, so more epochs alone would add little."
    return text


def most_confused(matrix, classes):
    """(true class, predicted class, count) of the largest off-diagonal entry of the confusion matrix."""
    best = max(((i, j) for i in range(len(classes)) for j in range(len(classes)) if i != j),
               key=lambda ij: matrix[ij[0]][ij[1]])
    return classes[best[0]], classes[best[1]], matrix[best[0]][best[1]]


def summarise_result(metrics, history):
    """What this execution's model achieved on the test set, and where it fails."""
    classes = list(metrics["per_class_accuracy"])
    worst = sorted(metrics["per_class_accuracy"].items(), key=lambda item: item[1])[:3]
    true, predicted, count = most_confused(metrics["confusion_matrix"], classes)
    return (f"The {metrics['variant']} CNN reached {metrics['test_accuracy']:.2%} test accuracy on "
            f"{metrics['dataset']} with {metrics['params']:,} parameters, trained with SGD for "
            f"{metrics['epochs']} epochs; the weights tested are those of epoch {metrics['best_epoch']}, "
            f"the best on the validation set ({metrics['best_val_accuracy']:.2%}).\n\n"
            + describe_curves(history) + "\n\n"
            f"The hardest classes were " + ", ".join(f"{name} ({acc:.1%})" for name, acc in worst)
            + f", and the most frequent mistake was {true} taken for {predicted} ({count} test images). "
            f"These classes differ in fine detail rather than outline, which a network with this few "
            f"feature maps at low resolution has little room to represent.")


def improvement_ideas(history, metrics):
    """Ideas to improve the model, each chosen by what this run's curves show (untested proposals)."""
    f = curve_facts(history)
    diagnosis = fit_diagnosis(f)
    ideas = []
    if diagnosis == "underfitting":
        ideas.append("Since the model underfits, the first lever is capacity: the spec model's second convolution narrows "
                     "the representation to 5 channels, so widening the layers (or removing that bottleneck) "
                     "lets more features reach the classifier.")
        ideas.append("Batch normalisation after each convolution would let the same SGD schedule use larger "
                     "steps stably and usually speeds up and improves the fit of small networks.")
    elif diagnosis == "overfitting":
        ideas.append("Since the model overfits, stronger regularisation is the first lever: random crops in "
                     "addition to flips, more weight decay or dropout before the classifier make memorising "
                     "the training images harder.")
        ideas.append("Early stopping is already applied (the best validation epoch is tested), so the "
                     "remaining gain must come from making the validation curve itself better.")
    else:
        ideas.append("Since the model fits well, more capacity and more regularisation have to go together: "
                     "wider convolutions to learn finer features, with random crops or dropout to keep the "
                     "larger model from memorising the training images.")
    if f["recent_gain"] > STILL_IMPROVING:
        ideas.append(f"Validation accuracy still rose by {100 * f['recent_gain']:.1f} points over the last epochs, "
                     f"so training for more than {f['epochs']} epochs should help before anything else.")
    else:
        ideas.append(f"Validation accuracy had levelled off after {f['epochs']} epochs, so more epochs with the "
                     f"same model are unlikely to help much on their own.")
    ideas.append(f"Averaging the predictions for each test image and its mirror image costs no training and "
                 f"often adds a few tenths of a point to the {metrics['test_accuracy']:.2%} measured here. "
                 f"These are proposals derived from the curves, not results measured in this notebook.")
    return " ".join(ideas)


def compare_convergence(history, reference_history, num_classes, reference_classes):
    """Part 2's curves against Part 1's: fit, loss relative to chance, and speed of convergence."""
    f, ref = curve_facts(history), curve_facts(reference_history)
    chance, ref_chance = math.log(num_classes), math.log(reference_classes)
    k, ref_k = epochs_to_reach(history), epochs_to_reach(reference_history)
    pace = "more slowly than" if k / len(history) > ref_k / len(reference_history) else "about as fast as or faster than"
    return (describe_curves(history) + "\n\n"
            f"Relative to guessing (a loss of ln {num_classes} = {chance:.2f}), the validation loss fell to "
            f"{f['val_loss'] / chance:.0%} of chance level, against {ref['val_loss'] / ref_chance:.0%} of "
            f"ln {reference_classes} = {ref_chance:.2f} on Fashion-MNIST. "
            f"This run needed {k} of {len(history)} epochs to reach 90% of its best validation accuracy, "
            f"where Part 1 needed {ref_k} of {len(reference_history)}, so it converged {pace} Part 1. "
            f"The final validation accuracy is {f['val_acc']:.1%} here against {ref['val_acc']:.1%} in Part 1: "
            f"with 100 classes of natural colour images and 500 instead of 6,000 training images per class in the official sets, "
            f"the same small network is much further from fitting the task.")


def narrowest_conv(model):
    return min(m.out_channels for m in model.modules() if isinstance(m, nn.Conv2d))


def gap_to_reference(metrics, model, reference=REFERENCE_ACCURACY):
    """Why this model stays far below the ~80% of ResNet / Wide-ResNet models on CIFAR-100."""
    params = metrics["params"]
    return (f"This model reaches {metrics['test_accuracy']:.1%} on CIFAR-100, {100 * (reference - metrics['test_accuracy']):.0f} "
            f"points below the roughly {reference:.0%} of ResNet and Wide-ResNet models. "
            f"The largest difference is capacity: this network has {params:,} parameters in three convolutions "
            f"and one linear layer, while a Wide-ResNet-28-10 has about {WRN_PARAMETERS / 1e6:.1f} million "
            f"parameters in 28 layers, roughly {WRN_PARAMETERS / params:,.0f} times more. "
            f"Its narrowest convolution has only {narrowest_conv(model)} output channels, so every "
            f"distinction between 100 classes has to pass through that many feature maps, whereas residual "
            f"connections let those networks grow deep and wide without the gradients vanishing. "
            f"They are also trained for around 200 epochs with batch normalisation and a tuned schedule, "
            f"against {metrics['epochs']} epochs on a CPU here, so the gap mixes a capacity limit with a "
            f"training-budget limit, and the capacity limit is the larger one.")


def parameter_split(model):
    """(parameters in convolutions, parameters in the linear classifier)."""
    conv = sum(p.numel() for m in model.modules() if isinstance(m, nn.Conv2d) for p in m.parameters())
    linear = sum(p.numel() for m in model.modules() if isinstance(m, nn.Linear) for p in m.parameters())
    return conv, linear


def adaptation_effect(model, reference_model):
    """What adapting the Part 1 network to CIFAR-100 did to where its parameters sit."""
    conv, linear = parameter_split(model)
    ref_conv, ref_linear = parameter_split(reference_model)
    total, ref_total = conv + linear, ref_conv + ref_linear
    return (f"The only architecture change between Part 1 and Part 2 is the adaptation to the data: three "
            f"input channels instead of one, 32x32 instead of 28x28 images and 100 outputs instead of 10. "
            f"That change alone took the parameter count from {ref_total:,} to {total:,}, and the striking part "
            f"is where they went: the convolutions grew only from {ref_conv:,} to {conv:,} parameters, while "
            f"the final linear layer grew from {ref_linear:,} to {linear:,}, {linear / total:.0%} of the model. "
            f"The CIFAR-100 network is therefore mostly a linear classifier on top of a feature extractor "
            f"that is as small as the Fashion-MNIST one, which is why widening the convolutions, not the "
            f"classifier, is where extra parameters should go.")
