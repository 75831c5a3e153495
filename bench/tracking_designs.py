"""Experiment: what MLflow tracking costs the quick start, and whether a different design hides it.

The hand-written quick start (bench/handwritten_mnist1d.py) plus the MLflow work the pipeline does
(import mlflow, open the SQLite store, start a run, log params, per-epoch metrics, a figure, end the
run), done in one of these ways:

  none     no tracking: the hand-written baseline
  inline   in the training process, in order, as pipeline/train.py does today
  thread   in the training process, but `import mlflow` + store + start_run in a background thread
           started first, overlapping the Keras/JAX import and data generation
  sidecar  in a separate process started first (Popen), fed JSON lines on its stdin; the trainer
           never imports mlflow. Its RSS is reported as the tree's summed RSS.

    python bench/tracking_designs.py [--repeats 3] [--modes none,inline,thread,sidecar]

Each mode runs in a fresh child process (alternating order), measured like quickstart_overhead.py.
An experiment to size the proposals in bench/README.md, not a part of the pipeline.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

SIDECAR = r"""
import json, sys
import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, Param
uri, experiment = sys.argv[1], sys.argv[2]
mlflow.set_tracking_uri(uri)
found = mlflow.get_experiment_by_name(experiment)
eid = found.experiment_id if found else mlflow.create_experiment(experiment)
client = MlflowClient()
run = client.create_run(eid, run_name="sidecar")
print(run.info.run_id, flush=True)
status = "FAILED"
for line in sys.stdin:
    msg = json.loads(line)
    if msg["op"] == "params":
        client.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in msg["params"].items()])
    elif msg["op"] == "metrics":
        client.log_batch(run.info.run_id, metrics=[Metric(k, v, msg["ts"], msg["step"])
                                                   for k, v in msg["metrics"].items()])
    elif msg["op"] == "artifact":
        client.log_artifact(run.info.run_id, msg["path"], msg["dir"])
    elif msg["op"] == "end":
        status = "FINISHED"
