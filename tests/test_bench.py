"""The benchmark harness: both pipelines really train, the two spec forms agree, the report is complete.

No test asserts a speed: the machine is shared, so only the report's shape is checked.
"""

import re

import numpy as np
import pytest
import torch

from smallcnn.bench import (NotebookDataset, Pipelines, TorchvisionStyleDataset, copy_weights, make_workload,
                            run_bench, textbook_model, write_readme)
from smallcnn.cli import bench_command, build_parser
from smallcnn.data import load_dataset
from smallcnn.models import build_model

LAST_LINE = re.compile(r"^fashion-mnist training: smallcnn [\d,]+ img/s vs naive [\d,]+ img/s = \d+\.\dx; "
                       r"vs torchvision-style [\d,]+ img/s = \d+\.\dx$")


@pytest.fixture(scope="module")
def workload():
    return make_workload("fashion-mnist", load_dataset("fashion-mnist"), images=512, eval_images=256)


@pytest.mark.parametrize("shape", [(1, 28, 10), (3, 32, 100)])
def test_textbook_model_computes_the_same_function_as_the_pool_first_model(shape):
    channels, side, classes = shape
    torch.manual_seed(0)
    spec = build_model("spec", channels, side, classes)
    textbook = textbook_model(channels, side, classes)
    copy_weights(spec, textbook)
    x = torch.randn(16, channels, side, side)
    with torch.no_grad():
        expected = textbook(x)
        torch.testing.assert_close(spec(x), expected, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(spec.to(memory_format=torch.channels_last)(
            x.contiguous(memory_format=torch.channels_last)), expected, rtol=1e-5, atol=1e-5)


def test_naive_pipeline_trains_on_real_images(workload):
    pipes = Pipelines(workload)
    losses = [pipes.train_naive() for _ in range(3)]
    assert losses[-1] < losses[0]


def test_torchvision_style_samples_equal_the_plain_naive_ones(workload):
    plain, pil = workload.train_loader.dataset, workload.torchvision_loader.dataset
    for i in (0, 1, 99):
        torch.testing.assert_close(pil[i][0], plain[i][0], rtol=1e-6, atol=1e-6)
        assert pil[i][1] == plain[i][1]
    rgb = np.random.default_rng(0).integers(0, 256, (4, 3, 32, 32), dtype=np.uint8)
    args = (rgb, np.arange(4), [0.5, 0.4, 0.3], [0.2, 0.25, 0.3])
    torch.testing.assert_close(TorchvisionStyleDataset(*args)[2][0], NotebookDataset(*args)[2][0])


def test_smallcnn_training_step_trains_on_real_images(workload):
    pipes = Pipelines(workload)
    losses = [pipes.train_fast() for _ in range(3)]
    assert losses[-1] < losses[0]


def test_quick_bench_report_has_every_field_and_ends_with_the_ratio():
    # Fewer images than --quick's 2,000 keep the test short on a loaded machine; the code path is the same.
    lines = run_bench(quick=True, images=512, reps=1, log=lambda line: None)
    text = "\n".join(lines)
    for field in ("machine:", "cores", "torch 2.", "load average", "train img/s", "epoch s", "eval img/s",
                  "peak MB", "VmHWM"):
        assert field in text
    for workload in ("fashion-mnist", "cifar100"):
        for pipeline in ("naive", "smallcnn", "ratio"):
            assert re.search(rf"^{workload}\s+{pipeline}\s", text, re.MULTILINE), (workload, pipeline)
    assert LAST_LINE.match(lines[-1]), lines[-1]


def test_write_readme_replaces_only_the_generated_section(tmp_path):
    readme = tmp_path / "README.md"
    write_readme(readme, "smallcnn bench", ["first"])
    readme.write_text(readme.read_text() + "\nhand-written notes\n")
    write_readme(readme, "smallcnn bench --quick", ["second"])
    text = readme.read_text()
    assert "second" in text and "first" not in text and "hand-written notes" in text
    assert "Command: `smallcnn bench --quick`" in text


def test_bench_is_a_cli_command():
    args = build_parser().parse_args(["bench", "--quick", "--levers", "--full-run", "--threads", "1", "--write-readme"])
    assert args.handler is bench_command
    assert (args.quick, args.levers, args.full_run, args.threads, args.write_readme) == (
        True, True, True, 1, "benchmarks/README.md")
