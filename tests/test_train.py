"""The training core: the recipe, the learning-rate schedules, augmentation, the loop and evaluation."""

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from smallcnn.core import train
from smallcnn.core.data import make_splits, random_split
from smallcnn.core.models import build_model
from smallcnn.core.train import (
    MIN_EPOCHS,
    TrainConfig,
    TrainState,
    augment,
    default_config,
    evaluate,
    fit,
    lr_factor,
    make_training,
    train_epoch,
)

TIMING = ("seconds", "images_per_second")


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def without_timing(history):
    return [{k: v for k, v in row.items() if k not in TIMING} for row in history]


# --- the recipe --------------------------------------------------------------------------------------------

def test_default_recipes_and_overrides():
    fashion = default_config("fashion-mnist")
    assert fashion == TrainConfig() and fashion.epochs >= MIN_EPOCHS == 15
    assert (fashion.lr, fashion.epochs, fashion.augment) == (0.05, 25, "none")
    cifar = default_config("cifar100")
    assert (cifar.augment, cifar.lr, cifar.epochs) == ("crop-flip", 0.05, MIN_EPOCHS)
    # A change replaces the recipe's value and leaves the rest of the recipe alone.
    changed = default_config("cifar100", lr=0.2, epochs=3)
    assert (changed.lr, changed.epochs, changed.augment) == (0.2, 3, "crop-flip")


def test_make_training_follows_the_config():
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
    # The last batch holds one image: ceil(images / batch size) steps per epoch.
    _, optimizer, scheduler = make_training(nn.Linear(2, 2), config, (steps_per_epoch - 1) * config.batch_size + 1)
    total = epochs * steps_per_epoch
    used = []
    for _ in range(total):
        used.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert used == pytest.approx([0.4 * lr_factor(step, total) for step in range(total)])
    assert max(used) == pytest.approx(0.4)
    assert scheduler.get_last_lr()[0] == 0.0  # after the run's last step the rate is zero


# --- augmentation -----------------------------------------------------------------------------------------

def source_of(out, original, pad=4):
    """(dy, dx, flipped) of the window of the reflect-padded original that `out` is, or None."""
    _, h, w = original.shape
    padded = F.pad(original[None], (pad,) * 4, mode="reflect")[0]
    for dy in range(2 * pad + 1):
        for dx in range(2 * pad + 1):
            window = padded[:, dy:dy + h, dx:dx + w]
            if torch.equal(out, window):
                return dy, dx, False
            if torch.equal(out, window.flip(-1)):
                return dy, dx, True
    return None


def test_none_is_the_identity():
    images = torch.randn(4, 1, 28, 28)
    assert torch.equal(augment(images, "none", torch.Generator().manual_seed(0)), images)


def test_crop_flip_keeps_shapes_and_each_image_stays_with_its_label():
    torch.manual_seed(0)
    images = torch.randn(200, 3, 32, 32)
    out = augment(images, "crop-flip", torch.Generator().manual_seed(1))
    assert out.shape == images.shape and out.dtype == images.dtype
    # Image i of the output is a window (maybe mirrored) of image i of the input: the labels still match.
    sources = [source_of(o, i) for o, i in zip(out, images)]
    assert None not in sources
    offsets = {s[:2] for s in sources}
    # The offsets span the whole -4..+4 range both ways, and about half the images are mirrored.
    assert {dy for dy, _ in offsets} == set(range(9)) and {dx for _, dx in offsets} == set(range(9))
    assert 70 < sum(s[2] for s in sources) < 130


def test_crop_flip_actually_changes_the_images():
    images = torch.randn(64, 3, 32, 32)
    out = augment(images, "crop-flip", torch.Generator().manual_seed(0))
    changed = sum(not torch.equal(o, i) for o, i in zip(out, images))
    assert changed >= 56  # an image stays as it was only for the centre crop without a flip (1 in 162)


def test_crop_uses_reflect_padding_so_no_zero_border_appears():
    images = torch.rand(32, 3, 32, 32) + 1.0
    assert (augment(images, "crop-flip", torch.Generator().manual_seed(0)) >= 1.0).all()


def test_flip_mirrors_about_half_the_batch_and_keeps_the_rest():
    images = torch.randn(1000, 1, 28, 28)
    out = augment(images, "flip", torch.Generator().manual_seed(0))
    mirrored = [torch.equal(o, i.flip(-1)) for o, i in zip(out, images)]
    unchanged = [torch.equal(o, i) for o, i in zip(out, images)]
    assert all(m != u for m, u in zip(mirrored, unchanged))
    assert 430 < sum(mirrored) < 570


