"""A search across hosts, as separate processes on 127.0.0.1: `pipeline tune --chief` and two
`pipeline tune --worker` against the PostgreSQL-backed tracking server. One worker is killed with
SIGKILL mid-trial (its trial goes to the other worker), the chief is stopped and restarted with
`--resume` while the other worker trains, the worker follows it into a second stage, and every
trial ends up tracked once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mlflow import MlflowClient

from pipeline.cli import main
from pipeline.search.workers import free_port
from tests.conftest import REPO

RECIPE = """\
name: hosts
seed: 5
data:
  source: {type: mnist1d, num_samples: 1200}
  split: {val: 0.2}
model:
  layers:
    - {type: flatten}
    - {type: dense, units: 10}
train:
  epochs: 3
  batch_size: 8
  steps_per_execution: 1
  optimizer: {type: sgd, learning_rate: 1.0e-2}
  loss: {type: sparse_categorical_crossentropy, from_logits: true}
  metrics: [accuracy]
track: {experiment: hosts}
search:
  stages:
    - {epochs: 3, max_trials: 3, top_k: 2}
    - {epochs: 1, max_trials: 1}      # the workers move on to the narrowed stage
  space:
    train.optimizer.learning_rate: {log_uniform: [1.0e-3, 1.0e-1]}
