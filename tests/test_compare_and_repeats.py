"""`pipeline compare` on real runs, and no accidental repeats (`pipeline run` twice, `--rerun`)."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
import time
from types import SimpleNamespace

import numpy as np
import pytest

from pipeline.tracking import runs
from tests.conftest import REPO
from tests.test_cli_exits import TINY as EXITS_TINY

TINY = EXITS_TINY.replace("experiment: exits", "experiment: repeats")
HANG_S = 240  # only a hang exceeds this; a run takes seconds
#: run the CLI in-process and say which frameworks it imported
PROBE = ("import sys; from pipeline.cli import main; code = main(sys.argv[1:]); "
         "print('frameworks:', sorted(m for m in ('keras', 'jax', 'tensorflow', 'torch') if m in sys.modules)); "
         "sys.exit(code)")


def cli(*args, probe: bool = False) -> tuple[subprocess.CompletedProcess, float]:
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    env.pop("MLFLOW_TRACKING_URI", None)
    command = [sys.executable, "-c", PROBE] if probe else [sys.executable, "-m", "pipeline.cli"]
    started = time.monotonic()
    result = subprocess.run([*command, *map(str, args)], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=HANG_S, check=False)
    return result, time.monotonic() - started


def run_id(output: str) -> str:
    return re.search(r"MLflow run id: (\w+)", output)[1]


def run_in_process(*args) -> str:
    """`pipeline ARGS` in this process (no interpreter start-up to pay); its standard output."""
    from pipeline.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([str(a) for a in args]) == 0
    return out.getvalue()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A run of the tiny recipe, the same recipe again (skipped, in a fresh process that reports the
    frameworks it imported), again with --rerun, and one with another learning rate, in one store."""
    folder = tmp_path_factory.mktemp("repeats")
    recipe = folder / "tiny.yaml"
    recipe.write_text(TINY)
    uri = f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"
    first = run_in_process("run", recipe, "--tracking-uri", uri)
    again, seconds = cli("run", recipe, "--tracking-uri", uri, probe=True)
    rerun = run_in_process("run", recipe, "--tracking-uri", uri, "--rerun")
    other = run_in_process("run", recipe, "--tracking-uri", uri, "--set", "train.optimizer.learning_rate=0.03")
    return SimpleNamespace(folder=folder, recipe=recipe, uri=uri, first=run_id(first), again=again,
                           again_s=seconds, rerun=run_id(rerun), other=run_id(other))


def test_the_same_recipe_again_is_not_trained_and_says_which_run_has_it(store):
    result = store.again
    assert result.returncode == 0, result.stderr[-2000:]
    accuracy = runs.get_run(store.uri, store.first).metrics["test_accuracy"]
    assert f"already trained: {store.first} test_accuracy={accuracy:.4g}; --rerun to train again" in result.stdout
    assert "frameworks: []" in result.stdout  # checked before anything is built
    assert store.again_s < 60  # a hang bound; the speed itself: bench/already_trained.py
    assert len(runs.list_runs(store.uri, "repeats")) == 3  # first, rerun, other: nothing for the repeat


def test_rerun_trains_again_and_tags_the_run_it_repeats(store):
    rerun = runs.get_run(store.uri, store.rerun)
    first = runs.get_run(store.uri, store.first)
    assert rerun.status == "FINISHED" and rerun.tags["rerun.of"] == store.first
    assert rerun.tags["recipe.id"] == first.tags["recipe.id"]
    assert "rerun.of" not in runs.get_run(store.uri, store.other).tags


def test_a_file_source_that_changed_is_trained_again(tmp_path):
    """The recipe is the same, its data file is not: another recipe.id, so it trains."""
    rng = np.random.default_rng(0)
    data = tmp_path / "data.npz"
    np.savez(data, x=rng.normal(size=(60, 4)).astype("float32"), y=rng.integers(0, 2, 60))
    recipe = tmp_path / "file.yaml"
    recipe.write_text(TINY.replace("{type: digits}", f"{{type: npz, path: '{data}'}}")
                      .replace("units: 10", "units: 2"))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert "MLflow run id" in run_in_process("run", recipe, "--tracking-uri", uri)
    assert "already trained:" in run_in_process("run", recipe, "--tracking-uri", uri)
    np.savez(data, x=rng.normal(size=(60, 4)).astype("float32"), y=rng.integers(0, 2, 60))
    changed = run_in_process("run", recipe, "--tracking-uri", uri)
    assert "already trained" not in changed and "MLflow run id" in changed


