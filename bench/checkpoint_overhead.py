"""What per-epoch checkpoints cost: the quick start with `train.checkpoint_every: 1` (the default) vs
`0`, and the checkpoint's size and save time at the ResNet-18 recipe's size.

Quick start (`recipes/mnist1d-cnn.yaml`), one process, the pipeline's own fit loop (`pipeline.fit.fit`,
the run's callbacks, a real SQLite store in a temp folder), four variants, rounds interleaved so a
busy spell of the shared machine hits all alike:

  every=0     no checkpoint: each epoch's metrics appended to the run's journal, the store written
              every 10 s in the background: what `checkpoint_every: 0` does;
  every=1     the default: the same, plus the epoch checkpoint, written before the next epoch;
  sync store  every=0, but each epoch's store write done before the next epoch starts (the simple
              way to make metrics durable, which the journal replaces);
  no journal  every=0 without the journal: no per-epoch durability at all (the old behaviour,
              where metrics waited up to 10 s in a buffer).

An epoch's time is from one `on_epoch_begin` to the next, so it includes every `on_epoch_end`; the
first round (compilation) is not timed. Printed: median epoch per variant, the ratios to `every=0`
(target: every=1 <= 1.03), in wall time and in the process's CPU time (every thread's work; steadier
on a shared machine), and the checkpoint's capture and write times, measured where they happen.

ResNet-18 (`recipes/resnet18-cifar.yaml`, CPU): the model and its SGD momentum built without data,
one checkpoint captured, written and read back, `--repeats` times; size and median times.

    KERAS_BACKEND=jax python bench/checkpoint_overhead.py --rounds 5 --epochs 6
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
VARIANTS = ("every=0", "every=1", "sync store", "no journal")


@contextlib.contextmanager
def timing(module, name: str, into: list):
    """`module.name` timed into `into` inside the block."""
    real = getattr(module, name)

    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            into.append(time.perf_counter() - started)

    setattr(module, name, timed)
    try:
        yield
    finally:
        setattr(module, name, real)


def quick_start(rounds: int, epochs: int, store: Path) -> dict:
    import keras

    from pipeline import fit, tracking
    from pipeline.assemble import build_compiled_model, prepare_data
    from pipeline.checkpoint import callback_keras, files
    from pipeline.checkpoint.location import RunFolder
    from pipeline.keras_compat import set_seed
    from pipeline.recipe import load_recipe
    from pipeline.tracking.run_logger import RunLogger

    class Synchronous(RunLogger):
        """Each epoch's store write done at once."""

        write_every_s = 0.0

        def log_epoch(self, metrics, step, tags=None):
            super().log_epoch(metrics, step, tags)
            self.flush()

    class EpochTimer(keras.callbacks.Callback):
        stateless = True

        def __init__(self):
            super().__init__()
            self.begins = []  # (wall, CPU time of the whole process: every thread's work counts)

        def on_epoch_begin(self, epoch, logs=None):
            self.begins.append((time.perf_counter(), time.process_time()))

        def on_train_end(self, logs=None):
            self.begins.append((time.perf_counter(), time.process_time()))

    uri = f"sqlite:///{store / 'mlflow.db'}"
    experiment = tracking.connect(uri, "checkpoint-overhead")
    setups = {}
    for variant in VARIANTS:
        loaded = load_recipe(REPO / "recipes" / "mnist1d-cnn.yaml",
                             [f"train.epochs={epochs}", "train.verbose=0",
                              f"train.checkpoint_every={int(variant == 'every=1')}"])
        set_seed(loaded.plan.recipe.seed)
        _, splits = prepare_data(loaded)
        model = build_compiled_model(loaded, splits.x_train.shape[1:], fit.steps_per_epoch(loaded, splits))
        run_id = RunLogger.start(uri, experiment, f"overhead {variant}", {}).run_id
        logger = (Synchronous if variant == "sync store" else RunLogger)(uri, run_id, experiment)
        setups[variant] = (loaded, splits, model, logger, RunFolder(store / variant.replace(" ", "_"), True))
    epoch_seconds = {v: [] for v in VARIANTS}
    epoch_cpu = {v: [] for v in VARIANTS}
    capture_seconds, write_seconds, journal_seconds = [], [], []
    for round_ in range(rounds + 1):  # round 0 compiles every model: not timed
        for variant in (VARIANTS if round_ % 2 else VARIANTS[::-1]):
            loaded, splits, model, logger, folder = setups[variant]
            timer = EpochTimer()
            trash = []
            with (timing(callback_keras, "capture", capture_seconds if round_ else trash),
                  timing(files, "write", write_seconds if round_ else trash),
                  timing(files, "append_journal", journal_seconds if round_ else trash)):
                if variant == "no journal":
                    files.append_journal = lambda *args: None
                fit.fit(model, loaded, splits, logger, folder, extra_callbacks=(timer,), echo=lambda *a: None)
            logger.flush()
            if round_:
                epoch_seconds[variant] += [b[0] - a[0] for a, b in zip(timer.begins[1:], timer.begins[2:])]
                epoch_cpu[variant] += [b[1] - a[1] for a, b in zip(timer.begins[1:], timer.begins[2:])]
    medians = {v: statistics.median(s) for v, s in epoch_seconds.items()}
    return {"epochs_timed": {v: len(s) for v, s in epoch_seconds.items()},
            "median_epoch_s": medians,
            "min_epoch_s": {v: min(s) for v, s in epoch_seconds.items()},
            "median_epoch_cpu_s": {v: statistics.median(s) for v, s in epoch_cpu.items()},
            "median_capture_s": statistics.median(capture_seconds),
            "median_write_s": statistics.median(write_seconds),
            "median_journal_s": statistics.median(journal_seconds),
            "checkpoint_bytes": (setups["every=1"][4].resume / files.CURRENT).stat().st_size}


