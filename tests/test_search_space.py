"""The search space: validation with locations, sampling by KerasTuner's oracles, narrowing, abort."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from pipeline.cli import main
from pipeline.search.space import parse_space
from pipeline.search.stages import narrow
from pipeline.search.tuner import Job, make_oracle
from tests.conftest import MINIMAL_RECIPE

BASE = MINIMAL_RECIPE + "  optimizer: {type: adam, learning_rate: 1.0e-3}\n"


def _job(space: dict, tuner: str = "random", max_trials: int = 10, tmp_path=None) -> Job:
    return Job(file="x.yaml", base={}, space=space, tuner=tuner, objective="val_accuracy", goal="max",
               max_trials=max_trials, epochs=1, seed=7, directory=str(tmp_path or "."), project="p")


def _samples(space: dict, n: int, tmp_path) -> list[dict]:
    oracle = make_oracle(_job(space, max_trials=n, tmp_path=tmp_path))
    return [oracle.populate_space(str(i))["values"] for i in range(n)]


def test_samples_respect_ranges_and_log_uniform_is_uniform_in_log_space(tmp_path):
    space = {"lr": {"log_uniform": [1.0e-4, 1.0e-1]}, "rate": {"uniform": [0.1, 0.6]},
             "units": {"int": [16, 128], "step": 16}}
    samples = _samples(space, 3000, tmp_path)
    lr = np.array([s["lr"] for s in samples])
    rate = np.array([s["rate"] for s in samples])
    units = np.array([s["units"] for s in samples])
    assert lr.min() >= 1e-4 and lr.max() <= 1e-1
    assert rate.min() >= 0.1 and rate.max() <= 0.6
    assert set(units) <= set(range(16, 129, 16)) and len(set(units)) == 8
    # uniform in log space: each decade of [1e-4, 1e-1] gets a third of the samples (a linear
    # uniform would put 90% in the top decade), and a KS test against U(-4, -1) does not reject
    decades = np.histogram(np.log10(lr), bins=[-4, -3, -2, -1])[0] / len(lr)
    assert np.allclose(decades, 1 / 3, atol=0.03), decades
    from scipy import stats

    assert stats.kstest(np.log10(lr), stats.uniform(loc=-4, scale=3).cdf).pvalue > 0.01
    assert stats.kstest(lr, stats.uniform(loc=1e-4, scale=1e-1 - 1e-4).cdf).pvalue < 1e-6


def test_conditional_entries_appear_only_with_their_choice(tmp_path):
    space = {"opt": {"choice": ["sgd", "adam"]},
             "momentum": {"uniform": [0.0, 0.99], "when": {"opt": "sgd"}},
             "beta_1": {"uniform": [0.8, 0.99], "when": {"opt": ["adam"]}}}
    samples = _samples(space, 200, tmp_path)
    assert {s["opt"] for s in samples} == {"sgd", "adam"}
    for s in samples:
        assert ("momentum" in s) == (s["opt"] == "sgd")
        assert ("beta_1" in s) == (s["opt"] == "adam")


def test_grid_covers_every_combination_once(tmp_path):
    from keras_tuner.engine.trial import TrialStatus

    space = {"opt": {"choice": ["sgd", "adam"]}, "units": {"int": [1, 3]}, "rate": {"uniform": [0.0, 0.5], "step": 0.25}}
    oracle = make_oracle(_job(space, tuner="grid", max_trials=100, tmp_path=tmp_path))
    oracle._set_project_dir(str(tmp_path), "grid")
    seen = []
    while True:
        trial = oracle.create_trial("tuner0")
        if trial.status == TrialStatus.STOPPED:
            break
        seen.append((trial.hyperparameters.values["opt"], trial.hyperparameters.values["units"],
                     trial.hyperparameters.values["rate"]))
        oracle.update_trial(trial.trial_id, {"val_accuracy": 0.5})
        trial.status = TrialStatus.COMPLETED
        oracle.end_trial(trial)
    assert sorted(seen) == sorted(itertools.product(["sgd", "adam"], [1, 2, 3], [0.0, 0.25, 0.5]))


def test_narrowing_is_in_log_space_for_log_ranges():
    dims, _ = parse_space({"lr": {"log_uniform": [1.0e-4, 1.0]}, "rate": {"uniform": [0.0, 1.0]},
                           "units": {"int": [8, 64], "step": 8}, "opt": {"choice": ["sgd", "adam", "adamw"]},
                           "momentum": {"uniform": [0.0, 0.9], "when": {"opt": "sgd"}}})
    top = [{"lr": 1e-3, "rate": 0.3, "units": 24, "opt": "adam"}, {"lr": 1e-2, "rate": 0.5, "units": 32, "opt": "adamw"}]
    space = narrow(dims, top, margin=0.1)
    # log10 range [-4, 0]: span of the best [-3, -2], padded by 0.1 * 4 = 0.4 decades each side
    lo, hi = space["lr"]["log_uniform"]
    assert math.log10(lo) == pytest.approx(-3.4, abs=1e-4) and math.log10(hi) == pytest.approx(-1.6, abs=1e-4)
    assert space["rate"]["uniform"] == pytest.approx([0.2, 0.6])  # [0.3, 0.5] +- 0.1
    assert space["units"] == {"int": [16, 40], "step": 8}  # [24 - 5.6, 32 + 5.6] out to the grid of 8
    assert space["opt"] == {"choice": ["adam", "adamw"]}
    assert "momentum" not in space  # its choice (sgd) is gone: it could never be active


def _tune_recipe(write_recipe, space_yaml: str, extra: str = ""):
    return write_recipe("s.yaml", BASE + "search:\n  max_trials: 2\n" + extra + "  space:\n" + space_yaml)


@pytest.mark.parametrize("entry, anchor, message", [
    ("    train.optimizer.learning_rate: {log_uniform: [-1.0e-4, 1.0e-1]}\n", "log_uniform", "bounds must be > 0"),
    ("    model.layers[1].units: {int: [64, 8]}\n", "int", "inverted or empty range"),
    ("    model.layers[5].units: {int: [8, 64]}\n", "model", "model.layers has 2 items, no [5]"),
    ("    train.optimiser.learning_rate: {uniform: [0.1, 0.2]}\n", "train", "did you mean 'optimizer'"),
    ("    train.batch_size: {int: [8, 64.5]}\n", "int", "expected two integers"),
    ("    train.batch_size: {choice: [8, big]}\n", "choice", "values of one type"),
    ("    model.layers[1].units: {choice: [a, b]}\n", "model", "units='a' gives an invalid recipe"),
    ("    train.epochs: {uniform: [1, 2], when: {train.optimizer.type: sgd}}\n", "train.optimizer", "must name a 'choice'"),
])
def test_invalid_space_exits_2_with_location(write_recipe, capsys, entry, anchor, message):
    path = _tune_recipe(write_recipe, entry)
    where = f"{path}:16:{entry.index(anchor) + 1} search.space."  # line 16 of the file: the entry
    for command in ("validate", "tune"):
        assert main([command, str(path)]) == 2
        err = capsys.readouterr().err
        assert where in err and message in err, err


def test_condition_on_a_mapping_value_is_a_located_error_not_a_crash(write_recipe, capsys):
    # found by the fuzz test: the values of a condition were put in a set, and a mapping is unhashable
    path = _tune_recipe(write_recipe, "    train.optimizer.type: {choice: [adam, sgd]}\n"
                                      "    train.optimizer.momentum: {uniform: [0.0, 0.9], when: {train.optimizer.type: {a: 1}}}\n")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"{path}:17:" in err and "are not all among the choices ['adam', 'sgd']" in err


def test_invalid_settings_and_valid_space(write_recipe, capsys):
    path = _tune_recipe(write_recipe, "    train.optimizer.learning_rate: {log_uniform: [1.0e-4, 1.0e-1]}\n",
                        extra="  tuner: grit\n  max_trails: 3\n")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:15:3 search.tuner: input should be 'random', 'grid', 'bayesian' or 'hyperband'" in err
    assert f"{path}:16:3 search.max_trails: unknown key 'max_trails'; did you mean 'max_trials'?" in err
    path = _tune_recipe(write_recipe, "    train.optimizer.learning_rate: {log_uniform: [1.0e-4, 1.0e-1]}\n"
                                      "    train.optimizer.type: {choice: [adam, sgd]}\n"
                                      "    train.optimizer.momentum: {uniform: [0.0, 0.9], when: {train.optimizer.type: sgd}}\n")
    assert main(["validate", str(path)]) == 0


def test_a_trial_has_one_guard_the_runs_explosion_guard_at_the_search_abort_factor(tmp_path):
    """`search.abort_factor` becomes each trial's `diagnostics.explosion_factor` (even where the recipe
    turned the guard off): the run's own guard, with the one rule of `pipeline.diagnostics.explosion`,
    stops an exploding trial, and the tuner records that as a FAILED trial ('aborted: ...')."""
    import keras

    from pipeline.diagnostics.explosion import LossExplosion
    from pipeline.diagnostics.explosion_keras import LossExplosionGuard
    from pipeline.search.tuner import trial_recipe

    job = _job({}, tmp_path=tmp_path)
    job.base = {"diagnostics": {"explosion_factor": False, "verdict": False}}
    assert trial_recipe(job, {})["diagnostics"] == {"explosion_factor": 3.0, "verdict": False}
    job.abort_factor = 2.5
    assert trial_recipe(job, {})["diagnostics"]["explosion_factor"] == 2.5

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    guard = LossExplosionGuard(factor=trial_recipe(job, {})["diagnostics"]["explosion_factor"])
    guard.set_model(model)
    guard.on_train_begin()  # no probe batch: the first batch's loss is the initial loss
    guard.on_epoch_begin(0)
    guard.on_train_batch_end(0, {"loss": 2.0})
    guard.on_train_batch_end(1, {"loss": 4.9})  # below 2.5 x 2.0: goes on
    with pytest.raises(LossExplosion, match=r"5.1 exceeded 2.5 x the initial loss 2 at epoch 1, step 3"):
        guard.on_train_batch_end(2, {"loss": 5.1})
    with pytest.raises(LossExplosion, match="became NaN/Inf at epoch 1, step 4"):
        guard.on_train_batch_end(3, {"loss": float("nan")})


@pytest.mark.parametrize("tuner", ["bayesian", "hyperband"])
def test_bayesian_and_hyperband_oracles_sample_the_same_space(tmp_path, tuner):
    job = _job({"lr": {"log_uniform": [1.0e-4, 1.0e-1]}, "opt": {"choice": ["sgd", "adam"]},
                "momentum": {"uniform": [0.0, 0.9], "when": {"opt": "sgd"}}}, tuner=tuner, tmp_path=tmp_path)
    job.epochs = 9
    oracle = make_oracle(job)
    oracle._set_project_dir(str(tmp_path), tuner)
    trial = oracle.create_trial("tuner0")
    values = trial.hyperparameters.values
    assert 1e-4 <= values["lr"] <= 1e-1 and ("momentum" in values) == (values["opt"] == "sgd")
    if tuner == "hyperband":  # a trial's epoch budget, which `trial_recipe` writes to train.epochs
        from pipeline.search.tuner import trial_recipe

        job.base = {"train": {"epochs": 9}}
        assert trial_recipe(job, values)["train"]["epochs"] == values["tuner/epochs"] < 9