def test_compare_shows_only_the_differing_keys_metrics_identity_and_plots(store):
    plot = store.folder / "compare.png"
    result, _ = cli("compare", store.first, "repeats/tiny lr=0.03", store.rerun, "--plot", plot,
                    "--tracking-uri", store.uri)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    # a run is named after its recipe and its --set overrides: `tiny lr=0.03` is the other learning rate
    assert "recipe differences, B against A (1):\n  changed  train.optimizer.learning_rate: 0.01 -> 0.03" in out
    assert "recipe differences, C against A: none" in out
    assert "train.epochs" not in out and "model.layers" not in out  # what is equal is not shown
    assert re.search(r"recipe.id: different", out) and re.search(r"data fingerprint: equal", out)
    row = next(line for line in out.splitlines() if line.startswith("test_accuracy"))
    a, b, _, b_a, c_a = (float(v) for v in row.split()[1:])
    assert b_a == pytest.approx(b - a, abs=1e-4) and c_a == pytest.approx(0, abs=1e-4)  # a rerun repeats exactly
    assert "[learning_rate=0.01 (" in out and "[learning_rate=0.03]" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_of_an_unknown_run_exits_2_with_close_matches(store):
    result, _ = cli("compare", store.first, store.first[:-1] + "x", "--tracking-uri", store.uri)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"no run '{store.first[:-1]}x'" in result.stderr and f"did you mean '{store.first}'" in result.stderr
    result, _ = cli("compare", store.first, "repeats/tinny", "--tracking-uri", store.uri)
    assert result.returncode == 2 and "did you mean 'repeats/tiny'" in result.stderr


CV = """\
seed: 2
data: {source: {type: digits}, split: {kfold: 2, test: 0.2}}
model: {layers: [{type: flatten}, {type: dense, units: 10}]}
train: {epochs: 1, verbose: 0, loss: {type: sparse_categorical_crossentropy, from_logits: true}, metrics: [accuracy]}
track: {experiment: cv, log_model: false}
"""


def test_a_cross_validation_is_skipped_as_a_whole_and_its_finished_folds_are_kept(
        tracking_uri, write_recipe, capsys):
    from pipeline.cli import main
    from pipeline.kfold import run_kfold
    from pipeline.recipe import load_recipe

    recipe = write_recipe("cv.yaml", CV)
    assert main(["run", str(recipe)]) == 0
    first = next(r for r in runs.list_runs(tracking_uri, "cv") if "kfold" in r.tags)
    capsys.readouterr()
    assert main(["run", str(recipe)]) == 0
    mean = first.metrics["cv_val_accuracy_mean"]
    assert f"already trained: {first.run_id} cv_val_accuracy_mean={mean:.4g}" in capsys.readouterr().out
    # a new cross-validation of the same recipe (not through `pipeline run`) trains no fold again
    again = run_kfold(load_recipe(recipe), echo=lambda *a, **k: None)
    folds = [r.run_id for r in runs.children(tracking_uri, first.run_id, first.experiment_id)]
    assert again.run_id != first.run_id and again.fold_run_ids == folds
    assert again.summary["val_accuracy_mean"] == pytest.approx(mean)


def test_a_search_started_again_rescores_its_trials_from_the_store(tracking_uri, write_recipe, tmp_path):
    from pipeline.search.command import tune

    recipe = write_recipe("search.yaml", EXITS_TINY.replace("experiment: exits", "experiment: search")
                          + "search:\n  tuner: random\n  max_trials: 2\n  seed: 5\n  space:\n"
                            "    train.optimizer.learning_rate: {choice: [1.0e-3, 1.0e-2, 1.0e-1]}\n")

    def quiet(*a, **k):
        return None

    first = tune(str(recipe), tracking_uri=tracking_uri, directory=str(tmp_path / "t"), echo=quiet)

    def trials():
        return [r for r in runs.list_runs(tracking_uri, "search", limit=100) if r.parent_run_id]

    trained = len(trials())
    second = tune(str(recipe), tracking_uri=tracking_uri, directory=str(tmp_path / "t"), echo=quiet)
    assert len(trials()) == trained == 2  # nothing trained the second time
    assert [(r["values"], r["score"]) for r in second["rows"]] == [(r["values"], r["score"]) for r in first["rows"]]
    tune(str(recipe), tracking_uri=tracking_uri, directory=str(tmp_path / "t"), echo=quiet, rerun=True)
    assert len(trials()) == 4


def test_one_flatten_names_list_items_as_params_or_as_set_paths():
    """compare shows keys as `--set` takes them; params keep MLflow's dotted keys (one `flatten`)."""
    from pipeline.recipe.params import flatten

    tree = {"model": {"layers": [{"units": 8}, {"type": "dropout"}]}, "train": {"metrics": []}}
    assert flatten(tree, item="{}[{}]") == {"model.layers[0].units": 8, "model.layers[1].type": "dropout",
                                            "train.metrics": []}
    assert flatten(tree) == {"model.layers.0.units": 8, "model.layers.1.type": "dropout", "train.metrics": []}
