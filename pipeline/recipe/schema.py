"""The shape of a recipe: its sections and their plain settings (components are checked separately)."""

from __future__ import annotations

import warnings
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from pipeline.recipe.diagnostics_settings import Diagnostics
from pipeline.recipe.speed_settings import AutoOrBool, AutoOrPositiveInt, Device, Distribution, Precision
from pipeline.recipe.transfer_schema import TTA, Freezing, InitFrom, Unfreeze
from pipeline.registries import Ref
from pipeline.search.settings import SearchSettings
from pipeline.tasks import Task
from pipeline.values import Name, NonNegativeInt, NotBool, PositiveFloat, PositiveInt, Seed

# A component spec: a name or {type: name, **arguments}. A component slot is a field annotated
# `Annotated[Spec, Ref(kind)]`, which declares its registry once (pipeline/recipe/slots.py).
Spec = Union[str, dict[str, Any]]
Backend = Literal["jax", "tensorflow", "torch"]


class Section(BaseModel):
    """Strict like the component arguments: `epochs: true` or `batch_size: 1.5` is refused, not rounded."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class Split(Section):
    """How the training data is divided; a dataset's own test split is always kept as the test set."""

    val: float = Field(0.1, gt=0, lt=1)
    test: float = Field(0.2, gt=0, lt=1)  # used only when the dataset has no test split of its own
    stratify: bool = True
    seed: Seed | None = None  # defaults to the recipe's seed
    # k-fold cross-validation (pipeline/kfold.py): k runs, each validating on one held-out fold
    # instead of `val`; `fold` alone trains that one fold (what each fold's logged recipe says).
    kfold: int | None = Field(None, ge=2)
    fold: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _fractions_leave_training_data(self):
        if self.val + self.test >= 1:
            raise ValueError(f"val + test must be < 1 to leave training data. "
                             f"Received: val={self.val}, test={self.test}")
        if self.fold is not None and (self.kfold is None or self.fold >= self.kfold):
            raise ValueError(f"fold must be below kfold (folds count from 0). "
                             f"Received: kfold={self.kfold}, fold={self.fold}")
        return self


class Imbalance(Section):
    """How training counters class imbalance (`pipeline/data/imbalance.py`): one of the two."""

    class_weight: Literal["balanced"] | dict[NonNegativeInt, PositiveFloat] | None = None  # balanced: n / (k n_c)
    oversample: bool = False  # draw every class equally often in each training epoch

    @model_validator(mode="after")
    def _one_correction(self):
        if self.class_weight is not None and self.oversample:
            raise ValueError("class_weight and oversample both correct for imbalance (it would be "
                             "corrected twice): choose one")
        return self


class Data(Section):
    source: Annotated[Spec, Ref("datasets")]
    split: Split = Split()
    preprocess: list[Annotated[Spec, Ref("preprocessors")]] = []
    # a mixer (mixup, cutmix, cowmask) for training batches: soft labels
    mix: Annotated[Spec, Ref("mixers")] | None = None
    imbalance: Imbalance = Imbalance()
    # demo: keep a long-tailed subset of the TRAINING split, rarest class = ratio x the most common
    imbalance_ratio: float | None = Field(None, gt=0, le=1)
    # regression: train on (y - mean) / std of the training targets; the model gains a last layer
    # mapping back, so it predicts (and every metric reads) the original units (pipeline/data/targets.py)
    standardize_targets: bool = False


class Model(Section):
    defaults: dict[str, Any] = {}
    layers: list[Annotated[dict[str, Any], Ref("layers")]] = Field(min_length=1)  # a graph (validate.py)
    outputs: list[str] | None = None
    init_from: InitFrom | None = None  # transfer learning (pipeline/transfer.py)
    freeze: Freezing | None = None


class Train(Section):
    epochs: PositiveInt
    batch_size: PositiveInt = 32
    optimizer: Annotated[Spec, Ref("optimizers")] = "adam"
    schedule: Annotated[Spec, Ref("schedules")] | None = None
    loss: Annotated[Spec, Ref("losses")]
    metrics: list[Annotated[Spec, Ref("metrics")]] = []
    callbacks: list[Annotated[Spec, Ref("callbacks")]] = []
    steps_per_execution: AutoOrPositiveInt = "auto"  # auto: measured per backend (pipeline/speed.py)
    jit_compile: AutoOrBool = "auto"  # XLA; auto: Keras' choice (on for JAX and TensorFlow)
    precision: Precision = "float32"  # mixed_*: Keras dtype policy, output layers kept in float32
    device: Device = "auto"  # auto: the accelerator when there is one, else the CPU
    verbose: Annotated[Literal[0, 1, 2], NotBool] = 2
    # an epoch checkpoint (everything needed to resume exactly) after every N epochs; 0: none
    checkpoint_every: NonNegativeInt = 1
    # The linear scaling rule (Goyal et al. 2017): the optimizer's learning rate is meant for this
    # batch size, and is multiplied by batch_size / scale_lr_with_batch (e.g. 256).
    scale_lr_with_batch: PositiveInt | None = None
    preflight: bool = False  # run the `pipeline diagnose` checks first; a failed check fails the run
    unfreeze: list[Unfreeze] = []  # staged fine-tuning (pipeline/transfer.py)
    tta: TTA | None = None  # test-time augmentation, logged as test_tta_* (pipeline/tta.py)


with warnings.catch_warnings():  # `register` shadows ABCMeta.register, a class method recipes never use
    warnings.filterwarnings("ignore", 'Field name "register"', UserWarning)

    class Track(Section):
        experiment: Name = "default"  # names become folder names (the experiment's artifacts): never paths
        run_name: Name | None = None
        tags: dict[str, str] = {}
        log_model: bool = True
        register: Name | None = None  # add the run's model to this registered model as a new version
        system_metrics: bool = False  # MLflow's system metrics (CPU, memory, disk, network, GPU) while the run runs


class Recipe(Section):
    name: Name | None = None  # also the default search folder, tuning/<name>
    description: str | None = None
    seed: Seed = 42
    task: Task = "classification"  # regression: float targets, regression losses and metrics
    backend: Backend | None = None  # resolved from KERAS_BACKEND, else the default, when absent
    data: Data
    model: Model
    train: Train
    track: Track = Track()
    search: SearchSettings | None = None  # `pipeline tune` only (pipeline/search/space.py checks the space)
    diagnostics: Diagnostics = Diagnostics()
    distribution: Distribution | None = None

    @field_validator("distribution")
    @classmethod
    def _distribution_needs_jax(cls, value, info: ValidationInfo):
        backend = info.data.get("backend")
        if value is not None and backend not in (None, "jax"):
            raise ValueError(f"data_parallel needs the jax backend (keras.distribution). Received: backend={backend!r}")
        return value