"""


def _tune(recipe, log: Path, *args, tuner_id: str | None = None,
          command: tuple[str, ...] = ("pipeline.cli",)) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "KERAS_BACKEND": "jax"}
    env.pop("MLFLOW_TRACKING_URI", None)
    if tuner_id:
        env["KERASTUNER_TUNER_ID"] = tuner_id
    with open(log, "w", encoding="utf-8") as out:
        return subprocess.Popen([sys.executable, "-m", *command, "tune", str(recipe), *args], env=env,
                                cwd=REPO, stdout=out, stderr=subprocess.STDOUT)


def _wait_for(what, procs, logs, deadline_s: float = 300):
    deadline = time.monotonic() + deadline_s
    while not what():
        ended = {str(log): log.read_text() for p, log in zip(procs, logs) if p.poll() is not None}
        assert not ended and time.monotonic() < deadline, ended
        time.sleep(0.2)


def test_chief_and_two_workers_keep_every_trial_once_through_a_killed_worker_and_a_restarted_chief(
        pg_tracking_uri, write_recipe, tmp_path):
    recipe = write_recipe("hosts.yaml", RECIPE)
    chief = f"127.0.0.1:{free_port()}"
    common = ("--chief", chief, "--tracking-uri", pg_tracking_uri)
    boss_args = (*common, "--dir", str(tmp_path / "chief"), "--worker-timeout", "15")
    logs = [tmp_path / f"{name}.log" for name in ("a", "chief", "b", "chief2")]
    # any order: a worker started before the chief waits for it
    # worker-a kills itself with SIGKILL when its first trial begins its second epoch (a test hook in
    # the worker: after a backed-up epoch, before the trial ends, however fast the trials run)
    doomed = _tune(recipe, logs[0], "--worker", *common, "--dir", str(tmp_path / "a"), tuner_id="worker-a",
                   command=("tests.signal_at_second_epoch", "SIGKILL", "any"))
    boss = _tune(recipe, logs[1], *boss_args)
    other = _tune(recipe, logs[2], "--worker", *common, "--dir", str(tmp_path / "b"), tuner_id="worker-b")
    procs = [doomed, boss, other]
    client = MlflowClient(tracking_uri=pg_tracking_uri)
    try:
        assert doomed.wait(timeout=300) == -signal.SIGKILL, logs[0].read_text()
        (backup,) = (tmp_path / "a").glob("stage0/trial_*/backup_0/training_metadata.json")  # its epoch 1, kept
        lost = backup.parent.parent.name.removeprefix("trial_")

        def marked():  # the chief gave the trial to another worker and marked the dead worker's run
            experiment = client.get_experiment_by_name("hosts").experiment_id
            return client.search_runs([experiment], "attributes.status = 'KILLED'")

        _wait_for(marked, procs[1:], logs[1:3])
        boss.send_signal(signal.SIGTERM)  # the chief stops; worker-b goes on and waits for it
        assert boss.wait(timeout=120) == 1, logs[1].read_text()
        boss = _tune(recipe, logs[3], *boss_args, "--resume")
        procs = [boss, other]
        assert boss.wait(timeout=400) == 0, logs[3].read_text()
        assert other.wait(timeout=60) == 0, logs[2].read_text()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert f"chief: trial {lost} goes back to the queue: worker worker-a silent" in logs[1].read_text()
    assert "the search is done" in logs[2].read_text()

    runs = client.search_runs([client.get_experiment_by_name("hosts").experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("search.role") == "parent"]  # the restart went on in it
    assert parent.info.status == "FINISHED" and parent.data.metrics["trials_completed"] == 4
    assert parent.data.params["search.chief"] == chief
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    finished = sorted((r.data.tags["search.stage"], r.data.tags["search.trial_id"])
                      for r in trials if r.info.status == "FINISHED")
    assert finished == [("0", "0"), ("0", "1"), ("0", "2"), ("1", "0")]  # each trial once: none lost or redone
    (killed,) = [r for r in trials if r.info.status != "FINISHED"]  # the killed worker's run, marked for it
    assert killed.info.status == "KILLED" and killed.data.tags["search.trial_id"] == lost
    assert killed.data.tags["search.worker"] == "worker-a" and "went to another worker" in killed.data.tags["error"]
    redone = next(r for r in trials if r.info.status == "FINISHED" and r.data.tags["search.trial_id"] == lost
                  and r.data.tags["search.stage"] == "0")
    assert redone.data.tags["search.worker"] == "worker-b"
    assert len(client.get_metric_history(redone.info.run_id, "val_accuracy")) == 3


def test_chief_and_worker_refuse_what_cannot_work(write_recipe, tracking_uri, capsys):
    recipe = write_recipe("hosts.yaml", RECIPE)
    for args, message in ((["--worker"], "--worker needs --chief"),
                          (["--chief", "127.0.0.1:x"], "expected HOST:PORT"),
                          (["--chief", "127.0.0.1:8000", "--workers", "2"], "start workers with --worker"),
                          (["--chief", "127.0.0.1:8000"], "needs an MLflow tracking server every host reaches")):
        assert main(["tune", str(recipe), *args]) == 2, args
        assert message in capsys.readouterr().err, args


def test_chief_requeues_a_silent_workers_trial_and_counts_a_late_result_once(tmp_path, monkeypatch):
    """The chief's rules, driven over gRPC as KerasTuner's workers call it (no training)."""
    import threading

    from keras_tuner.src.distribute.oracle_client import OracleClient

    from pipeline.search.chief import SERVICE, Chief, decode, encode
    from pipeline.search.remote_worker import channel
    from pipeline.search.tuner import Job

    port = free_port()
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", str(port))
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "a")
    job = Job(file="r.yaml", base={}, space={"train.optimizer.learning_rate": {"log_uniform": [1.0e-3, 1.0e-1]}},
              tuner="random", objective="val_accuracy", goal="max", max_trials=2, epochs=1, seed=1,
              directory=str(tmp_path), project="stage0")
    lost, said = [], []
    chief = Chief(("127.0.0.1", port), "hash", worker_timeout=1.0, echo=lambda *a, **k: said.append(a[0]),
                  on_lost=lambda job, trial_id, reason: lost.append((trial_id, reason)))
    ended = {}
    with chief:
        stage = threading.Thread(target=lambda: ended.update(oracle=chief.run_stage(job)))
        stage.start()
        ask = channel(f"127.0.0.1:{port}").unary_unary(f"/{SERVICE}/Job", request_serializer=encode,
                                                       response_deserializer=decode)
        deadline = time.monotonic() + 30
        while ask({"tuner_id": "a"}, timeout=30)["state"] != "job":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        client = OracleClient(None)
        first, second = client.create_trial("a"), client.create_trial("b")
        assert (first.trial_id, second.trial_id) == ("0", "1")
        while not lost:  # "b" says it is alive, "a" stays silent
            ask({"tuner_id": "b"}, timeout=30)
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert lost[0][0] == "0" and "worker a silent" in lost[0][1]

        def finish(trial, score):
            client.update_trial(trial.trial_id, {"val_accuracy": score})
            trial.status = "COMPLETED"
            client.end_trial(trial)

        finish(second, 0.5)
        retried = client.create_trial("b")  # the lost trial, from KerasTuner's retry queue
        assert retried.trial_id == "0" and retried.status == "RUNNING"
        assert client.create_trial("c").status == "IDLE"  # no new trial, but one may come back: wait
        finish(first, 0.7)  # "a" was alive after all: its result counts...
        finish(retried, 0.1)  # ...and the second one for the same trial is ignored
        assert client.create_trial("b").status == "STOPPED"
        stage.join(timeout=30)
        oracle = ended["oracle"]
    assert oracle.end_order == ["1", "0"]
    assert oracle.trials["0"].score == 0.7 and oracle.trials["0"].status == "COMPLETED"
    assert [line.split()[1] for line in said if line.startswith("    0 ")] == ["1", "0"]  # one table row each
    assert chief._job({"tuner_id": "b"}, None) == {"state": "done"}  # what workers are told after the last stage
