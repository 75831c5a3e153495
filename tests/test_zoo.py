"""The architecture zoo: every recipe builds with the parameter count computed by hand, the small
ones train for one epoch, and `pipeline show` reports the course's worked example."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest

from pipeline.model.network import build_model
from pipeline.cli import main
from pipeline.components import build
from pipeline.recipe import load_recipe
from tests.conftest import RECIPES

pytestmark = pytest.mark.usefixtures("backend_started")

TINY = ["--set", "data.source.num_samples=48", "--set", "data.source.num_test=16"]

# Parameter counts by hand (BatchNorm: 4 per channel, gamma, beta and the two moving statistics).
LENET5 = (5 * 5 * 1 * 6 + 6) + (5 * 5 * 6 * 16 + 16) + (400 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10)
_BLOCK16 = 2 * (3 * 3 * 16 * 16 + 4 * 16)
_STAGE2 = (3 * 3 * 16 * 32 + 4 * 32) + (3 * 3 * 32 * 32 + 4 * 32) + (16 * 32 + 4 * 32) + 2 * 2 * (3 * 3 * 32 * 32 + 4 * 32)
_STAGE3 = (3 * 3 * 32 * 64 + 4 * 64) + (3 * 3 * 64 * 64 + 4 * 64) + (32 * 64 + 4 * 64) + 2 * 2 * (3 * 3 * 64 * 64 + 4 * 64)
RESNET20 = (3 * 3 * 3 * 16 + 4 * 16) + 3 * _BLOCK16 + _STAGE2 + _STAGE3 + (64 * 6 + 6)

ZOO = {  # recipe: (hand-computed parameter count or None, input shape)
    "lenet5-digits": (LENET5, (8, 8, 1)),
    "alexnet-shapes": (None, (32, 32, 3)),
    "vgg-shapes": (None, (32, 32, 3)),
    "resnet20-shapes": (RESNET20, (32, 32, 3)),
    "resnet18-shapes": (None, (32, 32, 3)),
    "unet-shapes": (None, (32, 32, 3)),
    "shapes-pretrain": (None, (32, 32, 3)),
    "shapes-finetune": (None, (32, 32, 3)),
}


def test_hand_counts_are_the_published_ones():
    assert LENET5 == 61_706            # LeNet-5's "60k parameters"
    assert 270_000 < RESNET20 < 275_000  # He et al.: ResNet-20 has 0.27M


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_recipe_builds(name):
    count, shape = ZOO[name]
    loaded = load_recipe(RECIPES / f"{name}.yaml")
    model = build_model(loaded.plan.layers, loaded.plan.outputs, shape, name=name)
    if count is not None:
        assert model.count_params() == count
    if name == "resnet18-shapes":
        assert 11_000_000 < model.count_params() < 11_300_000  # ResNet-18: 11.2M (CIFAR stem, 6 classes)
    if name == "unet-shapes":  # one mask channel per pixel, at the input's resolution
        assert tuple(model.output.shape) == (None, 32, 32, 1)


def test_every_zoo_recipe_is_in_the_table():
    shipped = {p.stem for p in RECIPES.glob("*.yaml")}
    assert shipped >= set(ZOO)


@pytest.mark.parametrize("name, extra", [
    ("lenet5-digits", []),
    ("vgg-shapes", TINY),                    # has tta: flips, so test_tta_* is logged too
    ("unet-shapes", TINY),                   # segmentation: per-pixel loss and IoU
])
def test_small_zoo_recipes_train_one_epoch(name, extra, tracking_uri, capsys):
    code = main(["run", str(RECIPES / f"{name}.yaml"), "--set", "train.epochs=1", "--set",
                 "track.log_model=false", "--set", "track.experiment=zoo-test", *extra])
    assert code == 0, capsys.readouterr().err
    mlflow.set_tracking_uri(tracking_uri)
    (run,) = mlflow.search_runs(experiment_names=["zoo-test"], output_format="list")
    metrics = run.data.metrics
    assert np.isfinite(metrics["test_loss"])
    if name == "vgg-shapes":
        assert {"test_tta_accuracy", "test_tta_loss"} <= set(metrics)
    if name == "unet-shapes":
        assert 0.0 <= metrics["test_iou"] <= 1.0


COURSE_EXAMPLE = """\
data:
  source: {type: shapes, num_samples: 8, num_test: 4}
model:
  layers:
    - {type: zero_pad2d, padding: 2, name: pad}
    - {type: conv2d, filters: 10, kernel_size: 5, strides: 1, name: ten_5x5_filters}
    - {type: global_avg_pool2d}
    - {type: dense, units: 3}
train: {epochs: 1, loss: sparse_categorical_crossentropy}
"""


def test_show_prints_the_course_worked_example(write_recipe, capsys):
    """Input 32x32x3, ten 5x5 filters, stride 1, pad 2: (5*5*3 + 1) * 10 = 760 parameters and a
    (32 + 2*2 - 5)/1 + 1 = 32, i.e. 32x32x10, output."""
    assert main(["show", str(write_recipe("course.yaml", COURSE_EXAMPLE))]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("ten_5x5_filters "))
    assert row.split()[1:] == ["Conv2D", "(None,", "32,", "32,", "10)", "760", "760"]
    assert "total parameters: 793 (trainable 793," in out  # + the head: 10 * 3 + 3


def test_shapes_classes_select_related_tasks():
    """The same pictures, other kinds: label i is classes[i] (the transfer demo's two tasks)."""
    from plugins.datasets.shapes import shape_mask

    assert shape_mask("square", 8, 4, 4, 2).sum() == 16          # |dx|, |dy| <= 1.7: 4 x 4 pixels
    assert shape_mask("circle", 9, 4.5, 4.5, 1).sum() == 5        # the centre and its 4 neighbours
    data = build(load_recipe(RECIPES / "shapes-finetune.yaml").plan.source)
    assert set(np.unique(data.y)) == {0, 1, 2} and data.x.shape[1:] == (32, 32, 3)
