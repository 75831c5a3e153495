"""How close does a killed-and-resumed run end to an uninterrupted one, on a backend?

The recipe of tests/test_interrupted_runs.py (dropout, shuffled batches, cosine schedule with
warmup, early stopping): one uninterrupted `pipeline run`, one killed with SIGKILL just after epoch
3 began and continued with `--resume last`, each in a fresh process and a temporary store. Prints
the largest difference between the final weights, the test metrics of both and their curves.

    python bench/resume_exactness.py tensorflow      # or jax (the tests check jax)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
TIMEOUT = 900


def main() -> None:
    backend = sys.argv[1] if len(sys.argv) > 1 else "jax"
    os.environ["KERAS_BACKEND"] = backend
    from mlflow import MlflowClient

    from pipeline.saving import load_model
    from tests.test_interrupted_runs import RECIPE

    folder = Path(tempfile.mkdtemp())
    recipe = folder / "recipe.yaml"
    recipe.write_text(RECIPE, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}

    def command(*args):
        return [sys.executable, "-m", "pipeline.cli", "run", str(recipe), *args]

    whole_uri, killed_uri = f"sqlite:///{folder / 'whole.db'}", f"sqlite:///{folder / 'killed.db'}"
    started = time.perf_counter()
    subprocess.run(command("--tracking-uri", whole_uri), env=env, cwd=REPO, check=True, capture_output=True,
                   timeout=TIMEOUT)
    proc = subprocess.Popen(command("--tracking-uri", killed_uri), env=env, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        if line.startswith("Epoch 3/"):
            time.sleep(0.1)
            proc.send_signal(signal.SIGKILL)
            break
    proc.communicate(timeout=TIMEOUT)
    resumed = subprocess.run(command("--tracking-uri", killed_uri, "--resume", "last"), env=env, cwd=REPO,
                             check=True, capture_output=True, text=True, timeout=TIMEOUT)
    print(next(line for line in resumed.stdout.splitlines() if line.startswith("resuming")))

    def read(uri):
        client = MlflowClient(tracking_uri=uri)
        (run,) = client.search_runs([client.get_experiment_by_name("resume").experiment_id])
        model = client.download_artifacts(run.info.run_id, "model/model.keras", tempfile.mkdtemp())
        curves = {k: [m.value for m in client.get_metric_history(run.info.run_id, k)] for k in ("loss", "val_loss")}
        return run.data.metrics, load_model(model, compile=False).get_weights(), curves

    (m1, w1, c1), (m2, w2, c2) = read(whole_uri), read(killed_uri)
    print(f"backend {backend}: max |weight difference| {max(float(np.max(np.abs(a - b))) for a, b in zip(w1, w2)):.3g}")
    for key in ("test_accuracy", "test_loss"):
        print(f"{key}: uninterrupted {m1[key]:.6f}, resumed {m2[key]:.6f}, difference {abs(m1[key] - m2[key]):.3g}")
    for key in c1:
        print(f"{key} per epoch: uninterrupted {np.round(c1[key], 4).tolist()}\n{'':>{len(key) + 11}}resumed "
              f"{np.round(c2[key], 4).tolist()}")
    print(f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
