"""`pipeline tune --workers 2` against one worker: wall time for the same number of trials.

Each measurement is a fresh `pipeline tune` process on a fresh MLflow store and search folder;
worker counts alternate so that drifting load on a shared machine hits both alike. The search is
the quick start's, with a fixed random space, `--trials` trials of `--epochs` epochs.

    python bench/search_workers.py --repeats 2 --trials 6 --epochs 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SEARCH = """\
extends: {base}
search:
  tuner: random
  max_trials: {trials}
  seed: 1
  space:
    train.optimizer.learning_rate: {{log_uniform: [1.0e-3, 1.0e-2]}}
    model.layers[13].rate: {{uniform: [0.0, 0.5]}}
"""


def one(recipe: Path, workers: int, epochs: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPATH": str(REPO), "KERAS_BACKEND": "jax",
               "MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlflow.db"}
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "pipeline.cli", "tune", str(recipe), "--workers", str(workers),
                               "--dir", f"{tmp}/tuning", "--set", f"train.epochs={epochs}"],
                              env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            sys.exit(f"tune failed ({workers} workers):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        trials = (Path(tmp) / "tuning" / "results.csv").read_text().count("COMPLETED")
        return wall, trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        recipe = Path(tmp) / "bench-search.yaml"
        recipe.write_text(SEARCH.format(base=REPO / "recipes" / "mnist1d-cnn.yaml", trials=args.trials))
        times: dict[int, list[float]] = {1: [], 2: []}
        for r in range(args.repeats):
            for workers in ((1, 2) if r % 2 == 0 else (2, 1)):
                wall, trials = one(recipe, workers, args.epochs)
                assert trials == args.trials, (workers, trials)
                times[workers].append(wall)
                print(f"repeat {r}: {workers} worker(s): {wall:6.1f} s for {trials} trials", flush=True)
    one_w, two_w = statistics.median(times[1]), statistics.median(times[2])
    print(f"median wall: 1 worker {one_w:.1f} s, 2 workers {two_w:.1f} s; ratio 2/1 = {two_w / one_w:.2f} "
          f"(goal <= 0.60); load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