client.set_terminated(run.info.run_id, status)
"""


def _params():
    import handwritten_mnist1d as hw

    return {"epochs": hw.EPOCHS, "batch_size": hw.BATCH_SIZE, "lr": hw.LEARNING_RATE, "seed": hw.SEED}


def child(mode: str, uri: str) -> None:
    os.environ.setdefault("KERAS_BACKEND", "jax")
    start = time.perf_counter()
    tracker = {}
    sidecar = None
    if mode == "inline":
        import mlflow

        mlflow.set_tracking_uri(uri)
        found = mlflow.get_experiment_by_name("designs")
        eid = found.experiment_id if found else mlflow.create_experiment("designs")
        tracker["run"] = mlflow.start_run(experiment_id=eid, run_name="inline")
    elif mode == "thread":
        def connect():
            import mlflow

            mlflow.set_tracking_uri(uri)
            found = mlflow.get_experiment_by_name("designs")
            eid = found.experiment_id if found else mlflow.create_experiment("designs")
            tracker["run"] = mlflow.MlflowClient().create_run(eid, run_name="thread")

        thread = threading.Thread(target=connect, daemon=True)
        thread.start()
    elif mode == "sidecar":
        import subprocess

        sidecar = subprocess.Popen([sys.executable, "-c", SIDECAR, uri, "designs"], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True)

    import keras
    import math
    from sklearn.model_selection import train_test_split

    import handwritten_mnist1d as hw

    hw.seed_everything(hw.SEED, "lean")
    x, y, x_test, y_test = hw.load_mnist1d()
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=hw.VAL_FRACTION,
                                                      random_state=hw.SEED, stratify=y)
    steps = math.ceil(len(x_train) / hw.BATCH_SIZE)
    warmup = hw.WARMUP_EPOCHS * steps
    schedule = keras.optimizers.schedules.CosineDecay(0.0, max(1, hw.EPOCHS * steps - warmup), alpha=0.0,
                                                      warmup_target=hw.LEARNING_RATE, warmup_steps=warmup)
    model = hw.build_model(x_train.shape[1:])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=schedule),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])

    history: dict[str, list[float]] = {}
    pending: list[tuple[int, dict]] = []

    class Log(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            values = {k: float(v) for k, v in (logs or {}).items()}
            for k, v in values.items():
                history.setdefault(k, []).append(v)
            if sidecar is not None:
                sidecar.stdin.write(json.dumps({"op": "metrics", "metrics": values, "step": epoch,
                                                "ts": int(time.time() * 1000)}) + "\n")
                sidecar.stdin.flush()
            else:
                pending.append((epoch, values))

    if mode == "thread":
        thread.join()
    if mode in ("inline", "thread"):
        import mlflow

        run_id = tracker["run"].info.run_id
        mlflow.MlflowClient().log_batch(run_id, params=[
            mlflow.entities.Param(k, str(v)) for k, v in _params().items()])
    elif sidecar is not None:
        sidecar.stdin.write(json.dumps({"op": "params", "params": _params()}) + "\n")
        sidecar.stdin.flush()

    fit_start = time.perf_counter()
    model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=hw.EPOCHS, batch_size=hw.BATCH_SIZE,
              verbose=0, callbacks=[Log()] if mode != "none" else [])
    fit_s = time.perf_counter() - fit_start
    scores = model.evaluate(x_test, y_test, batch_size=hw.BATCH_SIZE, verbose=0, return_dict=True)

    if mode != "none":
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots()
        for k, v in history.items():
            ax.plot(v, label=k)
        png = Path(tempfile.mkdtemp()) / "learning_curves.png"
        fig.savefig(png)
        plt.close(fig)
        if sidecar is not None:
            sidecar.stdin.write(json.dumps({"op": "artifact", "path": str(png), "dir": "plots"}) + "\n")
            sidecar.stdin.write(json.dumps({"op": "end"}) + "\n")
            sidecar.stdin.close()
            sidecar.wait()
        else:
            import mlflow
            from mlflow.entities import Metric

            client = mlflow.MlflowClient()
            run_id = tracker["run"].info.run_id
            now = int(time.time() * 1000)
            client.log_batch(run_id, metrics=[Metric(k, v, now, e) for e, vals in pending
                                              for k, v in vals.items()], synchronous=True)
            client.log_artifact(run_id, str(png), "plots")
            client.set_terminated(run_id, "FINISHED")
            if mode == "inline":
                mlflow.end_run()
    print(f"test accuracy: {scores['accuracy']:.4f}")
    print(f"fit time: {fit_s:.2f} s  (in process {time.perf_counter() - start:.2f} s)")


def main() -> int:
    parser = argparse.ArgumentParser(description="MLflow tracking designs on the quick start.")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--uri", help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--modes", default="none,inline,thread,sidecar")
    parser.add_argument("--wait-idle", type=float, default=120.0)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.uri)
        return 0

    from quickstart_overhead import measure

    modes = args.modes.split(",")
    tmp = Path(tempfile.mkdtemp(prefix="tracking-designs-"))
    uri = f"sqlite:///{tmp / 'store' / 'mlflow.db'}"
    env = {**os.environ, "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "jax"), "PYTHONUNBUFFERED": "1"}
    cmd = {m: [sys.executable, __file__, "--child", m, "--uri", uri] for m in modes}
    print(f"logs and store in {tmp}; warm-up (creates the store):", flush=True)
    for m in modes:
        measure(m, cmd[m], env, tmp, f"warmup-{m}", args.wait_idle)
    runs = {m: [] for m in modes}
    for i in range(args.repeats):
        for m in (modes if i % 2 == 0 else modes[::-1]):
            r = measure(m, cmd[m], env, tmp, f"run{i}-{m}", args.wait_idle)
            runs[m].append(r)
            print(f"  {i + 1}/{args.repeats} {m:<8} wall {r['wall_s']:6.2f}  fit {r['fit_s']:5.2f}  "
                  f"outside fit {r['outside_fit_s']:5.2f}  RSS {r['peak_rss_mib']:6.1f}  "
                  f"tree RSS {r['peak_tree_rss_mib']:6.1f}"
                  f"  cpu {r['cpu_s']:5.1f}  other load {r['other_load_cores']:.2f}", flush=True)
    med = {m: {k: statistics.median(r[k] for r in rs) for k in
               ("wall_s", "fit_s", "outside_fit_s", "peak_rss_mib", "peak_tree_rss_mib", "cpu_s")}
           for m, rs in runs.items()}
    base = med.get("none")
    print(f"\nmedian of {args.repeats}:")
    print(f"{'mode':<8} {'wall s':>7} {'fit s':>6} {'outside fit s':>13} {'+outside s':>10} {'RSS MiB':>8} "
          f"{'+MiB':>6} {'tree RSS MiB':>12} {'CPU s':>6}")
    for m, s in med.items():
        d_out = s["outside_fit_s"] - base["outside_fit_s"] if base else float("nan")
        d_rss = s["peak_rss_mib"] - base["peak_rss_mib"] if base else float("nan")
        print(f"{m:<8} {s['wall_s']:7.2f} {s['fit_s']:6.2f} {s['outside_fit_s']:13.2f} {d_out:+10.2f} "
              f"{s['peak_rss_mib']:8.1f} {d_rss:+6.1f} {s['peak_tree_rss_mib']:12.1f} {s['cpu_s']:6.1f}")
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    path = results / f"tracking_designs-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps({"median": med, "runs": runs}, indent=2) + "\n")
    print(f"results: {path.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
