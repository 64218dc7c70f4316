"""The model: the assignment's layer order, its parameter counts, and every named variant."""

import re

import pytest
import torch
from torch import nn

from smallcnn.cli import main
from smallcnn.core.models import VARIANTS, SmallCNN, StudyCNN, build_model, count_parameters

FASHION = (1, 28, 10)   # in_channels, image side, classes
CIFAR100 = (3, 32, 100)


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def layer_kinds(model):
    """The layer class names in the order `print(model)` shows them."""
    return [kind for kind in re.findall(r"\(\w+\): (\w+)\(", repr(model)) if kind != "Sequential"]


@pytest.mark.parametrize("variant, shape, params", [
    ("spec", FASHION, 2_741),
    ("spec", CIFAR100, 27_171),
    ("wide-bn", CIFAR100, 298_372),
])
def test_parameter_counts(variant, shape, params):
    assert count_parameters(build_model(variant, *shape)) == params


def test_spec_parameter_count_is_the_sum_of_its_layers_by_hand():
    # Conv 3x3 weights + bias per layer, then Linear(16 * 3 * 3 -> 10): the published 2,741.
    convs = [(1, 10), (10, 5), (5, 16)]
    by_hand = sum(cin * cout * 9 + cout for cin, cout in convs) + (16 * 3 * 3) * 10 + 10
    assert by_hand == 2_741 == count_parameters(build_model("spec"))


def test_print_shows_conv_relu_maxpool_three_times_then_linear():
    kinds = layer_kinds(build_model("spec"))
    assert kinds == ["Conv2d", "ReLU", "MaxPool2d"] * 3 + ["Linear"]
    text = repr(build_model("spec"))
    assert text.index("Conv2d(1, 10") < text.index("Conv2d(10, 5") < text.index("Conv2d(5, 16")
    assert "in_features=144, out_features=10" in text


def test_spec_layers_have_the_assignments_shapes():
    model = build_model("spec")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [10, 5, 16]
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) and c.bias is not None for c in convs)
    x = torch.zeros(1, 1, 28, 28)
    sides = []
    for layer in model.features:
        x = layer(x)
        if isinstance(layer, nn.MaxPool2d):
            sides.append(tuple(x.shape[1:]))
    assert sides == [(10, 14, 14), (5, 7, 7), (16, 3, 3)]


def test_the_forward_pass_is_conv_relu_pool_in_that_order():
    # The same weights applied literally in the assignment's order give the same logits.
    torch.manual_seed(0)
    model = build_model("spec").eval()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    x = torch.randn(8, 1, 28, 28)
    y = x
    for conv in convs:
        y = nn.functional.max_pool2d(torch.relu(conv(y)), 2)
    torch.testing.assert_close(model(x), model.fc(y.flatten(1)), rtol=0, atol=1e-6)


@pytest.mark.parametrize("shape", [FASHION, CIFAR100], ids=["fashion-mnist", "cifar100"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_variant_runs_forward_on_both_shapes(variant, shape):
    channels, side, classes = shape
    torch.manual_seed(0)
    model = build_model(variant, channels, side, classes)
    model.train()  # batchnorm and dropout in training mode, then evaluation mode
    out = model(torch.randn(4, channels, side, side))
    assert out.shape == (4, classes) and torch.isfinite(out).all()
    model.eval()
    assert model(torch.randn(1, channels, side, side)).shape == (1, classes)


@pytest.mark.parametrize("variant, side, in_features", [
    ("spec", 28, 16 * 3 * 3),      # 28 -> 14 -> 7 -> 3
    ("spec", 32, 16 * 4 * 4),      # 32 -> 16 -> 8 -> 4
    ("gap", 32, 16),
    ("wide2", 28, 32 * 3 * 3),
    ("no-bottleneck", 32, 16 * 4 * 4),
    ("wide-bn", 32, 128 * 4 * 4),
])
def test_linear_input_size_follows_the_geometry(variant, side, in_features):
    model = build_model(variant, 1, side, 10)
    assert model.fc.in_features == in_features
    assert model.features(torch.zeros(2, 1, side, side)).flatten(1).shape == (2, in_features)


def test_batchnorm_goes_between_conv_and_relu_and_replaces_the_conv_bias():
    model = build_model("batchnorm")
    assert layer_kinds(model) == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"] * 3 + ["Linear"]
    assert all(m.bias is None for m in model.modules() if isinstance(m, nn.Conv2d))


def test_dropout_acts_in_training_only():
    torch.manual_seed(0)
    model = build_model("dropout")
    x = torch.randn(16, 1, 28, 28)
    model.eval()
    torch.testing.assert_close(model(x), model(x))
    model.train()
    assert not torch.equal(model(x), model(x))


def test_spec_variant_is_the_default_smallcnn():
    assert VARIANTS["spec"] == {}
    assert repr(build_model("spec", 3, 32, 100)) == repr(SmallCNN(3, 32, 100))


@pytest.mark.parametrize("shape", [(1, 28, 10), (3, 32, 100)])
def test_study_cnn_at_its_defaults_is_the_spec_model_weight_for_weight(shape):
    torch.manual_seed(0)
    spec = SmallCNN(*shape)
    torch.manual_seed(0)
    study = StudyCNN(*shape)
    assert repr(spec).replace("SmallCNN", "StudyCNN") == repr(study)
    assert all(torch.equal(a, b) for a, b in zip(spec.state_dict().values(), study.state_dict().values(), strict=True))


def test_unknown_variant_is_an_error_listing_the_choices():
    with pytest.raises(ValueError, match=r"unknown variant 'resnet'; choose from: spec, wide2, .*wide-bn"):
        build_model("resnet")


def test_model_command_prints_the_layer_table(capsys):
    assert main(["model", "fashion-mnist"]) == 0
    out = capsys.readouterr().out
    kinds = re.findall(r"^\S+ (Conv2d|ReLU|MaxPool2d|Linear)\b", out, flags=re.M)
    assert kinds == ["Conv2d", "ReLU", "MaxPool2d"] * 3 + ["Linear"]
    assert re.search(r"^total\s+2,741$", out, flags=re.M)
    assert "16x3x3" in out or "144" in out
