"""The shape of a recipe: its sections and their plain settings (components are checked separately)."""

from __future__ import annotations

from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationInfo, field_validator, model_validator

from pipeline.recipe.performance import AutoOrBool, AutoOrPositiveInt, Device, Distribution, Precision

Spec = Union[str, dict[str, Any]]
Backend = Literal["jax", "tensorflow", "torch"]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Split(Section):
    """How the training data is divided; a dataset's own test split is always kept as the test set."""

    val: float = Field(0.1, gt=0, lt=1)
    test: float = Field(0.2, gt=0, lt=1)  # used only when the dataset has no test split of its own
    stratify: bool = True
    seed: int | None = None  # defaults to the recipe's seed

    @model_validator(mode="after")
    def _fractions_leave_training_data(self):
        if self.val + self.test >= 1:
            raise ValueError(f"val + test must be < 1 to leave training data. "
                             f"Received: val={self.val}, test={self.test}")
        return self


class Data(Section):
    source: Spec
    split: Split = Split()
    preprocess: list[Spec] = []


class Model(Section):
    defaults: dict[str, Any] = {}
    layers: list[dict[str, Any]] = Field(min_length=1)
    outputs: list[str] | None = None


class Train(Section):
    epochs: PositiveInt
    batch_size: PositiveInt = 32
    optimizer: Spec = "adam"
    schedule: Spec | None = None
    loss: Spec
    metrics: list[Spec] = []
    callbacks: list[Spec] = []
    steps_per_execution: AutoOrPositiveInt = "auto"  # auto: measured per backend (pipeline/performance.py)
    jit_compile: AutoOrBool = "auto"  # XLA; auto: Keras' choice (on for JAX and TensorFlow)
    precision: Precision = "float32"  # mixed_*: Keras dtype policy, output layers kept in float32
    device: Device = "auto"  # auto: the accelerator when there is one, else the CPU
    verbose: Literal[0, 1, 2] = 2
    # The linear scaling rule (Goyal et al. 2017): the optimizer's learning rate is meant for this
    # batch size, and is multiplied by batch_size / scale_lr_with_batch (e.g. 256).
    scale_lr_with_batch: PositiveInt | None = None


class Track(Section):
    experiment: str = "default"
    run_name: str | None = None
    tags: dict[str, str] = {}
    log_model: bool = True


class Recipe(Section):
    name: str | None = None
    description: str | None = None
    seed: int = 42
    backend: Backend | None = None  # resolved from KERAS_BACKEND, else the default, when absent
    data: Data
    model: Model
    train: Train
    track: Track = Track()
    distribution: Distribution | None = None

    @field_validator("distribution")
    @classmethod
    def _distribution_needs_jax(cls, value, info: ValidationInfo):
        backend = info.data.get("backend")
        if value is not None and backend not in (None, "jax"):
            raise ValueError(f"data_parallel needs the jax backend (keras.distribution). Received: backend={backend!r}")
        return value
