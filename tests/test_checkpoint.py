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
from tests.helpers import backend_started  # noqa: F401

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
    files.write(tmp_path, {"epochs_done": 2, "w": np.arange(4.0), "nested": {"t": (1, 2.5, None)}})
    assert sorted(p.name for p in tmp_path.iterdir()) == [files.CURRENT, files.PREVIOUS]
    state = files.read(tmp_path)
    assert state["epochs_done"] == 2 and state["nested"] == {"t": [1, 2.5, None]}
    np.testing.assert_array_equal(state["w"], np.arange(4.0))
    (tmp_path / files.CURRENT).write_bytes(b"torn")  # a write cut short by a crash of the machine
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
