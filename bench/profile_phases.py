"""Where a `pipeline run` spends its wall time and memory outside the training loop.

Runs `pipeline.cli run RECIPE` in this process with timers wrapped around the imports and the
MLflow, data, model, fit and artifact steps (no edits to the pipeline: functions are wrapped by name,
those not found are skipped). Prints, per phase: wall s, process CPU s, RSS after, RSS growth.

    KERAS_BACKEND=jax python bench/profile_phases.py recipes/mnist1d-cnn.yaml \
        --tracking-uri sqlite:///$(mktemp -d)/mlflow.db [--set train.epochs=60]

The imports are timed up front, in the order the pipeline's first run pays for them (mlflow,
then keras), so the later phases show only their own work. Profiling aid, not a benchmark.
"""

from __future__ import annotations

import functools
import os
import sys
import time

ROWS: list[tuple[str, float, float, float, float]] = []
_depth = [0]


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def timed(name: str, fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if _depth[0]:  # only the outermost timed call counts (log_params -> log_batch, ...)
            return fn(*args, **kwargs)
        _depth[0] += 1
        rss0, t0, c0 = _rss_mib(), time.perf_counter(), time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            _depth[0] -= 1
            rss1 = _rss_mib()
            ROWS.append((name, time.perf_counter() - t0, time.process_time() - c0, rss1, rss1 - rss0))
    return wrapper


def patch(obj, attr: str, name: str | None = None) -> None:
    fn = getattr(obj, attr, None)
    if fn is not None:
        setattr(obj, attr, timed(name or f"{getattr(obj, '__name__', obj)}.{attr}", fn))


def main() -> int:
    os.environ.setdefault("KERAS_BACKEND", "jax")
    start = time.perf_counter()

    def imp(module):
        __import__(module)

    timed("import pipeline.cli (+recipe, pydantic, yaml)", imp)("pipeline.cli")
    timed("import mlflow", imp)("mlflow")
    timed("import keras (+jax)", imp)("keras")
    import keras
    import mlflow

    from pipeline import assemble, keras_compat, tracking
    from pipeline.tracking.run_logger import RunLogger

    for attr in ("connect", "versions"):
        patch(tracking, attr, f"tracking.{attr}")
    for attr in ("start", "log_params", "log_text", "set_tags", "log_metrics", "log_figure", "log_artifact",
                 "log_bytes", "end"):
        patch(RunLogger, attr, f"RunLogger.{attr}")
    patch(mlflow.MlflowClient, "log_batch", "MlflowClient.log_batch (all store writes)")
    for attr in ("prepare_data", "build_compiled_model"):
        patch(assemble, attr, f"assemble.{attr}")
    for attr in ("set_seed", "save_model"):
        patch(keras_compat, attr, f"keras_compat.{attr}")
    patch(keras.Model, "fit", "keras Model.fit")
    patch(keras.Model, "evaluate", "keras Model.evaluate")
    try:
        import pipeline.learning_curves as plots

        patch(plots, "learning_curves", "plots.learning_curves (+pyplot import)")
    except ImportError:
        pass

    from pipeline.cli import main as cli_main

    t0, c0 = time.perf_counter(), time.process_time()
    code = cli_main(["run", *sys.argv[1:]])
    ROWS.append(("= pipeline.cli main, all of it", time.perf_counter() - t0, time.process_time() - c0,
                 _rss_mib(), 0.0))
    total = time.perf_counter() - start
    print(f"\n{'phase':<48} {'wall s':>7} {'CPU s':>7} {'RSS MiB':>8} {'+MiB':>7}", file=sys.stderr)
    for name, wall, cpu, rss, grow in ROWS:
        print(f"{name:<48} {wall:7.3f} {cpu:7.2f} {rss:8.1f} {grow:+7.1f}", file=sys.stderr)
    print(f"{'total (this process)':<48} {total:7.3f}  peak RSS {_peak_mib():.1f} MiB", file=sys.stderr)
    return code


def _peak_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    sys.exit(main())
