"""A shared tracking server on PostgreSQL loses nothing: a run records there the same params, tags,
metric steps and artifacts as in a local SQLite store; a k-fold run and a 2-worker search record
every fold and trial with its curves and artifacts."""

from __future__ import annotations

import mlflow
from mlflow import MlflowClient

from pipeline.cli import main

RECIPE = """\
name: {name}
seed: 4
data:
  source: {{type: mnist1d, num_samples: 400}}
  split: {{val: 0.2{split}}}
model:
  layers:
    - {{type: flatten}}
    - {{type: dense, units: 10}}
train:
  epochs: 2
  batch_size: 64
  optimizer: {{type: sgd, learning_rate: 1.0e-2}}
  loss: {{type: sparse_categorical_crossentropy, from_logits: true}}
  metrics: [accuracy]
track: {{experiment: {name}}}
"""

VOLATILE_TAGS = ("mlflow.", "run.", "heartbeat")  # ids, hosts, process ids and times differ by nature


def _artifacts(client: MlflowClient, run_id: str, path: str | None = None) -> set[str]:
    out = set()
    for item in client.list_artifacts(run_id, path):
        out |= _artifacts(client, run_id, item.path) if item.is_dir else {item.path}
    return out


def _record(uri: str, experiment: str) -> dict:
    """Every run of the experiment by name: status, params, tags, each metric's full history, artifacts."""
    client = MlflowClient(tracking_uri=uri)
    # MLflow lists a run's logged-model artifacts through the *global* store: make it this one
    mlflow.set_tracking_uri(uri)
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    out = {}
    for run in runs:
        history = {key: [(m.step, round(m.value, 4)) for m in client.get_metric_history(run.info.run_id, key)]
                   for key in run.data.metrics if not key.startswith(("heartbeat", "time", "system"))}
        tags = {k: v for k, v in run.data.tags.items() if not k.startswith(VOLATILE_TAGS)}
        out[run.info.run_name] = {"status": run.info.status, "params": run.data.params, "tags": set(tags),
                                  "metrics": history, "artifacts": _artifacts(client, run.info.run_id)}
    return out


def _same_in_both(recipe, pg_uri: str, sqlite_uri: str, name: str) -> dict:
    for uri in (sqlite_uri, pg_uri):
        assert main(["run", str(recipe), "--tracking-uri", uri]) == 0
    local, shared = _record(sqlite_uri, name), _record(pg_uri, name)
    assert shared.keys() == local.keys()
    for run_name, want in local.items():
        got = shared[run_name]
        assert got["status"] == want["status"] == "FINISHED", run_name
        assert got["params"] == want["params"], run_name
        assert got["tags"] == want["tags"], run_name
        assert got["artifacts"] == want["artifacts"], run_name
        assert got["metrics"].keys() == want["metrics"].keys(), run_name
        for key, steps in want["metrics"].items():  # the same steps; values equal up to float noise
            assert [s for s, _ in got["metrics"][key]] == [s for s, _ in steps], (run_name, key)
    return shared


def test_a_run_on_the_postgresql_server_records_what_sqlite_records(pg_tracking_uri, tracking_uri,
                                                                    write_recipe):
    recipe = write_recipe("one.yaml", RECIPE.format(name="pg-one", split=""))
    shared = _same_in_both(recipe, pg_tracking_uri, tracking_uri, "pg-one")
    (run,) = shared.values()
    assert len(run["metrics"]["val_accuracy"]) == 2 and "model" in {a.split("/")[0] for a in run["artifacts"]}
    # the server stored the artifacts itself (proxied): clients never wrote into its folder
    client = MlflowClient(tracking_uri=pg_tracking_uri)
    (found,) = client.search_runs([client.get_experiment_by_name("pg-one").experiment_id])
    assert found.info.artifact_uri.startswith("mlflow-artifacts:")


def test_a_kfold_run_on_the_postgresql_server_records_every_fold(pg_tracking_uri, write_recipe):
    recipe = write_recipe("cv.yaml", RECIPE.format(name="pg-cv", split=", kfold: 2, test: 0.2"))
    assert main(["run", str(recipe), "--tracking-uri", pg_tracking_uri]) == 0
    runs = _record(pg_tracking_uri, "pg-cv")
    folds = {name: run for name, run in runs.items() if run["params"].get("data.split.fold") is not None}
    assert len(runs) == 3 and len(folds) == 2  # the parent and one nested run per fold
    (parent,) = [run for name, run in runs.items() if name not in folds]
    for name, run in runs.items():
        assert run["status"] == "FINISHED", name
    for name, fold in folds.items():
        assert [s for s, _ in fold["metrics"]["val_accuracy"]] == [0, 1], name
        assert {"recipe.yaml", "model/model.keras"} <= fold["artifacts"], (name, fold["artifacts"])
    assert any(key.startswith("cv_") for key in parent["metrics"]), parent["metrics"].keys()


def test_a_two_worker_search_on_the_postgresql_server_tracks_every_trial(pg_tracking_uri, write_recipe,
                                                                        tmp_path):
    recipe = write_recipe("search.yaml", RECIPE.format(name="pg-search", split="") + """\
search:
  max_trials: 2
  space:
    train.optimizer.learning_rate: {log_uniform: [1.0e-3, 1.0e-1]}
""")
    assert main(["tune", str(recipe), "--dir", str(tmp_path / "tuning"), "--workers", "2",
                 "--tracking-uri", pg_tracking_uri]) == 0
    runs = _record(pg_tracking_uri, "pg-search")
    trials = {name: r for name, r in runs.items() if name.startswith("stage 0 trial")}
    assert sorted(trials) == [f"stage 0 trial {i}" for i in range(2)]
    for name, run in trials.items():
        assert run["status"] == "FINISHED", name
        assert [s for s, _ in run["metrics"]["val_accuracy"]] == [0, 1], name
        assert "recipe.yaml" in run["artifacts"], name
        assert "train.optimizer.learning_rate" in run["params"], name
    parent = runs["search pg-search"]
    assert parent["status"] == "FINISHED" and parent["metrics"]["trials_completed"] == [(0, 2.0)]
    assert {"search/results.csv", "search/best_recipe.yaml", "recipe.yaml"} <= parent["artifacts"]
