import pytest
import torch
from torch import nn

from smallcnn.models import VARIANTS, SmallCNN, build_model, count_parameters, feature_side, layer_table


def textbook_spec(model):
    """The assignment's layer order written out literally (ReLU before max-pool), sharing model's weights."""
    layers = []
    for block in model.blocks:
        layers += [block.conv, nn.ReLU(), nn.MaxPool2d(2)]
    return nn.Sequential(*layers, nn.Flatten(), model.classifier)


@pytest.mark.parametrize("shape, classes, params", [((1, 28, 28), 10, 2741), ((3, 32, 32), 100, 27171)])
def test_spec_model_parameters_and_output_shape(shape, classes, params):
    model = build_model("spec", shape[0], shape[1], classes)
    assert count_parameters(model) == params
    assert model(torch.zeros(5, *shape)).shape == (5, classes)


def test_pool_before_relu_is_the_same_function_as_the_spec_order():
    torch.manual_seed(0)
    model = build_model("spec").eval()
    x = torch.randn(16, 1, 28, 28)
    torch.testing.assert_close(model(x), textbook_spec(model)(x), rtol=0, atol=1e-6)


def test_linear_input_size_is_computed_from_the_geometry():
    assert feature_side(28, 1, 3) == 3 and feature_side(28, 0, 3) == 1 and feature_side(32, 1, 3) == 4
    model = SmallCNN(padding=0)
    assert model.classifier.in_features == 16 and model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ValueError):
        feature_side(8, 0, 3)


def test_layer_table_follows_the_blocks_and_sums_to_the_parameter_count():
    model = build_model("spec")
    rows = layer_table(model, (1, 28, 28))
    kinds = [name.split("(")[1].rstrip(")") for name, _, _ in rows]
    assert kinds == ["Conv2d", "MaxPool2d", "ReLU"] * 3 + ["Linear"]
    assert [shape for name, shape, _ in rows if "conv" in name] == [(10, 28, 28), (5, 14, 14), (16, 7, 7)]
    assert sum(params for _, _, params in rows) == count_parameters(model)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_variant_builds_for_cifar100_and_spec_is_untouched(variant):
    model = build_model(variant, 3, 32, 100)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 100)
    assert VARIANTS["spec"] == {}


def test_unknown_variant_lists_the_choices():
    with pytest.raises(ValueError, match="choose from: spec"):
        build_model("resnet")
