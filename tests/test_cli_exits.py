"""Every `pipeline` command ends: each runs in a real subprocess under a timeout, on success and
failure paths, and is checked for its exit code and its time. Also the store: concurrent first runs
on a fresh store all finish (the shared runs are made so), and each store fault ends at once in
exit 2 with one message.
(`pipeline ui` is in test_ui.py.)
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import REPO

TINY = """\
name: tiny
seed: 1
data: {source: {type: digits}}
model: {layers: [{type: flatten}, {type: dense, units: 10}]}
train:
  epochs: 1
  optimizer: {type: adam, learning_rate: 0.01}
  loss: {type: sparse_categorical_crossentropy, from_logits: true}
  metrics: [accuracy]
track: {experiment: exits, log_model: false}
"""
EXPLODE = ["--set", "train.optimizer.type=sgd", "--set", "train.optimizer.learning_rate=1000"]  # fails in epoch 1
HANG_S = 240  # a bound that only a hang exceeds: these commands take 1-15 s here, 4x that on a busy machine
FAULT_S = 30  # a store fault: < 5 s alone; MLflow's connection retries used to take ~205 s


def pipeline_cli(*args, timeout: float = HANG_S, prefix: tuple = ()) -> tuple[subprocess.CompletedProcess, float]:
    """(result, seconds) of `python -m pipeline.cli ARGS` from the repository root."""
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    env.pop("MLFLOW_TRACKING_URI", None)  # every test names its store
    started = time.monotonic()
    result = subprocess.run([*prefix, sys.executable, "-m", "pipeline.cli", *map(str, args)], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=timeout)
    return result, time.monotonic() - started


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """Four runs of the tiny recipe and one that fails in training, all started at once on a fresh
    store (so its first creation is raced), shared by the tests here."""
    folder = tmp_path_factory.mktemp("exits")
    recipe = folder / "tiny.yaml"
    recipe.write_text(TINY)
    uri = f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    # --rerun: a run that starts late (a busy machine) would otherwise find an earlier one finished
    command = [sys.executable, "-m", "pipeline.cli", "run", str(recipe), "--tracking-uri", uri, "--rerun"]
    runs = [subprocess.Popen(command + extra, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for extra in ([], [], [], [], EXPLODE)]
    try:
        outputs = [run.communicate(timeout=HANG_S) for run in runs]
    finally:
        for run in runs:
            run.kill()
    results = [subprocess.CompletedProcess(run.args, run.returncode, *output) for run, output in zip(runs, outputs)]
    return SimpleNamespace(folder=folder, recipe=recipe, uri=uri, ok=results[:4], failed=results[4])


def run_id(result: subprocess.CompletedProcess) -> str:
    return re.search(r"MLflow run id: (\w+)", result.stdout)[1]


def failed_run_id(result: subprocess.CompletedProcess) -> str:
    return re.search(r"the MLflow run (\w+) is marked FAILED \(the traceback is in its error.txt artifact\)", result.stderr)[1]


@pytest.mark.slow
def test_four_concurrent_first_runs_on_a_fresh_store_all_finish(workspace):
    assert [run.returncode for run in workspace.ok] == [0] * 4, [run.stderr[-1500:] for run in workspace.ok]
    from mlflow import MlflowClient

    client = MlflowClient(workspace.uri)  # and the store works afterwards: one experiment, every run in it
    experiment = client.get_experiment_by_name("exits")
    found = {r.info.run_id: r.info.status for r in client.search_runs([experiment.experiment_id])}
    assert found == {**{run_id(run): "FINISHED" for run in workspace.ok}, failed_run_id(workspace.failed): "FAILED"}
    with closing(sqlite3.connect(workspace.uri.removeprefix("sqlite:///"))) as con:
        assert con.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_run_exits_1_when_training_fails_and_says_how_the_run_is_marked(workspace):
    failed = workspace.failed
    assert failed.returncode == 1, failed.stderr[-2000:]
    assert "run failed: LossExplosion" in failed.stderr and "Traceback" not in failed.stderr
    assert failed_run_id(failed)


@pytest.mark.parametrize("which, status", [("ok", "FINISHED"), ("failed", "FAILED")])
def test_report_exits_after_printing_a_finished_or_failed_run(workspace, which, status):
    rid = failed_run_id(workspace.failed) if which == "failed" else run_id(workspace.ok[0])
    result, seconds = pipeline_cli("report", rid, "--tracking-uri", workspace.uri, timeout=60)
    assert result.returncode == 0, result.stderr
    assert re.search(rf"run {rid} \(tiny( [^)]*)?\): {status}", result.stdout), result.stdout  # name + overrides


@pytest.mark.parametrize("args", [["validate", "RECIPE"], ["show", "RECIPE"], ["plugins"], ["catalogue", "--check"],
                                  ["diagnose", "RECIPE", "--subset", "20", "--steps", "100"],
                                  ["lr-find", "RECIPE", "--steps", "60", "--min-lr", "1e-4", "--plot", "PLOT"]],
                         ids=lambda a: a[0])
def test_command_exits_0(workspace, args):
    args = [{"RECIPE": workspace.recipe, "PLOT": workspace.folder / "lr.png"}.get(a, a) for a in args]
    result, _ = pipeline_cli(*args)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def test_runs_lists_the_shared_runs_and_exits(workspace):
    result, _ = pipeline_cli("runs", "--tracking-uri", workspace.uri, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert run_id(workspace.ok[0]) in result.stdout and failed_run_id(workspace.failed) in result.stdout


def test_resume_of_a_finished_run_without_more_epochs_exits_2(workspace):
    rid = run_id(workspace.ok[0])
    result, _ = pipeline_cli("run", workspace.recipe, "--tracking-uri", workspace.uri, "--resume", rid, timeout=120)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Traceback" not in result.stderr


def test_diagnose_exits_1_when_a_check_fails(workspace):
    result, _ = pipeline_cli("diagnose", workspace.recipe, "--subset", "20", "--steps", "100",
                             "--set", "train.optimizer.learning_rate=1e-7")  # too slow to overfit 20 examples
    assert result.returncode == 1, result.stderr[-2000:]
    assert "FAILED: overfit a tiny subset" in result.stdout


def test_tiny_tune_exits_0(workspace):
    recipe = workspace.folder / "search.yaml"
    recipe.write_text(TINY + "search:\n  tuner: random\n  max_trials: 1\n  space:\n"
                             "    train.optimizer.learning_rate: {choice: [1.0e-2, 1.0e-1]}\n")
    result, _ = pipeline_cli("tune", recipe, "--tracking-uri", workspace.uri, "--dir", workspace.folder / "tuning")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "1 trials completed" in result.stdout


def test_exit_waits_on_no_idle_thread_and_keeps_what_mlflow_buffered(tmp_path):
    """An idle, non-daemon pool worker (as MLflow leaves them) must not hold the exit; async metrics stay."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    script = tmp_path / "script.py"
    script.write_text(f"""
import concurrent.futures, time
import mlflow
from pipeline.fast_exit import exit_now

mlflow.set_tracking_uri({uri!r})
pool = concurrent.futures.ThreadPoolExecutor(2)
pool.submit(time.sleep, 0).result()  # its worker now waits for work that never comes
print(mlflow.start_run().info.run_id, flush=True)
for step in range(300):
    mlflow.log_metric("m", float(step), step=step, synchronous=False)
exit_now(3)
""")
    result = subprocess.run([sys.executable, str(script)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 3, result.stderr[-2000:]
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    rid = result.stdout.split()[0]
    assert len(client.get_metric_history(rid, "m")) == 300
    assert client.get_run(rid).info.status == "FINISHED"  # MLflow's own atexit ended it


def _no_override_of_permissions() -> tuple:
    """A command prefix under which chmod-ed files are really read-only: as root, drop the capabilities."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: permissions cannot be made to bite")
    caps = "-dac_override,-dac_read_search,-fowner"
    return (setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}", "--")


def _valid_store(workspace, path: Path) -> None:
    """A consistent copy of the workspace's store (which is in WAL mode) as one plain file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    source = workspace.uri.removeprefix("sqlite:///")
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(path)) as dst:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")


def _runs_in(db: Path) -> int:
    with closing(sqlite3.connect(db)) as con:
        return con.execute("SELECT count(*) FROM runs").fetchone()[0]


FAULTS = {  # case: (the command, what the message says)
    "not_a_database": ("run", "is not a SQLite database"),
    "corrupt": ("run", "is damaged (database disk image is malformed)"),
    "truncated": ("run", "is damaged ("),
    "corrupt_report": ("report", "is damaged (database disk image is malformed)"),
    "read_only_database": ("run", "for writing (Permission denied)"),
    "read_only_folder": ("run", "is not writable (Permission denied)"),
    "unwritable_artifacts": ("run", "cannot create the artifact folder"),
    "bogus_scheme": ("run", "unknown scheme 'bogus'"),
}


@pytest.mark.parametrize("case", FAULTS)
def test_store_fault_exits_2_at_once_with_one_message(workspace, tmp_path, case):
    command, says = FAULTS[case]
    db = tmp_path / "store" / "mlflow.db"
    uri, prefix, runs_before = f"sqlite:///{db}", (), None
    if case == "not_a_database":
        db.parent.mkdir()
        db.write_text("results, not a database\n")
    elif case in ("corrupt", "corrupt_report"):  # a valid header, then garbage over the schema page
        _valid_store(workspace, db)
        with open(db, "r+b") as f:
            f.seek(100)
            f.write(os.urandom(3900))
    elif case == "truncated":
        _valid_store(workspace, db)
        os.truncate(db, db.stat().st_size // 3)
    elif case == "read_only_database":
        _valid_store(workspace, db)
        runs_before = _runs_in(db)
        db.chmod(0o444)
        prefix = _no_override_of_permissions()
    elif case == "read_only_folder":  # a new store in a folder that cannot be written (was ~205 s of retries)
        db.parent.mkdir()
        db.parent.chmod(0o555)
        prefix = _no_override_of_permissions()
    elif case == "unwritable_artifacts":
        (db.parent / "artifacts").mkdir(parents=True)
        (db.parent / "artifacts").chmod(0o555)
        prefix = _no_override_of_permissions()
    elif case == "bogus_scheme":
        uri = "bogus://x"
    args = [workspace.recipe] if command == "run" else ["0" * 32]  # a recipe to run, a run id to report
    try:
        result, seconds = pipeline_cli(command, *args, "--tracking-uri", uri, timeout=FAULT_S * 2, prefix=prefix)
    finally:
        for path in (db.parent, db.parent / "artifacts", db):
            if path.exists():
                path.chmod(path.stat().st_mode | stat.S_IWUSR)
    assert result.returncode == 2, result.stderr[-3000:]
    assert seconds < FAULT_S
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and f"MLflow store {uri}" in errors[0] and says in errors[0], result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert "run failed" not in result.stderr and "marked FAILED" not in result.stderr
    if runs_before is not None:
        assert _runs_in(db) == runs_before
    if case == "unwritable_artifacts":
        assert _runs_in(db) == 0
