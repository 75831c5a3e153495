"""One output unit for a yes/no problem: what changes when it outputs a logit.

Keras compiles the metric name "accuracy" for one output unit as `BinaryAccuracy(threshold=0.5)`
applied to the raw output: right for a sigmoid's probability, but on a logit it means P > 0.62.
With a loss that reads logits (`from_logits: true`) the threshold becomes 0, i.e. P > 0.5.
"""

from __future__ import annotations


def accuracy_for_logits(metrics: list, model, from_logits: bool) -> list:
    """`metrics` with "accuracy" thresholding the logit at 0 when `model` has one logit output."""
    if not from_logits or model.output_shape[-1] != 1 or isinstance(model.output_shape, list):
        return metrics
    import keras

    return [keras.metrics.BinaryAccuracy(name=m, threshold=0.0) if m in ("accuracy", "acc") else m
            for m in metrics]
