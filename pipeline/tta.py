"""Test-time augmentation: the test predictions averaged over fixed transforms of each image.

The course: at test time, average the predictions over a fixed set of crops (and their flips).
Each crop is resized back to the model's input size, so any image model accepts it. The model's
outputs are averaged as they are (logits if the model outputs logits, the usual choice with
`from_logits: true`), then scored with the recipe's loss and metrics and logged as `test_tta_*`.
"""

from __future__ import annotations

from pipeline.components import build
from pipeline.data.batches import keras_inputs
from pipeline.lazy import LazyModule
from pipeline.model.training import build_metrics
from pipeline.recipe.transfer_schema import TTA

keras = LazyModule("keras")


def crop_boxes(height: int, width: int, size: int, positions: list[str]) -> list[tuple[int, int]]:
    """Top-left corners (row, column) of the `size` x `size` crops at `positions`."""
    if size > min(height, width):
        raise ValueError(f"tta.crops.size {size} is larger than the {height}x{width} input")
    corner = {"center": ((height - size) // 2, (width - size) // 2), "top_left": (0, 0),
              "top_right": (0, width - size), "bottom_left": (height - size, 0),
              "bottom_right": (height - size, width - size)}
    return [corner[p] for p in positions]


def views(images, tta: TTA) -> list:
    """The transformed batches: the image, each crop (resized back), and the flips of all of them."""
    from keras import ops

    height, width = images.shape[1], images.shape[2]
    out = [images]
    if tta.crops is not None:
        size = tta.crops.size
        for top, left in crop_boxes(height, width, size, tta.crops.positions):
            crop = images[:, top:top + size, left:left + size, :]
            out.append(ops.image.resize(crop, (height, width), interpolation="bilinear"))
    axes = {"horizontal": 2, "vertical": 1}
    return out + [ops.flip(view, axis=axes[flip]) for flip in tta.flips for view in out]


def tta_model(model, tta: TTA):
    """A model whose output is the mean of `model`'s outputs over `views` of its input."""
    from keras import ops

    if len(model.inputs) != 1 or len(model.inputs[0].shape) != 4:
        raise ValueError(f"tta needs a model with one image input (batch, height, width, channels). "
                         f"Received inputs: {[tuple(i.shape) for i in model.inputs]}")
    if len(model.outputs) != 1 or len(model.outputs[0].shape) != 2:
        raise ValueError("tta averages class scores: expected one (batch, classes) output "
                         "(a spatial output would need the transforms undone)")

    class Average(keras.layers.Layer):  # local: never saved, built for one evaluation
        def __init__(self, inner, **kwargs):
            super().__init__(**kwargs)
            self.inner = inner  # tracked: its variables are the TTA model's

        def call(self, images):
            outputs = [self.inner(view, training=False) for view in views(images, tta)]
            return ops.mean(ops.stack(outputs), axis=0)

    # The same layers as an uncompiled model: a compiled one would bring its own loss and metric
    # trackers into the TTA model's results (Keras collects sub-layers' metrics).
    inner = keras.Model(model.inputs, model.outputs, name=f"{model.name}_inner")
    inputs = keras.Input(model.inputs[0].shape[1:])
    return keras.Model(inputs, Average(inner)(inputs), name=f"{model.name}_tta")


def evaluate_tta(model, plan, x_test, y_test, batch_size: int) -> dict[str, float]:
    """The recipe's loss and metrics on the TTA predictions, as `test_tta_<name>`."""
    tta = plan.recipe.train.tta
    averaged = tta_model(model, tta)
    averaged.compile(loss=build(plan.loss), metrics=build_metrics(plan)[0])
    scores = averaged.evaluate(**keras_inputs(x_test, y_test, tta.batch_size or batch_size), verbose=0,
                               return_dict=True)
    return {f"test_tta_{k}": float(v) for k, v in scores.items()}
