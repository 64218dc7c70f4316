"""The lever study: its rewrites compute the same function, and its report names every lever.

No test asserts a speed: the machine is shared, so only equivalence and the report's shape are checked.
"""

import re

import pytest
import torch
from torch import nn

from smallcnn.bench import make_workload
from smallcnn.data import load_dataset
from smallcnn.levers import (EVAL_LEVERS, SHIPPED, TRAIN_LEVERS, Im2colFirstConv, data_parallel_pass,
                             flat_parameters, lever_study, lever_train_pass, profile_lines)


@pytest.fixture(scope="module")
def workload():
    return make_workload("fashion-mnist", load_dataset("fashion-mnist"), images=512, eval_images=256)


@pytest.mark.parametrize("padding", [1, 0])
def test_im2col_first_conv_is_the_same_function_with_the_same_gradients(padding):
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 10, 3, padding=padding)
    im2col = Im2colFirstConv(conv)
    x = torch.randn(8, 1, 28, 28)
    expected, got = conv(x), im2col(x)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(expected)
    expected_grads = torch.autograd.grad(expected, [conv.weight, conv.bias], g)
    got_grads = torch.autograd.grad(got, [conv.weight, conv.bias], g)
    for want, have in zip(expected_grads, got_grads):
        torch.testing.assert_close(have, want, rtol=1e-4, atol=1e-4)


def test_im2col_first_conv_refuses_more_than_one_input_channel():
    with pytest.raises(ValueError, match="one input channel"):
        Im2colFirstConv(nn.Conv2d(3, 10, 3))


def test_two_data_parallel_processes_make_the_same_updates_as_one(workload):
    settings = {**SHIPPED, "processes": 2, "threads": 1}
    seconds, parallel = data_parallel_pass(settings, workload.tensors, 384, "none")
    single = flat_parameters(lever_train_pass(SHIPPED, workload.tensors, 384, "none"))
    assert seconds > 0
    torch.testing.assert_close(parallel, single, rtol=1e-4, atol=1e-5)
    untrained = flat_parameters(lever_train_pass(SHIPPED, workload.tensors, 0, "none"))
    assert not torch.allclose(single, untrained)  # three steps really moved the weights


def test_lever_study_reports_every_lever(workload):
    lines = lever_study(workload.tensors, "flip", images=256, eval_images=256, reps=1, log=lambda line: None)
    text = "\n".join(lines)
    for lever, _, _ in TRAIN_LEVERS:
        assert lever in text
    assert "evaluation" in text
    assert len(lines) == 2 + len(TRAIN_LEVERS) + len(EVAL_LEVERS)  # a header, then one row per lever
    assert all(re.search(r"\d\.\d\dx$", line) for line in lines[2:])


def test_profile_names_the_costliest_operators_of_the_training_step(workload):
    lines = profile_lines(workload.tensors, steps=3, top=5)
    assert "profile of the shipped training step" in lines[0]
    assert len(lines) == 6
    shares = [float(re.search(r"([\d.]+)%", line).group(1)) for line in lines[1:]]
    assert shares == sorted(shares, reverse=True) and 0 < sum(shares) <= 100.01
    assert any("convolution" in line for line in lines[1:])