@pytest.mark.parametrize("kind", ["flip", "crop-flip"])
def test_augmentation_is_reproducible_from_the_generator_state(kind):
    images = torch.randn(32, 3, 16, 16)
    generator = torch.Generator().manual_seed(3)
    torch.rand(5, generator=generator)  # not at the start of the stream
    saved = generator.get_state()
    first = augment(images, kind, generator)
    again = torch.Generator()
    again.set_state(saved)
    assert torch.equal(augment(images, kind, again), first)
    # The generator moved on: the next batch draws new crops and flips; another seed draws others.
    assert not torch.equal(augment(images, kind, generator), first)
    assert not torch.equal(augment(images, kind, torch.Generator().manual_seed(4)), first)


# --- splits ----------------------------------------------------------------------------------------------

def test_splits_are_normalised_with_the_training_split_statistics_only():
    n = 300
    # Brightness grows with the index, so any validation or test image in the statistics would show.
    images = (torch.arange(n)[:, None, None, None] * 0.6 + torch.randint(0, 60, (n, 3, 8, 8))).to(torch.uint8)
    test_images = torch.randint(100, 256, (50, 3, 8, 8), dtype=torch.uint8)
    labels, test_labels = torch.arange(n) % 10, torch.arange(50) % 10
    splits = make_splits(images, labels, test_images, test_labels, val_fraction=0.2, seed=5)
    train_idx, val_idx = random_split(n, 0.2, 5)
    train = images[train_idx].float() / 255
    expected_mean, expected_std = train.mean(dim=(0, 2, 3)), train.std(dim=(0, 2, 3))
    torch.testing.assert_close(torch.tensor(splits.mean), expected_mean)
    torch.testing.assert_close(torch.tensor(splits.std), expected_std)
    assert not torch.allclose(torch.tensor(splits.mean), (images.float() / 255).mean(dim=(0, 2, 3)), atol=1e-4)
    torch.testing.assert_close(splits.train_x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    # Test images are normalised with the same numbers, so their mean is not forced to zero.
    expected_test = (test_images.float() / 255 - expected_mean[:, None, None]) / expected_std[:, None, None]
    torch.testing.assert_close(splits.test_x, expected_test)
    assert splits.test_x.mean() > 0.5
    assert torch.equal(splits.val_y, labels[val_idx]) and len(splits.val_y) == 60
    assert set(train_idx.tolist()).isdisjoint(val_idx.tolist())


# --- evaluation ------------------------------------------------------------------------------------------

def test_evaluate_on_a_hand_made_case():
    """The 'images' are the logits themselves (an identity model), split into uneven batches."""
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    labels = torch.tensor([0, 1, 0, 0, 2])  # rows 0, 1 and 3 right; 2 and 4 wrong
    criterion = nn.CrossEntropyLoss()
    loss, accuracy, predictions = evaluate(nn.Identity(), logits, labels, criterion, batch_size=2)
    assert accuracy == pytest.approx(3 / 5)
    assert predictions.tolist() == [0, 1, 2, 0, 1]
    assert loss == pytest.approx(F.cross_entropy(logits, labels).item())


def test_evaluate_puts_the_model_in_evaluation_mode():
    model = nn.Sequential(nn.Flatten(), nn.Dropout(0.9), nn.Linear(4, 2)).train()
    x = torch.randn(64, 4)
    first = evaluate(model, x, torch.zeros(64, dtype=torch.long), nn.CrossEntropyLoss())
    second = evaluate(model, x, torch.zeros(64, dtype=torch.long), nn.CrossEntropyLoss())
    assert not model.training and first[0] == second[0] and torch.equal(first[2], second[2])


# --- the training loop -----------------------------------------------------------------------------------

def tiny_splits(train_x, train_y):
    return SimpleNamespace(train_x=train_x, train_y=train_y, val_x=train_x[:4], val_y=train_y[:4],
                           test_x=train_x[:4], test_y=train_y[:4], mean=[0.0], std=[1.0])


def test_non_finite_loss_raises_floating_point_error():
    x = torch.randn(32, 1, 28, 28)
    x[5, 0, 3, 3] = float("nan")
    splits = tiny_splits(x, torch.arange(32) % 10)
    config = TrainConfig(epochs=1, batch_size=8)
    model = build_model("spec")
    criterion, optimizer, scheduler = make_training(model, config, len(splits.train_y))
    lr = TrainConfig().lr
    with pytest.raises(FloatingPointError, match=rf"loss became nan; lower the learning rate \(now {lr}\)"):
        train_epoch(model, splits, criterion, optimizer, scheduler, config, torch.Generator().manual_seed(0))
    with pytest.raises(FloatingPointError):
        fit(model, splits, criterion, optimizer, scheduler, config)


def test_fit_ends_with_the_last_epochs_weights_whatever_validation_says(monkeypatch):
    """Validation accuracy made up as 0.5, 0.7, 0.6: the model keeps epoch 3's weights, not the best epoch's."""
    made_up = iter([0.5, 0.7, 0.6])
    monkeypatch.setattr(train, "evaluate", lambda model, x, y, criterion: (1.0, next(made_up), None))
    torch.manual_seed(0)
    splits = tiny_splits(torch.randn(40, 1, 28, 28), torch.arange(40) % 10)
    config = TrainConfig(epochs=3, batch_size=16)
    model = build_model("spec")
    criterion, optimizer, scheduler = make_training(model, config, len(splits.train_y))
    weights = []
    state = fit(model, splits, criterion, optimizer, scheduler, config,
                on_epoch_end=lambda s: weights.append({k: v.clone() for k, v in model.state_dict().items()}))
    assert [row["val_accuracy"] for row in state.history] == [0.5, 0.7, 0.6]
    assert all(torch.equal(model.state_dict()[k], v) for k, v in weights[2].items())
    assert not all(torch.equal(model.state_dict()[k], v) for k, v in weights[1].items())
    assert scheduler.last_epoch == 3 * 3  # one scheduler step per batch: 40 images in batches of 16
    assert state.history[-1]["lr"] == 0.0


def train_on(fashion, config, variant="spec"):
    splits = make_splits(fashion.train_images, fashion.train_labels, fashion.test_images, fashion.test_labels,
                         config.val_fraction, config.seed, config.subset)
    torch.manual_seed(config.seed)
    model = build_model(variant).to(memory_format=torch.channels_last)
    criterion, optimizer, scheduler = make_training(model, config, len(splits.train_y))
    ends = []
    state = fit(model, splits, criterion, optimizer, scheduler, config,
                on_epoch_end=lambda s: ends.append(len(s.history)))
    return model, splits, criterion, state, ends


def test_training_on_real_fashion_mnist_clearly_beats_chance(fashion):
    config = default_config("fashion-mnist", subset=6000, epochs=3)
    model, splits, criterion, state, ends = train_on(fashion, config)
    assert ends == [1, 2, 3] and [row["epoch"] for row in state.history] == [1, 2, 3]
    assert len(splits.train_y) == 6000
    assert state.history[-1]["train_loss"] < state.history[0]["train_loss"]
    assert state.history[-1]["lr"] == 0.0  # the one-cycle schedule ends at zero
    # The model ends with the last epoch's weights, which give that epoch's validation accuracy again.
    assert evaluate(model, splits.val_x, splits.val_y, criterion)[1] == state.history[-1]["val_accuracy"]
    test_accuracy = evaluate(model, splits.test_x, splits.test_y, criterion)[1]
    assert test_accuracy > 0.70  # chance is 0.10


def test_the_same_seed_gives_the_same_history_and_another_seed_does_not(fashion):
    # Dropout (the global RNG) and crop-flip (the run's generator) both take part.
    config = default_config("fashion-mnist", subset=2000, epochs=2, augment="crop-flip", seed=7)
    runs = [train_on(fashion, config, "dropout") for _ in range(2)]
    assert without_timing(runs[0][3].history) == without_timing(runs[1][3].history)
    for a, b in zip(runs[0][0].state_dict().values(), runs[1][0].state_dict().values()):
        assert torch.equal(a, b)
    other = train_on(fashion, default_config("fashion-mnist", subset=2000, epochs=2, augment="crop-flip", seed=8),
                     "dropout")
    assert without_timing(other[3].history) != without_timing(runs[0][3].history)


def test_fit_continues_a_state_where_it_stopped(fashion):
    """fit(state=...) after an interruption finishes with the history of an uninterrupted run."""
    config = default_config("fashion-mnist", subset=1500, epochs=3, augment="flip", seed=2)
    _, _, _, straight, _ = train_on(fashion, config)

    splits = make_splits(fashion.train_images, fashion.train_labels, fashion.test_images, fashion.test_labels,
                         config.val_fraction, config.seed, config.subset)
    torch.manual_seed(config.seed)
    model = build_model("spec").to(memory_format=torch.channels_last)
    criterion, optimizer, scheduler = make_training(model, config, len(splits.train_y))
    state = TrainState(torch.Generator().manual_seed(config.seed))

    def stop_after_epoch_1(s):
        if len(s.history) == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(model, splits, criterion, optimizer, scheduler, config, state, stop_after_epoch_1)
    assert len(state.history) == 1
    resumed = fit(model, splits, criterion, optimizer, scheduler, config, state)
    assert [row["epoch"] for row in resumed.history] == [1, 2, 3]
    assert without_timing(resumed.history) == without_timing(straight.history)
