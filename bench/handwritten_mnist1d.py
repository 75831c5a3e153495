"""recipes/mnist1d-cnn.yaml written by hand in plain Keras: the baseline for bench/quickstart_overhead.py.

Same data (mnist1d, generated like plugins/datasets/mnist1d.py), same split (sklearn
train_test_split, 10% stratified validation, random_state = the recipe seed, as pipeline/data/split.py),
same model, optimizer (Adam 3e-3), schedule (keras CosineDecay with linear warmup, built like
plugins/schedules.py), loss, epochs, batch size and Keras verbosity as the recipe. No MLflow, no
plots, no model file.

    KERAS_BACKEND=jax python bench/handwritten_mnist1d.py [--seed-mode {lean,keras}]

Prints `test accuracy: ...` and `fit time: ...` (the benchmark parses the first).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import time

SEED = 42
EPOCHS = 60
BATCH_SIZE = 128
LEARNING_RATE = 3.0e-3
WARMUP_EPOCHS = 3
VAL_FRACTION = 0.1


def seed_everything(seed: int, mode: str) -> None:
    import keras
    import numpy as np

    if mode == "keras":
        # What a typical user writes. NOTE: keras.utils.set_random_seed also calls
        # tf.random.set_seed whenever TensorFlow is *installed* -- even on the JAX or torch backend --
        # so this line alone imports TensorFlow (seconds of start-up and a few hundred MB of RSS).
        # That would make the hand-written baseline slower and heavier than it needs to be, i.e.
        # flatter the pipeline, which avoids the import (pipeline/keras_compat.py:set_seed). Hence the
        # default below is "lean"; the benchmark can measure this variant too (--with-keras-seed).
        keras.utils.set_random_seed(seed)
        return
    # "lean": exactly what keras.utils.set_random_seed does, minus the TensorFlow seed (which no
    # JAX/torch computation reads). This is also what pipeline/keras_compat.py:set_seed does, so the two
    # programs start from the same random state and should reach the same test accuracy.
    random.seed(seed)
    np.random.seed(seed)
    from keras.src.backend.common import global_state
    from keras.src.random.seed_generator import GLOBAL_SEED_GENERATOR
    from keras.src.utils.rng_utils import GLOBAL_RANDOM_SEED

    global_state.set_global_attribute(GLOBAL_RANDOM_SEED, seed)
    global_state.set_global_attribute(GLOBAL_SEED_GENERATOR, None)
    if keras.config.backend() == "torch":
        import torch

        torch.manual_seed(seed)


def load_mnist1d():
    """4000 train / 1000 test, (40, 1) float32 signals, int32 labels -- as plugins/datasets/mnist1d.py."""
    import numpy as np
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.train_split, args.seed = 5000, 0.8, 42
    raw = make_dataset(args)
    x = np.asarray(raw["x"], dtype=np.float32)[..., None]
    x_test = np.asarray(raw["x_test"], dtype=np.float32)[..., None]
    return x, np.asarray(raw["y"], dtype=np.int32), x_test, np.asarray(raw["y_test"], dtype=np.int32)


def build_model(input_shape):
    import keras
    from keras import layers

    inputs = keras.Input(shape=input_shape, name="input")
    x = inputs
    for strides in (1, 2, 1, 2):
        x = layers.Conv1D(32, 5, strides=strides, padding="same", kernel_initializer="he_normal")(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.3)(x)
    outputs = layers.Dense(10, kernel_initializer="he_normal")(x)
    return keras.Model(inputs, outputs, name="mnist1d-cnn")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed-mode", choices=("lean", "keras"), default="lean",
                        help="lean (default): seed Python, NumPy and Keras without importing TensorFlow; "
                             "keras: keras.utils.set_random_seed (imports TensorFlow when installed)")
    parser.add_argument("--epochs", type=int, default=EPOCHS,
                        help=f"for quick profiling only (the recipe's: {EPOCHS})")
    parser.add_argument("--steps-per-execution", type=int, default=1,
                        help="model.compile(steps_per_execution=...) (Keras' default: 1)")
    args = parser.parse_args()
    epochs = args.epochs
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras
    from sklearn.model_selection import train_test_split

    seed_everything(SEED, args.seed_mode)
    x, y, x_test, y_test = load_mnist1d()
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=VAL_FRACTION, random_state=SEED,
                                                      stratify=y)

    steps_per_epoch = math.ceil(len(x_train) / BATCH_SIZE)
    warmup = WARMUP_EPOCHS * steps_per_epoch
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, max(1, epochs * steps_per_epoch - warmup), alpha=0.0, warmup_target=LEARNING_RATE,
        warmup_steps=warmup)

    model = build_model(x_train.shape[1:])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=schedule),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"],
                  steps_per_execution=args.steps_per_execution)
    start = time.perf_counter()
    model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=epochs, batch_size=BATCH_SIZE,
              verbose=2)
    fit_s = time.perf_counter() - start
    scores = model.evaluate(x_test, y_test, batch_size=BATCH_SIZE, verbose=0, return_dict=True)
    print(f"backend: {keras.config.backend()}  seed mode: {args.seed_mode}")
    print(f"test accuracy: {scores['accuracy']:.4f}  test loss: {scores['loss']:.4f}")
    print(f"fit time: {fit_s:.2f} s")


if __name__ == "__main__":
    main()
