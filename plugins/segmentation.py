"""Per-pixel loss and metric for segmentation masks (the U-Net recipe): Dice loss and IoU."""

from __future__ import annotations

from pipeline.registries import losses, metrics
from pipeline.tasks import for_task
from pipeline.values import UnitInterval


@losses.register("dice")
@for_task("classification")  # of every pixel: foreground or not
def dice():
    """Dice loss 1 - 2|P∩Y| / (|P| + |Y|) on probabilities (sigmoid outputs) and 0/1 masks; insensitive to how small the foreground is."""
    import keras

    return keras.losses.Dice()


@metrics.register("iou", aliases=("binary_iou",))
@for_task("classification")
def iou(threshold: UnitInterval = 0.5):
    """Intersection over union of the foreground: pixels with output > threshold against 0/1 masks (threshold 0 for logits)."""
    from plugins.segmentation_keras import ForegroundIoU

    return ForegroundIoU(threshold=threshold)
