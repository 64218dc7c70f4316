"""The training core: the recipe, the learning-rate schedule, one epoch of training, evaluation, fit."""

import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from smallcnn.core import train
from smallcnn.core.data import EVAL_BATCH_SIZE, TensorLoader, split_train_val
from smallcnn.core.models import build_model
from smallcnn.core.train import (
    MIN_EPOCHS,
    RECIPES,
    TrainConfig,
    evaluate,
    fit,
    lr_factor,
    make_training,
    new_history,
    run_epoch,
    train_one_epoch,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def without_timing(history):
    return {key: values for key, values in history.items() if key != "seconds"}


# --- the recipe --------------------------------------------------------------------------------------------

def test_each_parts_recipe():
    fashion = RECIPES["fashion-mnist"]
    assert fashion.epochs >= MIN_EPOCHS == 15 == TrainConfig().epochs
    assert (fashion.epochs, fashion.batch_size, fashion.lr, fashion.augment, fashion.test_flips, fashion.seed) == (
        25, 128, 0.05, "flip", True, 42)  # chosen in benchmarks/time_to_accuracy/levers-2t
    cifar = RECIPES["cifar100"]
    assert (cifar.augment, cifar.lr, cifar.batch_size, cifar.epochs, cifar.test_flips) == (
        "crop-flip", 0.05, 128, MIN_EPOCHS, False)


def test_test_time_flips_need_flips_in_training():
    with pytest.raises(ValueError, match=r"test_flips must be used with a flip augmentation"):
        TrainConfig(test_flips=True)
    assert TrainConfig(test_flips=True, augment="crop-flip").test_flips


def test_evaluate_with_flips_averages_each_image_and_its_mirror():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(8, 3))
    x, y = torch.randn(10, 1, 2, 4), torch.arange(10) % 3
    with torch.no_grad():
        logits = (model(x) + model(x.flip(-1))) / 2
    loss, accuracy = evaluate(model, batches(x, y, 4), nn.CrossEntropyLoss(), "cpu", flips=True)
    assert loss == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-6)
    assert accuracy == pytest.approx((logits.argmax(1) == y).float().mean().item())
    assert evaluate(model, batches(x, y, 4), nn.CrossEntropyLoss(), "cpu")[0] != pytest.approx(loss)


@pytest.mark.parametrize("field, value, words", [
    ("epochs", 0, "epochs must be an integer >= 1"), ("batch_size", 2.5, "batch_size must be an integer"),
    ("lr", float("nan"), "lr must be a finite number > 0"), ("lr", -1.0, "lr must be a finite"),
    ("momentum", 1.0, "momentum must be in [0, 1)"), ("weight_decay", -0.1, "weight_decay must be >= 0"),
    ("label_smoothing", 1.0, "label_smoothing must be in [0, 1)"),
    ("augment", "rotate", "augment must be one of none, flip, crop-flip (got 'rotate')"),
    ("val_fraction", 1.0, "val_fraction must be strictly between 0 and 1"), ("seed", -1, "seed must be")])
