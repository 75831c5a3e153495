"""Epoch checkpoints, in-process: the file (atomic, previous kept, no pickle), the state they hold,
and an exact resume at every epoch of a run with an unfreeze phase and early stopping."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from pipeline import heartbeat
from pipeline.checkpoint import files
from pipeline.checkpoint.location import RunFolder
from pipeline.resume import recipe_changes

pytestmark = pytest.mark.usefixtures("backend_started")

RECIPE = """\
seed: 5
data: {source: {type: digits}, split: {val: 0.2, test: 0.2}, preprocess: [{type: standardize}],
       imbalance: {oversample: true}}
model:
  layers:
    - {type: flatten, name: flat}
    - {type: dense, units: 32, activation: relu, name: hidden}
    - {type: dropout, rate: 0.3}
    - {type: dense, units: 10, name: head}
  freeze: {names: [hidden]}
train:
  epochs: 8
  batch_size: 64
  verbose: 0
  optimizer: {type: adam, learning_rate: 0.01}
  loss: {type: sparse_categorical_crossentropy, from_logits: true}
  metrics: [accuracy]
  unfreeze: [{epoch: 2, names: [hidden]}]
  callbacks: [{type: early_stopping, patience: 2, min_delta: 0.25, smoothing: 0.3}, lr_logger, {type: warmup, epochs: 1}]
