"""Which `steps_per_execution` is fastest for the quick-start CNN on this machine?

One process, one compiled model per value, rounds interleaved (so a busy spell of the shared machine
hits every value alike); per value: the median and the minimum epoch time over the timed epochs
(the first epoch, which compiles, is excluded). Same model, data and batch as bench/handwritten_mnist1d.py.

    KERAS_BACKEND=jax python bench/steps_per_execution.py --values 1 4 8 16 32 --rounds 3 --epochs 8
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--values", type=int, nargs="+", default=[1, 4, 8, 16, 32])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=8, help="timed epochs per round")
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras
    from handwritten_mnist1d import build_model, load_mnist1d

    x, y, _, _ = load_mnist1d()
    x_train, y_train, x_val, y_val = x[:3600], y[:3600], x[3600:], y[3600:]
    times: dict[int, list[float]] = {v: [] for v in args.values}

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.start)

    models = {}
    for value in args.values:
        model = build_model(x_train.shape[1:])
        model.compile(optimizer=keras.optimizers.Adam(3e-3), metrics=["accuracy"],
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      steps_per_execution=value)
        model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=1,
                  batch_size=args.batch_size, verbose=0)  # compiles
        models[value] = model
    for _ in range(args.rounds):
        for value, model in models.items():
            timer = EpochTimer()
            timer.seconds = []
            model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=args.epochs,
                      batch_size=args.batch_size, verbose=0, callbacks=[timer])
            times[value] += timer.seconds
    steps = -(-len(x_train) // args.batch_size)
    print(f"backend {keras.config.backend()}, {steps} steps per epoch, batch {args.batch_size}, "
          f"{args.rounds} rounds x {args.epochs} epochs, {os.cpu_count()} CPUs")
    base = statistics.median(times[args.values[0]])
    print(f"{'steps_per_execution':>20} {'median epoch ms':>16} {'min epoch ms':>13} {'vs first':>9}")
    for value, seconds in times.items():
        median = statistics.median(seconds)
        print(f"{value:>20} {median * 1e3:>16.1f} {min(seconds) * 1e3:>13.1f} {base / median:>8.2f}x")


if __name__ == "__main__":
    main()