def test_the_recipe_refuses_a_bad_value_where_it_is_made(field, value, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        TrainConfig(**{field: value})


def test_every_bad_value_is_named_at_once():
    with pytest.raises(ValueError, match="epochs .*; batch_size "):
        TrainConfig(epochs=0, batch_size=0)


def test_make_training_follows_the_recipe():
    model = build_model("spec")
    config = TrainConfig(lr=0.3, momentum=0.8, weight_decay=1e-3, label_smoothing=0.1)
    criterion, optimizer, _ = make_training(model, config, 10)
    assert criterion.label_smoothing == 0.1
    group = optimizer.param_groups[0]
    assert isinstance(optimizer, torch.optim.SGD)
    assert (group["momentum"], group["nesterov"], group["weight_decay"]) == (0.8, True, 1e-3)
    # Nesterov needs momentum: with momentum 0 the optimizer must still be built (plain SGD).
    _, plain, _ = make_training(model, TrainConfig(momentum=0.0), 10)
    assert plain.param_groups[0]["nesterov"] is False


# --- learning-rate schedules -------------------------------------------------------------------------------

# (total steps, warm-up steps): a quarter of the run, but at least 300 steps and at most three quarters of it.
WARMUPS = [(1, 1), (2, 2), (3, 2), (4, 3), (7, 5), (10, 8), (100, 75), (401, 300), (1000, 300), (1201, 300),
           (1204, 301), (4000, 1000)]


@pytest.mark.parametrize("total, warmup", WARMUPS)
def test_onecycle_warms_up_to_the_peak_then_decays_to_zero(total, warmup):
    factors = [lr_factor(step, total) for step in range(total)]
    peak = factors.index(max(factors))
    assert max(factors) == 1.0  # the peak rate is reached exactly...
    assert peak == warmup - 1  # ...at the end of the warm-up
    assert factors[0] == pytest.approx(1 / warmup)  # the warm-up starts low on a long run
    assert all(a < b for a, b in zip(factors[:peak], factors[1:peak + 1]))  # rises to the peak
    assert all(a > b for a, b in zip(factors[peak:], factors[peak + 1:]))  # then falls every step
    assert all(0 < f <= 1 for f in factors)
    assert factors[-1] == pytest.approx(1 / (total - warmup + 1))  # the last step is the decay's last rung...
    assert lr_factor(total, total) == 0.0  # ...and the schedule ends at zero


@pytest.mark.parametrize("epochs, steps_per_epoch", [(1, 1), (3, 5), (4, 25)])
def test_the_schedule_spans_all_epochs_of_the_run(epochs, steps_per_epoch):
    """make_training's scheduler covers epochs x steps per epoch: each step gets the schedule's factor."""
    config = TrainConfig(epochs=epochs, lr=0.4)
    _, optimizer, scheduler = make_training(nn.Linear(2, 2), config, steps_per_epoch)
    total = epochs * steps_per_epoch
    used = []
    for _ in range(total):
        used.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert used == pytest.approx([0.4 * lr_factor(step, total) for step in range(total)])
    assert max(used) == pytest.approx(0.4)
    assert scheduler.get_last_lr()[0] == 0.0  # after the run's last step the rate is zero


# --- evaluation ------------------------------------------------------------------------------------------

def batches(x, y, size):
    return [(x[i:i + size], y[i:i + size]) for i in range(0, len(y), size)]


def test_evaluate_on_a_hand_made_case():
    """The 'images' are the logits themselves (an identity model), in uneven batches."""
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    labels = torch.tensor([0, 1, 0, 0, 2])  # rows 0, 1 and 3 right; 2 and 4 wrong
    loss, accuracy = evaluate(nn.Identity(), batches(logits, labels, 2), nn.CrossEntropyLoss(), "cpu")
    assert accuracy == pytest.approx(3 / 5)
    assert loss == pytest.approx(F.cross_entropy(logits, labels).item())


def test_evaluate_puts_the_model_in_evaluation_mode_and_keeps_no_gradients():
    model = nn.Sequential(nn.Flatten(), nn.Dropout(0.9), nn.Linear(4, 2)).train()
    data = batches(torch.randn(64, 4), torch.zeros(64, dtype=torch.long), 16)
    first = evaluate(model, data, nn.CrossEntropyLoss(), "cpu")
    assert not model.training and first == evaluate(model, data, nn.CrossEntropyLoss(), "cpu")
    assert all(p.grad is None for p in model.parameters())


# --- one epoch, and the loop -----------------------------------------------------------------------------

def test_train_one_epoch_steps_the_optimizer_and_the_schedule_once_per_batch():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    data = batches(torch.randn(40, 4), torch.arange(40) % 3, 16)  # 3 batches: 16, 16, 8
    criterion, optimizer, scheduler = make_training(model, TrainConfig(epochs=2), len(data))
    before = [p.clone() for p in model.parameters()]
    loss, accuracy = train_one_epoch(model.eval(), data, optimizer, criterion, "cpu", scheduler=scheduler)
    assert model.training and scheduler.last_epoch == 3
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert 0 <= accuracy <= 1 and loss > 0


def test_the_epochs_loss_is_the_mean_over_images_not_over_batches():
    """With the learning rate at zero nothing changes, so the epoch's loss is the whole split's."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    x, y = torch.randn(40, 4), torch.arange(40) % 3
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    loss, accuracy = train_one_epoch(model, batches(x, y, 16), optimizer, nn.CrossEntropyLoss(), "cpu")
    with torch.no_grad():
        logits = model(x)
    assert loss == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-6)
    assert accuracy == pytest.approx((logits.argmax(1) == y).float().mean().item())


def test_fit_ends_with_the_last_epochs_weights_whatever_validation_says(monkeypatch):
    """Validation accuracy made up as 0.5, 0.7, 0.6: the model keeps epoch 3's weights, not the best epoch's."""
    made_up = iter([0.5, 0.7, 0.6])
    monkeypatch.setattr(train, "evaluate", lambda model, loader, criterion, device, flips: (1.0, next(made_up)))
    torch.manual_seed(0)
    model = build_model("spec")
    data = batches(torch.randn(40, 1, 28, 28), torch.arange(40) % 10, 16)
    criterion, optimizer, scheduler = make_training(model, TrainConfig(epochs=3), len(data))
    history, weights = new_history(), []
    for _ in range(3):
        run_epoch(history, model, data, data, criterion, optimizer, scheduler, "cpu")
        weights.append({k: v.clone() for k, v in model.state_dict().items()})
    assert history["val_accs"] == [0.5, 0.7, 0.6] and len(history["seconds"]) == 3
    assert all(torch.equal(model.state_dict()[k], v) for k, v in weights[2].items())
    assert not all(torch.equal(model.state_dict()[k], v) for k, v in weights[1].items())
    assert scheduler.last_epoch == 3 * 3 and scheduler.get_last_lr()[0] == 0.0  # the schedule ends at zero


def fashion_loaders(fashion, recipe, subset):
    train_ds, val_ds = split_train_val(fashion.train, recipe.val_fraction, recipe.seed)
    train_ds = torch.utils.data.Subset(train_ds, range(subset))
    return (TensorLoader(train_ds, recipe.batch_size, "cpu", shuffle=True, augment=recipe.augment, seed=recipe.seed),
            TensorLoader(val_ds, EVAL_BATCH_SIZE, "cpu"))


def train_on(fashion, recipe, subset, variant="spec"):
    train_loader, val_loader = fashion_loaders(fashion, recipe, subset)
    torch.manual_seed(recipe.seed)
    model = build_model(variant).to(memory_format=torch.channels_last)
    criterion, optimizer, scheduler = make_training(model, recipe, len(train_loader))
    history = fit(model, train_loader, val_loader, criterion, optimizer, scheduler, "cpu", recipe.epochs)
    return model, val_loader, criterion, history


def test_training_on_real_fashion_mnist_clearly_beats_chance(fashion):
    recipe = TrainConfig(epochs=3)
    model, val_loader, criterion, history = train_on(fashion, recipe, 6000)
    assert len(history["train_losses"]) == 3 and history["train_losses"][-1] < history["train_losses"][0]
    # The model ends with the last epoch's weights, which give that epoch's validation accuracy again.
    assert evaluate(model, val_loader, criterion, "cpu")[1] == history["val_accs"][-1]
    test_loader = TensorLoader(fashion.test, EVAL_BATCH_SIZE, "cpu")
    assert evaluate(model, test_loader, criterion, "cpu")[1] > 0.70  # chance is 0.10


def test_the_same_seed_gives_the_same_history_and_another_seed_does_not(fashion):
    # Dropout (the global RNG) and crop-flip (the loader's generator) both take part.
    recipe = TrainConfig(epochs=2, augment="crop-flip", seed=7)
    runs = [train_on(fashion, recipe, 2000, "dropout") for _ in range(2)]
    assert without_timing(runs[0][3]) == without_timing(runs[1][3])
    for a, b in zip(runs[0][0].state_dict().values(), runs[1][0].state_dict().values()):
        assert torch.equal(a, b)
    other = train_on(fashion, TrainConfig(epochs=2, augment="crop-flip", seed=8), 2000, "dropout")
    assert without_timing(other[3]) != without_timing(runs[0][3])