"""


class NoStore:
    """A run logger that keeps nothing (the fit loop's only link to the store)."""

    run_id = "test"

    def log_epoch(self, *args, **kwargs):
        pass

    def flush(self):
        pass

    def log_params(self, params):
        pass


def _fit(write_recipe, tmp_path, resume_from=None, keep_at=None, name="run"):
    """Train RECIPE as a run does; `keep_at`: {epochs done: folder} to copy each checkpoint to."""
    from pipeline import fit, transfer
    from pipeline.assemble import build_compiled_model, prepare_data
    from pipeline.keras_compat import set_seed
    from pipeline.recipe import load_recipe

    loaded = load_recipe(write_recipe("r.yaml", RECIPE))
    set_seed(loaded.plan.recipe.seed)
    _, splits = prepare_data(loaded)
    steps = fit.steps_per_epoch(loaded, splits)
    model = build_compiled_model(loaded, splits.x_train.shape[1:], steps)
    transfer.prepare(model, loaded.plan, steps)
    folder = RunFolder(tmp_path / name, True)

    def saved(done):
        if keep_at is not None and done in keep_at:
            shutil.copytree(folder.resume, keep_at[done])

    fitted = fit.fit(model, loaded, splits, NoStore(), folder, resume_from, echo=lambda *a: None, on_saved=saved)
    return model, fitted.history


@pytest.mark.slow
def test_resume_after_any_epoch_ends_exactly_where_the_whole_run_ends(write_recipe, tmp_path):
    """Epoch 2 ends the frozen phase (its fit's on_train_end is replayed, then the unfreeze and a new
    optimizer); epoch 3 is inside a phase. Warmup, dropout, the oversampling feed's order,
    early stopping with smoothing (which stops this run and restores its best epoch): all continue
    as if nothing happened."""
    kept = {k: tmp_path / f"after{k}" for k in (2, 3)}
    whole, history = _fit(write_recipe, tmp_path, keep_at=kept)
    assert 4 < len(history["loss"]) < 8  # early stopping ended it and restored its best epoch
    for epochs_done, folder in kept.items():
        state = files.read(folder)
        assert state["epochs_done"] == epochs_done
        resumed, resumed_history = _fit(write_recipe, tmp_path, resume_from=state, name=f"resumed{epochs_done}")
        for a, b in zip(whole.get_weights(), resumed.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
        assert resumed_history == history


def test_checkpoint_file_is_atomic_keeps_the_previous_and_falls_back_to_it(tmp_path):
    files.write(tmp_path, {"epochs_done": 1, "w": np.arange(3.0), "nested": {"t": (1, 2.5, None)}})
    files.write(tmp_path, {"epochs_done": 2, "w": np.arange(4.0), "nested": {"t": (1, 2.5, None)},
                           "step": np.array(7, "int64"), "empty": np.zeros((0, 3), "float32")})
    assert sorted(p.name for p in tmp_path.iterdir()) == [files.CURRENT, files.PREVIOUS]
    state = files.read(tmp_path)
    assert state["epochs_done"] == 2 and state["nested"] == {"t": [1, 2.5, None]}
    np.testing.assert_array_equal(state["w"], np.arange(4.0))
    assert state["step"].shape == () and state["step"] == 7 and state["empty"].shape == (0, 3)
    current = (tmp_path / files.CURRENT).read_bytes()
    (tmp_path / files.CURRENT).write_bytes(current[:-1] + b"?")  # a byte lost in a crash: the CRC says so
    assert files.read(tmp_path)["epochs_done"] == 1
    (tmp_path / files.CURRENT).write_bytes(current[:-9])  # cut short
    assert files.read(tmp_path)["epochs_done"] == 1
    (tmp_path / files.PREVIOUS).write_bytes(b"torn")
    with pytest.raises(files.CheckpointError, match="no readable checkpoint"):
        files.read(tmp_path)
    assert files.read(tmp_path / "none") is None


def test_recipe_changes_allow_only_a_larger_epochs_and_display_settings():
    logged = {"train": {"epochs": 10, "verbose": 2, "optimizer": {"type": "adam", "learning_rate": 0.003}},
              "description": "x"}
    same = {"train": {"epochs": 10, "verbose": 0, "optimizer": {"type": "adam", "learning_rate": 0.003}},
            "description": "changed text", "track": {}}
    assert recipe_changes(logged, same) == ([], None)
    longer = {**same, "train": {**same["train"], "epochs": 15}}
    assert recipe_changes(logged, longer) == ([], 10)
    shorter = {**same, "train": {**same["train"], "epochs": 5, "batch_size": 8}}
    assert recipe_changes(logged, shorter)[0] == [(("train", "batch_size"), "(absent)", 8),
                                                  (("train", "epochs"), 10, 5)]


def test_a_running_run_whose_process_is_gone_is_died():
    alive = heartbeat.identity()
    assert heartbeat.state("RUNNING", alive) == "RUNNING"
    assert heartbeat.state("KILLED", alive) == "KILLED"
    gone = {**alive, heartbeat.PID: "999999999"}
    assert heartbeat.state("RUNNING", gone) == "died"
    reused = {**alive, heartbeat.PID_START: "1"}  # same id, another process: not ours
    assert heartbeat.state("RUNNING", reused) == "died"
    elsewhere = {**alive, heartbeat.HOST: "another-host"}
    assert heartbeat.state("RUNNING", elsewhere) == "RUNNING"  # heard from just now
    stale = {**elsewhere, heartbeat.BEAT: str(int(elsewhere[heartbeat.BEAT]) - 3_600_000)}
    assert heartbeat.state("RUNNING", stale) == "died"


CV_RECIPE = """\
seed: 2
data: {source: {type: digits}, split: {kfold: 2, test: 0.2}, preprocess: [{type: standardize}]}
model:
  layers: [{type: flatten}, {type: dense, units: 16, activation: relu}, {type: dropout, rate: 0.2}, {type: dense, units: 10}]
train:
  epochs: 2
  batch_size: 64
  verbose: 0
  loss: {type: sparse_categorical_crossentropy, from_logits: true}
  metrics: [accuracy]
  callbacks: [interrupt_once]
diagnostics: {verdict: false}
track: {experiment: cv, log_model: false}
"""


@pytest.mark.slow
def test_an_interrupted_cross_validation_resumes_through_its_parent(tracking_uri, write_recipe):
    """Fold 1 is interrupted in its second epoch: the parent and the fold end KILLED; resuming the
    parent keeps fold 0's run, continues fold 1's run from its checkpoint, and ends as a
    cross-validation that was never interrupted."""
    import keras

    from pipeline.kfold import run_kfold
    from pipeline.recipe import load_recipe
    from pipeline.registries import callbacks
    from pipeline.tracking import runs

    armed = {"epoch_begins": 0, "at": None}

    @callbacks.register("interrupt_once")
    def interrupt_once():
        """Raises KeyboardInterrupt at the `armed['at']`-th epoch start of the process (test helper)."""

        class Interrupt(keras.callbacks.Callback):
            stateless = True

            def on_epoch_begin(self, epoch, logs=None):
                armed["epoch_begins"] += 1
                if armed["epoch_begins"] == armed["at"]:
                    raise KeyboardInterrupt("test")

        return Interrupt()

    loaded = load_recipe(write_recipe("cv.yaml", CV_RECIPE))
    quiet = lambda *a, **k: None  # noqa: E731
    whole = run_kfold(loaded, echo=quiet)
    armed.update(epoch_begins=0, at=4)  # fold 0: epochs 1-2, fold 1: epoch 1, then the second
    with pytest.raises(KeyboardInterrupt):  # rerun: train the folds `whole` already trained
        run_kfold(loaded, echo=quiet, rerun=True)
    parent = next(r for r in runs.list_runs(tracking_uri, "cv") if "kfold" in r.tags and r.run_id != whole.run_id)
    folds = runs.children(tracking_uri, parent.run_id, parent.experiment_id)
    assert parent.status == "KILLED" and [f.status for f in folds] == ["FINISHED", "KILLED"]
    assert parent.tags["resume.command"].endswith(f"--resume {parent.run_id}")
    resumed = run_kfold(loaded, echo=quiet, resume="last")
    assert resumed.run_id == parent.run_id and resumed.fold_run_ids == [f.run_id for f in folds]
    assert [runs.get_run(tracking_uri, i).status for i in (parent.run_id, *resumed.fold_run_ids)] == ["FINISHED"] * 3
    assert resumed.summary == whole.summary and resumed.fold_metrics == whole.fold_metrics


def test_resume_refuses_search_trials_and_single_folds_and_last_finds_the_newest_unfinished_run(
        tracking_uri, write_recipe):
    from pipeline import tracking
    from pipeline.recipe import load_recipe
    from pipeline.resume import ResumeError, choose
    from pipeline.tracking.run_logger import RunLogger

    recipe = write_recipe("r.yaml", CV_RECIPE.replace("kfold: 2, ", "").replace("  callbacks: [interrupt_once]\n", ""))
    loaded = load_recipe(recipe)
    experiment = tracking.connect(tracking_uri, "cv")
    mine = {"recipe.file": str(recipe)}

    def run(status, tags, params=None):
        logger = RunLogger.start(tracking_uri, experiment, None, tags)
        if params:
            logger.log_params(params)
        if status != "RUNNING":
            logger.end(status)
        return logger.run_id

    older = run("KILLED", {**mine, **heartbeat.identity()})
    newer = run("FAILED", mine)
    run("FINISHED", mine)
    run("KILLED", {"recipe.file": "other.yaml"})
    alive = run("RUNNING", {**mine, **heartbeat.identity()})  # this very process: not resumable
    trial = run("KILLED", {**mine, "search.trial_id": "3", "mlflow.parentRunId": older})
    fold = run("KILLED", mine | {"mlflow.parentRunId": older}, {"data.split.fold": "0"})
    assert choose(loaded, tracking_uri, "last", "plain").run_id == newer
    assert choose(loaded, tracking_uri, older, "plain").run_id == older
    with pytest.raises(ResumeError, match="hyperparameter search: continue the search with `pipeline tune"):
        choose(loaded, tracking_uri, trial, "plain")
    with pytest.raises(ResumeError, match=f"one fold of a cross-validation: .* `--resume {older}`"):
        choose(loaded, tracking_uri, fold, "plain")
    with pytest.raises(ResumeError, match="no run 'nope'"):
        choose(loaded, tracking_uri, "nope", "plain")
    from pipeline.resume import check
    from pipeline.tracking import runs

    with pytest.raises(ResumeError, match=f"run {alive} is still running"):
        check(loaded, tracking_uri, runs.get_run(tracking_uri, alive))
