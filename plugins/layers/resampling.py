"""Changing an image's size inside a model: upsampling, transposed convolution, zero padding,
resizing and rescaling (e.g. 8x8 digits to LeNet-5's 32x32, or a U-Net decoder)."""

from __future__ import annotations

from typing import Literal

from pipeline.lazy import LazyModule
from pipeline.registries import Activation, Initializer, Regularizer, layers
from pipeline.values import NonNegativeInt, PositiveInt, Size2D

keras = LazyModule("keras")


@layers.register("upsample2d", aliases=("upsampling2d",))
def upsample2d(size: Size2D = 2, interpolation: Literal["nearest", "bilinear"] = "nearest",
               name: str | None = None):
    """Repeats (nearest) or interpolates (bilinear) each pixel `size` times along height and width; no weights."""
    return keras.layers.UpSampling2D(size=size, interpolation=interpolation, name=name)


@layers.register("conv2d_transpose")
def conv2d_transpose(filters: PositiveInt, kernel_size: Size2D, strides: Size2D = 1,
                     padding: Literal["valid", "same"] = "valid", activation: Activation | None = None,
                     use_bias: bool = True, kernel_initializer: Initializer = "glorot_uniform",
                     kernel_regularizer: Regularizer | None = None, name: str | None = None):
    """Transposed ("up-") convolution: a learned upsampling, strides 2 doubles height and width."""
    return keras.layers.Conv2DTranspose(filters, kernel_size, strides=strides, padding=padding,
                                        activation=activation, use_bias=use_bias,
                                        kernel_initializer=kernel_initializer,
                                        kernel_regularizer=kernel_regularizer, name=name)


@layers.register("zero_pad2d", aliases=("zero_padding2d",))
def zero_pad2d(padding: NonNegativeInt | tuple[NonNegativeInt, NonNegativeInt] = 1, name: str | None = None):
    """Adds `padding` rows/columns of zeros on each side (the course's "pad P"); (h, w) pads each axis apart."""
    return keras.layers.ZeroPadding2D(padding=padding, name=name)


@layers.register("resize")
def resize(height: PositiveInt, width: PositiveInt,
           interpolation: Literal["nearest", "bilinear", "bicubic"] = "bilinear", name: str | None = None):
    """Resizes images to height x width (e.g. 8x8 digits to 32x32 for LeNet-5)."""
    return keras.layers.Resizing(height, width, interpolation=interpolation, name=name)


@layers.register("rescale")
def rescale(scale: float, offset: float = 0.0, name: str | None = None):
    """x * scale + offset, e.g. scale 1/255 for 8-bit pixels or 1/127.5, offset -1 for [-1, 1]."""
    return keras.layers.Rescaling(scale, offset=offset, name=name)
