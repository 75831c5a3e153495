"""Keras Applications backbones (ResNet50, MobileNetV2, EfficientNetB0, ...) as one registered layer.

Weights are random (`weights: null`) or read from a local file: never downloaded at run time, so a
run is reproducible offline. For transfer learning from a file, put the backbone first in the
recipe and freeze it (`model.freeze: {up_to: backbone}`). Class in `applications_keras.py`.
"""

from __future__ import annotations

from typing import Literal

from pipeline.registries import layers

Architecture = Literal["MobileNetV2", "MobileNetV3Small", "ResNet50", "ResNet50V2", "EfficientNetB0",
                       "EfficientNetV2B0", "DenseNet121", "VGG16", "ConvNeXtTiny"]


@layers.register("keras_application")
def keras_application(architecture: Architecture = "MobileNetV2", weights: str | None = None,
                      pooling: Literal["avg", "max"] | None = "avg", name: str | None = None):
    """A Keras Applications network without its classifier (include_top=False), as one layer; weights null (random) or a local weights file, never a download.

    Args:
        architecture: the `keras.applications` constructor. Defaults to MobileNetV2.
        weights: null for random initialization, or the path of a weights file saved from the same
            architecture without top (`.weights.h5`). 'imagenet' is refused: it would download.
            Defaults to None.
        pooling: global pooling of the last feature map ('avg', 'max'), or null to keep it.
            Defaults to 'avg'.
    """
    if weights == "imagenet":
        raise ValueError("keras_application: weights 'imagenet' would be downloaded at run time; save "
                         "the weights once (model.save_weights) and give their local path, or use null")
    if weights is not None:
        from pathlib import Path

        if not Path(weights).is_file():
            raise FileNotFoundError(f"keras_application: no weights file at {Path(weights).resolve()}")
    from plugins.layers.applications_keras import KerasApplication

    return KerasApplication(architecture, weights=weights, pooling=pooling, name=name)
