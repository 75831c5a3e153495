"""How long `pipeline run` takes to say "already trained" (target: under 3 s), against `pipeline validate`.

    python bench/already_trained.py [RECIPE] [--repeat 5]

Trains RECIPE once (default: a 1-epoch digits recipe) into a temporary store, then times
`pipeline run RECIPE` again (the already-trained path: recipe loaded, the store read, no framework
imported) and `pipeline validate RECIPE` (the floor: recipe loaded only), REPEAT times each, in
fresh processes, and prints the medians and their ratio, measured in this one run.
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
TINY = """\
name: bench-already-trained
seed: 1
data: {source: {type: digits}}
model: {layers: [{type: flatten}, {type: dense, units: 10}]}
train: {epochs: 1, loss: {type: sparse_categorical_crossentropy, from_logits: true}, metrics: [accuracy]}
track: {experiment: bench, log_model: false}
"""


def timed(*args: str) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=REPO, capture_output=True, text=True,
                            env={**os.environ, "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "jax")}, check=True)
    return time.perf_counter() - started, result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", nargs="?")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        recipe = args.recipe or str(Path(tmp) / "tiny.yaml")
        if not args.recipe:
            Path(recipe).write_text(TINY)
        uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        seconds, _ = timed("run", recipe, "--tracking-uri", uri)
        print(f"first run (trains): {seconds:.2f} s")
        again, validate = [], []
        for _ in range(args.repeat):
            seconds, out = timed("run", recipe, "--tracking-uri", uri)
            assert "already trained:" in out, out
            again.append(seconds)
            validate.append(timed("validate", recipe)[0])
    a, v = statistics.median(again), statistics.median(validate)
    print(f"pipeline run, already trained: median {a:.2f} s over {args.repeat} (min {min(again):.2f}, max {max(again):.2f})")
    print(f"pipeline validate:             median {v:.2f} s over {args.repeat}")
    print(f"ratio already-trained / validate: {a / v:.2f}  (target: already trained under 3 s)")


if __name__ == "__main__":
    main()
