"""Streaming an image folder (`stream: true`) vs loading it into memory: peak memory and throughput.

Writes an image folder of N and of 10 x N JPEGs (Pillow, `image_folder_throughput.write_folder`),
then runs the real `pipeline run` on each, streamed and in memory, each in its own child process,
and reads that child's peak resident memory from `os.wait4` (its `ru_maxrss`, its own and nothing
else's). Throughput: training images per second of the last epoch (the `heartbeat.epoch_s` tag:
the epoch's time, its validation pass included; the first epoch compiles, so at least 2 epochs).
Printed in one run, so the ratios compare like with like on this machine at this moment.

    python bench/streaming.py --images 600 --size 64 --epochs 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from image_folder_throughput import write_folder  # noqa: E402

RECIPE = """\
seed: 0
data:
  source: {{type: image_folder, root: {root}, image_size: [{size}, {size}], stream: {stream}}}
  split: {{val: 0.1, test: 0.1}}
  preprocess: [{{type: standardize, per: channel}}]
model:
  layers:
    - {{type: conv2d, filters: 8, kernel_size: 3, strides: 2, activation: relu}}
    - {{type: global_avg_pool2d}}
    - {{type: dense, units: 10}}
train:
  epochs: {epochs}
  batch_size: 64
  verbose: 0
  loss: {{type: sparse_categorical_crossentropy, from_logits: true}}
  metrics: [accuracy]
diagnostics: {{verdict: false}}
track: {{experiment: streaming-bench, log_model: false}}
"""


def run_child(recipe: Path, uri: str) -> tuple[float, float]:
    """(peak RSS of the `pipeline run` child in MiB, its wall seconds)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "jax")}
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "run", str(recipe), "--tracking-uri", uri],
                             cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    err = child.stderr.read().decode()
    if child.returncode:
        raise SystemExit(f"{recipe.name} failed ({child.returncode}):\n{err[-3000:]}")
    return usage.ru_maxrss / 1024, time.perf_counter() - started  # Linux: ru_maxrss in KiB


def last_run(uri: str) -> dict:
    import mlflow

    mlflow.set_tracking_uri(uri)
    [run] = mlflow.search_runs(experiment_names=["streaming-bench"], output_format="list",
                               order_by=["attributes.start_time DESC"], max_results=1)
    train = int(run.data.params["data.size.train"])
    return {"train_images": train, "images_per_s": train / float(run.data.tags["heartbeat.epoch_s"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=600, help="N: the small folder; the large one has 10 x N")
    parser.add_argument("--source-size", type=int, default=64, help="side of the JPEGs written")
    parser.add_argument("--size", type=int, default=64, help="side the images are resized to")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        for n in (args.images, 10 * args.images):
            root = Path(tmp) / f"folder{n}"
            write_folder(root, n, args.source_size)
            for stream in ("true", "false"):
                recipe = Path(tmp) / f"r{n}-{stream}.yaml"
                recipe.write_text(RECIPE.format(root=root, size=args.size, stream=stream, epochs=args.epochs))
                rss, seconds = run_child(recipe, uri)
                rows.append({"images": n, "stream": stream == "true", "peak_rss_mib": round(rss),
                             "wall_s": round(seconds, 1), **{k: round(v, 1) for k, v in last_run(uri).items()}})
                print(json.dumps(rows[-1]), flush=True)
    by = {(r["images"], r["stream"]): r for r in rows}
    small, large = args.images, 10 * args.images
    summary = {
        "streamed_rss_growth_10x": round(by[large, True]["peak_rss_mib"] / by[small, True]["peak_rss_mib"], 3),
        "in_memory_rss_growth_10x": round(by[large, False]["peak_rss_mib"] / by[small, False]["peak_rss_mib"], 3),
        "streamed_over_in_memory_rss_at_10x": round(by[large, True]["peak_rss_mib"] / by[large, False]["peak_rss_mib"], 3),
        "throughput_streamed_over_in_memory_at_10x": round(by[large, True]["images_per_s"] / by[large, False]["images_per_s"], 3),
        "cpu_count": os.cpu_count(), "load_average": [round(v, 2) for v in os.getloadavg()],
        "pixels": f"{args.size}x{args.size}x3", "epochs": args.epochs,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
