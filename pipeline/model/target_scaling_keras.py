"""Standardized regression targets, the Keras side: the model's last layer maps its output from
standardized units back to the targets' units, and the loss standardizes both sides again.

Training on (y - mean) / std is then exactly what the network sees (its output layer works at unit
scale), while everything that reads predictions (metrics, test reports, the verdict, the saved
model) reads the original units. The mapping is the pipeline's `Affine` layer (non-trainable
statistics, saved with the weights), so a saved model reloads with
`import pipeline.data.preprocess_keras` as for the input preprocessing; the loss lives only in the
compiled training model (and its checkpoints: import this module to reload those compiled).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from pipeline.data.preprocess_keras import Affine
from pipeline.speed import output_scope

LAYER_NAME = "target_scaling"


def with_target_scaling(model, scaling):
    """`model` ending in a fixed layer `output * std + mean` (the same model when `scaling` is None)."""
    if scaling is None:
        return model

    with output_scope(True):  # float32 outputs under a mixed precision policy, as the output layers
        # (z - shift) * scale with shift = -mean / std, scale = std is z * std + mean
        layer = Affine.from_statistics(-scaling.mean / scaling.std, scaling.std, name=LAYER_NAME)
    return keras.Model(model.input, layer(model.output), name=model.name)


def scaling_layer(model):
    """The model's target-scaling layer, or None."""
    last = model.layers[-1] if model.layers else None
    return last if isinstance(last, Affine) and last.name == LAYER_NAME else None


def standardized_loss(loss, model):
    """`loss` computed on standardized targets and outputs when `model` ends in a target-scaling layer."""
    layer = scaling_layer(model)
    if layer is None:
        return loss
    scale = np.asarray(ops.convert_to_numpy(layer.scale))
    shift = np.asarray(ops.convert_to_numpy(layer.shift))
    return StandardizedLoss(keras.losses.get(loss), mean=(-shift * scale).tolist(), std=scale.tolist())


@keras.saving.register_keras_serializable(package="pipeline")
class StandardizedLoss(keras.losses.Loss):
    """`loss((y - mean) / std, (prediction - mean) / std)`: the wrapped loss in standardized units.

    Args:
        loss: a Keras loss object (or its serialized config).
        mean, std: one number per target (the training split's statistics).
    """

    def __init__(self, loss, mean, std, name: str | None = None, reduction: str = "sum_over_batch_size",
                 dtype=None):
        loss = keras.losses.deserialize(loss) if isinstance(loss, dict) else keras.losses.get(loss)
        super().__init__(name=name or f"standardized_{getattr(loss, 'name', 'loss')}", reduction=reduction,
                         dtype=dtype)
        self.loss = loss
        self.mean = [float(v) for v in np.ravel(mean)]
        self.std = [float(v) for v in np.ravel(std)]

    def call(self, y_true, y_pred):
        mean = ops.convert_to_tensor(self.mean, dtype=y_pred.dtype)
        std = ops.convert_to_tensor(self.std, dtype=y_pred.dtype)
        y_true = ops.cast(y_true, y_pred.dtype)
        if len(y_true.shape) == 1 and len(y_pred.shape) == 2:  # one target: (batch,) against (batch, 1)
            y_true = ops.expand_dims(y_true, -1)
        return self.loss.call((y_true - mean) / std, (y_pred - mean) / std)

    def get_config(self):
        return {**super().get_config(), "loss": keras.losses.serialize(self.loss), "mean": self.mean,
                "std": self.std}