def resnet18(repeats: int, folder: Path) -> dict:
    from pipeline.assemble import build_compiled_model
    from pipeline.checkpoint import files
    from pipeline.checkpoint.training_state import capture
    from pipeline.speed import precision_scope
    from pipeline.recipe import load_recipe

    loaded = load_recipe(REPO / "recipes" / "resnet18-cifar.yaml")
    with precision_scope(loaded.plan.recipe.train.precision):
        model = build_compiled_model(loaded, (32, 32, 3), steps_per_epoch=96)
    model.optimizer.build(model.trainable_variables)
    model.stop_training = False
    captured, written, read = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        state = capture(model, {})
        t1 = time.perf_counter()
        files.write(folder, {"epochs_done": 1, **state})
        t2 = time.perf_counter()
        files.read(folder)
        t3 = time.perf_counter()
        captured.append(t1 - t0)
        written.append(t2 - t1)
        read.append(t3 - t2)
    return {"parameters": model.count_params(),
            "optimizer_variables": sum(int(v.numpy().size) for v in model.optimizer.variables),
            "checkpoint_bytes": (folder / files.CURRENT).stat().st_size,
            "capture_s": statistics.median(captured), "write_s": statistics.median(written),
            "read_s": statistics.median(read)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per variant (interleaved)")
    parser.add_argument("--epochs", type=int, default=6, help="epochs per round")
    parser.add_argument("--repeats", type=int, default=3, help="ResNet-18 checkpoints written")
    parser.add_argument("--skip-resnet", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("KERAS_BACKEND", "jax")
    from pipeline import backend

    backend.activate(os.environ["KERAS_BACKEND"])
    import keras

    with tempfile.TemporaryDirectory() as tmp:
        quick = quick_start(args.rounds, args.epochs, Path(tmp))
        big = None if args.skip_resnet else resnet18(args.repeats, Path(tmp) / "resnet18")
    load = os.getloadavg()
    print(f"backend {keras.config.backend()}, {os.cpu_count()} CPUs, load average {load[0]:.1f} "
          f"(1 min) {load[1]:.1f} (5 min)")
    print(f"\nquick start, {args.rounds} rounds x {args.epochs} epochs, epochs timed per variant: "
          f"{quick['epochs_timed']['every=0']}")
    base, cpu = quick["median_epoch_s"]["every=0"], quick["median_epoch_cpu_s"]["every=0"]
    print(f"{'variant':<11} {'median epoch ms':>16} {'min epoch ms':>13} {'vs every=0':>11} {'CPU ms':>8} "
          f"{'vs every=0':>11}")
    for v in VARIANTS:
        print(f"{v:<11} {quick['median_epoch_s'][v] * 1e3:>16.2f} {quick['min_epoch_s'][v] * 1e3:>13.2f} "
              f"{quick['median_epoch_s'][v] / base:>10.3f}x {quick['median_epoch_cpu_s'][v] * 1e3:>8.1f} "
              f"{quick['median_epoch_cpu_s'][v] / cpu:>10.3f}x")
    for what, table, ref in (("wall", "median_epoch_s", base), ("CPU time", "median_epoch_cpu_s", cpu)):
        ratio = quick[table]["every=1"] / ref
        print(f"per-epoch checkpoint, {what}: every=1 / every=0 = {ratio:.3f} "
              f"(target <= 1.03: {'PASS' if ratio <= 1.03 else 'MISS'})")
    save = quick["median_capture_s"] + quick["median_write_s"]
    print(f"checkpoint {quick['checkpoint_bytes'] / 1e3:.0f} kB: capture {quick['median_capture_s'] * 1e3:.2f} ms + write "
          f"{quick['median_write_s'] * 1e3:.2f} ms ({save / base:.1%} of an epoch); journal line "
          f"{quick['median_journal_s'] * 1e3:.3f} ms (medians)")
    if big:
        print(f"\nResNet-18 recipe on the CPU: {big['parameters'] / 1e6:.2f}M parameters, "
              f"{big['optimizer_variables'] / 1e6:.2f}M optimizer values; checkpoint "
              f"{big['checkpoint_bytes'] / 2**20:.1f} MiB; capture {big['capture_s'] * 1e3:.0f} ms, write "
              f"{big['write_s'] * 1e3:.0f} ms (file + renames), read {big['read_s'] * 1e3:.0f} ms "
              f"(median of {args.repeats})")
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "checkpoint_overhead.json").write_text(json.dumps({"quick_start": quick, "resnet18": big,
                                                              "load": load}, indent=2))


if __name__ == "__main__":
    main()
