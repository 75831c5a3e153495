"""The quick start through the pipeline vs the same model written by hand in Keras, side by side.

Variants, each in a fresh process, alternating (order rotated per repeat), same backend:
  pipeline          `pipeline run recipes/mnist1d-cnn.yaml` with the pipeline's defaults
  pipeline-before   the same with the defaults before issue 7 (steps_per_execution 1, normal exit)
  hand-same         bench/handwritten_mnist1d.py with the pipeline's settings (8 steps per execution)
  hand-default      bench/handwritten_mnist1d.py with Keras' defaults (1 step per execution)
Per run: wall time, CPU time (user + system, of the child: less sensitive to other jobs on a shared
machine than wall time), fit time (printed by each program), start-up to the first training step (the
first `Epoch 1/` line Keras prints, timed by this process), peak RSS (`ru_maxrss` from wait4).
The table shows medians; the ratios are of medians measured in this one session.

    python bench/cpu_speed.py --repeats 3        # ~20 s per run on 2 idle cores: ~5 min
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def variants(store: str) -> dict[str, tuple[list[str], dict]]:
    run = [sys.executable, "-m", "pipeline.cli", "run", "recipes/mnist1d-cnn.yaml", "--tracking-uri", store]
    hand = [sys.executable, "bench/handwritten_mnist1d.py"]
    return {
        "pipeline": (run, {}),
        "pipeline-before": (run + ["--set", "train.steps_per_execution=1"], {"PIPELINE_SLOW_EXIT": "1"}),
        "hand-same": (hand + ["--steps-per-execution", "8"], {}),
        "hand-default": (hand, {}),
    }


def measure(command: list[str], extra_env: dict, backend: str) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": str(ROOT), **extra_env}
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    first_step, lines = None, []
    for line in proc.stdout:
        lines.append(line)
        if first_step is None and line.startswith("Epoch 1/"):
            first_step = time.perf_counter() - start
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = "".join(lines)
    if proc.returncode != 0:
        raise RuntimeError(f"{command} failed:\n{text[-3000:]}")
    fit = re.search(r"training took ([\d.]+) s|fit time: ([\d.]+) s", text)
    acc = re.search(r"test_accuracy=([\d.]+)|test accuracy: ([\d.]+)", text)
    return {"wall_s": wall, "fit_s": float(next(g for g in fit.groups() if g)), "startup_s": first_step,
            "cpu_s": usage.ru_utime + usage.ru_stime, "rss_mib": usage.ru_maxrss / 1024, "accuracy": float(next(g for g in acc.groups() if g))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backend", default="jax")
    parser.add_argument("--only", nargs="*", help="variant names (default: all)")
    parser.add_argument("--json", type=Path, help="also write every run here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        table = variants(f"sqlite:///{tmp}/mlflow.db")
        names = args.only or list(table)
        for name in names:  # warm-up: page cache, and the pipeline's store gets created
            if name.startswith("pipeline") or name == names[0]:
                measure(*table[name], args.backend)
                break
        runs: dict[str, list[dict]] = {n: [] for n in names}
        for repeat in range(args.repeats):
            order = names[repeat % len(names):] + names[:repeat % len(names)]
            for name in order:
                runs[name].append(measure(*table[name], args.backend))
                print(f"  {name:<16} " + " ".join(f"{k}={v:.3f}" for k, v in runs[name][-1].items()),
                      file=sys.stderr, flush=True)
    med = {n: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for n, rs in runs.items()}
    print(f"backend {args.backend}, {os.cpu_count()} CPUs, median of {args.repeats} per variant")
    print(f"{'variant':<16} {'wall s':>7} {'CPU s':>7} {'fit s':>7} {'startup s':>9} {'peak RSS MiB':>13} "
          f"{'test acc':>9}")
    for name, m in med.items():
        print(f"{name:<16} {m['wall_s']:>7.2f} {m['cpu_s']:>7.2f} {m['fit_s']:>7.2f} {m['startup_s']:>9.2f} "
              f"{m['rss_mib']:>13.0f} {m['accuracy']:>9.4f}")
    ratios = [("pipeline / hand-same (wall; goal <= 1.05)", "pipeline", "hand-same", "wall_s"),
              ("pipeline / hand-same (peak RSS)", "pipeline", "hand-same", "rss_mib"),
              ("pipeline / hand-same (start-up to first step)", "pipeline", "hand-same", "startup_s"),
              ("pipeline / hand-same (CPU time)", "pipeline", "hand-same", "cpu_s"),
              ("hand-default / pipeline (wall; goal >= 1.15)", "hand-default", "pipeline", "wall_s"),
              ("hand-default / pipeline (CPU time)", "hand-default", "pipeline", "cpu_s"),
              ("pipeline-before / pipeline (wall)", "pipeline-before", "pipeline", "wall_s"),
              ("pipeline-before / pipeline (fit)", "pipeline-before", "pipeline", "fit_s")]
    for label, a, b, key in ratios:
        if a in med and b in med:
            print(f"{label:<48} {med[a][key] / med[b][key]:.3f}")
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1))


if __name__ == "__main__":
    main()
