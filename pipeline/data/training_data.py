"""What `model.fit` and `model.evaluate` receive, from the splits and the recipe's `data` section:
the arrays as they are, or the training feed (mixing, oversampling), class weights, and label rows
for validation/test when training labels are soft."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipeline import processes
from pipeline.components import build
from pipeline.data.batches import PREFETCH, keras_inputs
from pipeline.data.checks import check_outputs
from pipeline.data.imbalance import class_weights, long_tailed
from pipeline.data.rows import is_lazy, take
from pipeline.errors import DataError


@dataclass
class FitData:
    train: dict                       # x, y, batch_size or x=feed; class_weight when asked
    validation: tuple                 # (x_val, y_val): the whole split, for the final evaluation
    y_test: np.ndarray                # test labels in the form the compiled loss expects
    params: dict = field(default_factory=dict)  # what to log about it
    batch_size: int = 32
    #: what `fit` validates on each epoch when it is not `validation` (data parallel: this
    #: process's part of every global batch)
    validation_feed: object | None = None

    def validation_data(self):
        """What `fit` validates on: the (x, y) pair, or a feed (lazy rows, data parallel)."""
        if self.validation_feed is not None:
            return self.validation_feed
        x, y = self.validation
        return keras_inputs(x, y, self.batch_size)["x"] if is_lazy(x) else self.validation


def make_long_tailed(splits, ratio: float | None, seed: int) -> None:
    """Keep a long-tailed subset of the TRAINING split (`data.imbalance_ratio`), in place.

    Only the training split: validation and test keep the source's class balance, so per-class
    recall is measured on enough examples of the rare classes, and a gain from class weights or
    focal loss shows as a gain there (the long-tailed CIFAR convention: long-tailed training set,
    balanced test set).
    """
    if ratio is None:
        return
    keep = long_tailed(splits.y_train, ratio, np.random.default_rng(seed))
    splits.x_train, splits.y_train = take(splits.x_train, keep), splits.y_train[keep]


def fit_data(plan, splits, classes: int, seed: int) -> FitData:
    """`classes`: the model's output units (the width of label rows)."""
    check_outputs(plan, splits, classes)  # 3 output units for 10 classes is a recipe error, not a run
    data, batch_size = plan.recipe.data, plan.recipe.train.batch_size
    weights = class_weights(splits.y_train, data.imbalance.class_weight)
    extra = {"class_weight": weights} if weights else {}
    params = {"data.class_weight": " ".join(f"{c}:{w:.3g}" for c, w in weights.items())} if weights else {}
    if splits.target_scaling is not None:  # standardized regression targets: their statistics
        params |= splits.target_scaling.params()
    mix = plan.mix
    if plan.recipe.distribution is not None:
        return _sharded(plan, splits, classes, seed, extra, params)
    if mix is None and not data.imbalance.oversample and not is_lazy(splits.x_train):
        return FitData({"x": splits.x_train, "y": splits.y_train, "batch_size": batch_size, **extra},
                       (splits.x_val, splits.y_val), splits.y_test, params, batch_size)
    from pipeline.data.feed_keras import TrainingFeed, label_rows

    ahead = _read_ahead(splits, extra)
    feed = TrainingFeed(splits.x_train, splits.y_train, batch_size, classes=classes if mix else None,
                        mixer=build(mix), oversample=data.imbalance.oversample, seed=seed, **ahead)
    if mix is None:
        return FitData({"x": feed, **extra}, (splits.x_val, splits.y_val), splits.y_test, params, batch_size)
    return FitData({"x": feed, **extra}, (splits.x_val, label_rows(splits.y_val, classes)),
                   label_rows(splits.y_test, classes), params, batch_size)


def _read_ahead(splits, extra: dict) -> dict:
    """Lazy rows: the feed reads ahead, so Keras must ask in order (`shuffle=False` into `extra`;
    the feed shuffles the rows every epoch itself)."""
    if not is_lazy(splits.x_train):
        return {}
    extra["shuffle"] = False
    return {"prefetch": PREFETCH}


def _sharded(plan, splits, classes: int, seed: int, extra: dict, params: dict) -> FitData:
    """Data parallel: training and validation batches through feeds that give this process its part
    of every global batch (`train.batch_size`), the same batches on one process or several, so
    N processes follow the one-process loss curve; from lazy rows (a streamed folder, a mapped
    array) each process reads only its part. Incomplete last batches are left out (each device
    needs an equal share); the final evaluation (`pipeline/evaluation.py`) reads every example."""
    from pipeline.data.feed_keras import TrainingFeed, label_rows

    data, batch_size, mix = plan.recipe.data, plan.recipe.train.batch_size, plan.mix
    shard = {"process_index": processes.index(), "process_count": processes.count(), "drop_remainder": True}
    for split, size in (("training", len(splits.y_train)), ("validation", len(splits.y_val))):
        if size < batch_size:
            raise DataError(f"the {split} split ({size} examples) is smaller than one global batch "
                            f"(train.batch_size={batch_size}): data parallel feeds whole batches only",
                            ("train", "batch_size"))
    ahead = _read_ahead(splits, extra)
    feed = TrainingFeed(splits.x_train, splits.y_train, batch_size, classes=classes if mix else None,
                        mixer=build(mix), oversample=data.imbalance.oversample, seed=seed, **shard, **ahead)
    validation = TrainingFeed(splits.x_val, splits.y_val, batch_size, classes=classes if mix else None,
                              shuffle=False, **shard, **ahead)
    labels = (lambda y: label_rows(y, classes)) if mix else (lambda y: y)
    dropped = {"train": len(splits.y_train) % batch_size, "val": len(splits.y_val) % batch_size}
    return FitData({"x": feed, **extra}, (splits.x_val, labels(splits.y_val)), labels(splits.y_test),
                   params | {f"data.dropped_per_epoch.{k}": v for k, v in dropped.items()}, batch_size, validation)
