"""Several processes training one model (`pipeline run --coordinator --num-processes --process-id`):
real `pipeline run` processes on 127.0.0.1, each with 2 forced CPU devices, exactly as they would
run on separate hosts. JAX's CPU backend does the cross-process collectives through Gloo."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from pipeline.data.feed_keras import TrainingFeed
from pipeline.search.workers import free_port
from tests.conftest import REPO
from tests.test_data_parallel import RECIPE as DATA_PARALLEL_RECIPE

# the 4-device test's recipe, with mnist1d's 10 classes and accuracy to compare
RECIPE = (DATA_PARALLEL_RECIPE.replace("units: 2}", "units: 10}").replace("epochs: 4", "epochs: 3")
          + "  metrics: [accuracy]\n")
TIMEOUT = 300


def _env(devices: int) -> dict:
    return {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1",
            "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}


def _start(cwd, *args, devices: int = 2, hook: tuple = ()) -> subprocess.Popen:
    command = [sys.executable, "-m", *(("tests.signal_at_second_epoch", *hook) if hook else ("pipeline.cli",)), *args]
    return subprocess.Popen(command, cwd=cwd, env=_env(devices), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _finish(process: subprocess.Popen) -> tuple[int, str]:
    try:
        out, _ = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
        pytest.fail(f"a process hung:\n{out[-3000:]}")
    return process.returncode, out


def _two_processes(tmp_path, recipe, hook_on_1: tuple = (), hook_on_0: tuple = ()):
    """Process 0 records to tmp/store0; process 1 is told another store, which must stay unwritten."""
    port = free_port()
    common = ["run", str(recipe), "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2"]
    first = _start(tmp_path, *common, "--process-id", "0", "--tracking-uri", f"sqlite:///{tmp_path}/store0/mlflow.db",
                   hook=hook_on_0)
    second = _start(tmp_path, *common, "--process-id", "1", "--tracking-uri",
                    f"sqlite:///{tmp_path}/store1/mlflow.db", hook=hook_on_1)
    return _finish(first), _finish(second)


def _only_run(uri: str):
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert len(runs) == 1, [r.info.run_name for r in runs]
    return client, runs[0]


def _with_one_process_reference(tmp_path, recipe):
    """((client, run) process 0 recorded, (client, run) of the same recipe trained by one process
    over 4 devices, the same global batch)."""
    reference = _start(tmp_path, "run", str(recipe), "--set", "distribution={type: data_parallel}",
                       "--tracking-uri", f"sqlite:///{tmp_path}/reference/mlflow.db", devices=4)
    rc, out = _finish(reference)
    assert rc == 0, out[-3000:]
    return _only_run(f"sqlite:///{tmp_path}/store0/mlflow.db"), _only_run(f"sqlite:///{tmp_path}/reference/mlflow.db")


def _curve(client, run, key: str) -> list[float]:
    return [m.value for m in sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)]


@pytest.mark.slow
def test_two_processes_follow_the_one_process_curve_and_only_process_0_records(tmp_path):
    recipe = tmp_path / "dp.yaml"
    recipe.write_text(RECIPE)
    (rc0, out0), (rc1, out1) = _two_processes(tmp_path, recipe)
    assert rc0 == 0, out0[-3000:]
    assert rc1 == 0, out1[-3000:]
    assert "process 1 of 2: trained its part of every batch; process 0 evaluates and records the run" in out1
    assert "global batch 32 = 4 x 8" in out0 and "cpu:2049" in out0  # 4 devices over 2 processes
    assert not (tmp_path / "store1").exists() and not (tmp_path / "mlruns").exists()  # process 1 wrote nothing


    (client, run), (ref_client, ref) = _with_one_process_reference(tmp_path, recipe)
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert params["distribution.processes"] == "2" and params["distribution.device_count"] == "4"
    assert params["train.global_batch_size"] == "32" and params["train.per_process_batch_size"] == "16"
    loss, ref_loss = _curve(client, run, "loss"), _curve(ref_client, ref, "loss")
    assert len(loss) == 3 and loss[-1] < 0.8 * loss[0]  # it learns
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-3)  # the tolerance of tests/test_data_parallel.py
    np.testing.assert_allclose(_curve(client, run, "val_accuracy"), _curve(ref_client, ref, "val_accuracy"), rtol=1e-3)
    # evaluated once by process 0 on every test example, as the one-process run did
    assert run.data.metrics["test_accuracy"] == pytest.approx(ref.data.metrics["test_accuracy"], abs=2e-3)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "checkpoints/resume")}
    assert "checkpoints/resume/state.ckpt" in artifacts  # the epoch checkpoint, written once, by process 0
    assert run.data.tags.get("model.uri")  # the model logged, taking raw inputs

    # the same command again: process 0 finds the FINISHED run of the same recipe.id and tells the others
    (rc0, out0), (rc1, out1) = _two_processes(tmp_path, recipe)
    assert rc0 == 0 and f"already trained: {run.info.run_id}" in out0, out0[-2000:]
    assert rc1 == 0 and f"process 0 ended the run (already trained: {run.info.run_id}" in out1, out1[-2000:]
    _only_run(f"sqlite:///{tmp_path}/store0/mlflow.db")  # it asserts the store still holds one run


@pytest.mark.slow
def test_two_processes_stream_a_memory_mapped_npz_each_reading_its_part(tmp_path):
    """Lazy rows (`mmap: true`): each process reads only its part of every batch from the mapped
    file, and together they follow the one-process curve."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((640, 20)).astype(np.float32)
    np.savez(tmp_path / "arrays.npz", x=x, y=(x[:, :10].sum(axis=1) > 0).astype(np.int64))
    recipe = tmp_path / "mapped.yaml"
    recipe.write_text(f"""\
seed: 0
data: {{source: {{type: npz, path: {tmp_path / 'arrays.npz'}, mmap: true}}}}
model:
  layers:
    - {{type: dense, units: 16, activation: relu}}
    - {{type: dense, units: 2}}
train:
  epochs: 2
  batch_size: 32
  optimizer: {{type: sgd, learning_rate: 0.1}}
  loss: {{type: sparse_categorical_crossentropy, from_logits: true}}
""")
    (rc0, out0), (rc1, out1) = _two_processes(tmp_path, recipe)
    assert rc0 == 0 and rc1 == 0, out0[-2000:] + out1[-2000:]
    (client, run), (ref_client, ref) = _with_one_process_reference(tmp_path, recipe)
    assert run.info.status == "FINISHED" and run.data.params["distribution.processes"] == "2"
    loss = _curve(client, run, "loss")
    assert len(loss) == 2 and loss[1] < loss[0]  # it learns
    np.testing.assert_allclose(loss, _curve(ref_client, ref, "loss"), rtol=1e-3)


@pytest.mark.slow
def test_a_process_killed_mid_training_ends_the_run_failed_with_its_checkpoint(tmp_path):
    """Process 1 SIGKILLs itself as its second epoch begins: process 0 gets Gloo's error at its next
    collective (not JAX's abort, thanks to recoverability) and records the run FAILED with the reason,
    its epoch-1 checkpoint kept; the printed resume command continues it in one process."""
    recipe = tmp_path / "dp.yaml"
    recipe.write_text(RECIPE)
    (rc0, out0), (rc1, _) = _two_processes(tmp_path, recipe, hook_on_1=("SIGKILL", "run"))
    assert rc1 == -9
    assert rc0 == 1, out0[-3000:]
    assert "is marked FAILED" in out0 and "its checkpoint after epoch 1 is kept" in out0, out0[-3000:]
    client, run = _only_run(f"sqlite:///{tmp_path}/store0/mlflow.db")
    assert run.info.status == "FAILED"
    assert run.data.tags["error"].startswith("PeerLost: another process of this run stopped or cannot be reached (")
    assert "Gloo" in run.data.tags["error"]
    assert len(_curve(client, run, "loss")) == 1  # epoch 1's metrics are in the store
    kept = {a.path for a in client.list_artifacts(run.info.run_id, "checkpoints")}
    assert "checkpoints/last.keras" in kept  # from this process's replica or the epoch checkpoint
    resume = next(line for line in out0.splitlines() if line.startswith("resume it: ")).split("--resume ")[-1]
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "run", str(recipe), "--set",
                           "distribution={type: data_parallel}", "--tracking-uri",
                           f"sqlite:///{tmp_path}/store0/mlflow.db", "--resume", resume], cwd=tmp_path,
                          env=_env(4), capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    client, run = _only_run(f"sqlite:///{tmp_path}/store0/mlflow.db")
    assert run.info.status == "FINISHED" and len(_curve(client, run, "loss")) == 3


@pytest.mark.slow
def test_process_0_stopped_by_sigterm_tells_the_others_who_leave_with_its_code(tmp_path):
    """Process 0 holds JAX's coordination service: ended without a word, it would take the others
    down with SIGABRT and a C++ stack trace. It records the run KILLED, then tells them."""
    recipe = tmp_path / "dp.yaml"
    recipe.write_text(RECIPE)
    (rc0, out0), (rc1, out1) = _two_processes(tmp_path, recipe, hook_on_0=("SIGTERM", "run"))
    assert rc0 == 143 and "is marked KILLED" in out0, out0[-3000:]
    assert rc1 == 143, out1[-3000:]
    assert "process 1 of 2: process 0 ended the run (interrupted by SIGTERM); leaving" in out1
    assert "Check failure stack trace" not in out1
    client, run = _only_run(f"sqlite:///{tmp_path}/store0/mlflow.db")
    assert run.info.status == "KILLED"
    assert "checkpoints/last.keras" in {a.path for a in client.list_artifacts(run.info.run_id, "checkpoints")}


@pytest.mark.slow
def test_process_0_killed_outright_leaves_a_died_run_that_resumes_on_one_process(tmp_path):
    """SIGKILL on process 0 leaves no time for a word: JAX aborts the others (they hold nothing to
    record). The run stays RUNNING in the store, `pipeline runs` shows it `died`, and its resume
    command continues it in one process from the epoch-1 checkpoint."""
    recipe = tmp_path / "dp.yaml"
    recipe.write_text(RECIPE)
    (rc0, _), (rc1, out1) = _two_processes(tmp_path, recipe, hook_on_0=("SIGKILL", "run"))
    assert rc0 == -9 and rc1 != 0, out1[-2000:]
    uri = f"sqlite:///{tmp_path}/store0/mlflow.db"
    listed = subprocess.run([sys.executable, "-m", "pipeline.cli", "runs", "--tracking-uri", uri], cwd=tmp_path,
                            env=_env(4), capture_output=True, text=True, timeout=TIMEOUT)
    assert "died" in listed.stdout, listed.stdout + listed.stderr
    _, run = _only_run(uri)
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "run", str(recipe), "--set",
                           "distribution={type: data_parallel}", "--tracking-uri", uri, "--resume", run.info.run_id],
                          cwd=tmp_path, env=_env(4), capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0 and "after epoch 1 of 3" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]
    client, run = _only_run(uri)
    assert run.info.status == "FINISHED" and len(_curve(client, run, "loss")) == 3


@pytest.mark.parametrize("args, message", [
    (["--coordinator", "127.0.0.1:1234", "--num-processes", "2"], "missing: --process-id (or $JAX_PROCESS_ID)"),
    (["--coordinator", "localhost", "--num-processes", "2", "--process-id", "0"], "expected HOST:PORT"),
    (["--coordinator", "h:1", "--num-processes", "2", "--process-id", "2"], "expected 0 <= --process-id < "),
    (["--coordinator", "h:1", "--num-processes", "0", "--process-id", "0"], "expected at least 1"),
    (["--coordinator", "h:1", "--num-processes", "2", "--process-id", "0", "--resume", "last"],
     "is resumed by one process"),
    (["--coordinator", "h:1", "--num-processes", "2", "--process-id", "0", "--set", "backend=torch"],
     "backend torch: several processes train through JAX"),
    (["--coordinator", "h:1", "--num-processes", "2", "--process-id", "0", "--set", "data.split={kfold: 3}"],
     "cross-validation in several processes is not supported"),
])
def test_impossible_cluster_flags_exit_2_naming_the_flag(tmp_path, args, message):
    recipe = tmp_path / "dp.yaml"
    recipe.write_text(RECIPE)
    env = {k: v for k, v in _env(2).items() if not k.startswith("JAX_")}
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "run", str(recipe), *args], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "mlruns").exists()


def test_a_process_alone_ends_within_the_join_timeout(tmp_path):
    """No peer comes: process 1 (no coordinator answers) exits 1 saying so; process 0 (no worker
    registers) is ended by JAX itself (SIGABRT) soon after the timeout, having said what it waited
    for. Neither writes a run."""
    recipe = tmp_path / "dp.yaml"
    recipe.write_text(RECIPE)
    port = free_port()
    alone = ["run", str(recipe), "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2", "--join-timeout", "3"]
    rc1, out1 = _finish(_start(tmp_path, *alone, "--process-id", "1"))
    assert rc1 == 1 and f"no coordinator answers at 127.0.0.1:{port} after 3 s" in out1, out1[-2000:]
    rc0, out0 = _finish(_start(tmp_path, *alone, "--process-id", "0"))
    assert rc0 != 0 and "waiting up to 3 s for the others" in out0, out0[-2000:]
    assert not (tmp_path / "mlruns").exists()


def test_the_environment_a_launcher_sets_stands_for_the_flags(monkeypatch):
    from pipeline import processes

    for variable in processes.ENVIRONMENT.values():
        monkeypatch.delenv(variable, raising=False)
    assert processes.requested(None, None, None) is None  # nothing asked: one process, no runtime joined
    monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "10.0.0.1:7000")
    monkeypatch.setenv("JAX_NUM_PROCESSES", "4")
    monkeypatch.setenv("JAX_PROCESS_ID", "3")
    assert processes.requested(None, None, None) == processes.Cluster("10.0.0.1:7000", 4, 3)
    assert processes.requested(None, None, 1).process_id == 1  # a flag wins over the environment
    assert processes.count() == 1 and processes.index() == 0 and processes.records()  # not joined here


def test_each_process_feeds_its_part_of_every_global_batch():
    x = np.arange(100, dtype=np.float32).reshape(100, 1)
    y = np.arange(100) % 3
    whole = TrainingFeed(x, y, 32, seed=5, drop_remainder=True)
    parts = [TrainingFeed(x, y, 32, seed=5, process_index=i, process_count=2, drop_remainder=True) for i in range(2)]
    assert len(whole) == len(parts[0]) == 3  # whole global batches only (100 // 32), as data parallel feeds
    for epoch in range(2):
        for b in range(3):
            first, second = parts[0][b][0], parts[1][b][0]
            assert len(first) == len(second) == 16
            np.testing.assert_array_equal(np.concatenate([first, second]), whole[b][0])
        for feed in (whole, *parts):
            feed.on_epoch_end()
    validation = TrainingFeed(x, y, 32, shuffle=False, process_index=1, process_count=2, drop_remainder=True)
    np.testing.assert_array_equal(validation[0][0].ravel(), np.arange(16, 32))  # in order, no shuffle
    with pytest.raises(ValueError, match="a batch_size that process_count divides"):
        TrainingFeed(x, y, 32, process_count=3)


def test_with_several_processes_only_callbacks_that_can_do_without_a_probe_go_on(write_recipe, monkeypatch):
    from pipeline import processes
    from pipeline.diagnostics.activations_keras import ActivationStatistics
    from pipeline.diagnostics.explosion_keras import LossExplosionGuard
    from pipeline.diagnostics.monitors import attach
    from pipeline.recipe import load_recipe

    plan = load_recipe(write_recipe("dp.yaml", RECIPE)).plan
    x, y = np.zeros((300, 40, 1), np.float32), np.zeros(300, np.int64)
    one = attach([ActivationStatistics()], plan, x, y)
    assert one[0].x.shape == (256, 40, 1) and one[1]._probe[0].shape == (256, 40, 1)  # one process: probes
    monkeypatch.setattr(processes, "count", lambda: 2)
    guard = attach([], plan, x, y)[0]
    assert isinstance(guard, LossExplosionGuard) and guard._probe is None  # its initial loss: the first batch's
    with pytest.raises(ValueError, match="ActivationStatistics runs the model on a probe batch, which one process "
                                         "cannot do while 2 processes train one model"):
        attach([ActivationStatistics()], plan, x, y)


def test_data_parallel_feeds_whole_global_batches_and_says_what_it_leaves_out(write_recipe):
    from pipeline.assemble import prepare_data
    from pipeline.data.training_data import fit_data
    from pipeline.errors import DataError
    from pipeline.recipe import load_recipe

    file = write_recipe("dp.yaml", RECIPE + "distribution: {type: data_parallel}\n")
    loaded = load_recipe(file)
    _, splits = prepare_data(loaded)
    data = fit_data(loaded.plan, splits, classes=10, seed=0)
    assert len(data.train["x"]) == len(splits.y_train) // 32 and len(data.validation_data()) == len(splits.y_val) // 32
    assert data.params["data.dropped_per_epoch.train"] == len(splits.y_train) % 32
    assert data.validation[0] is splits.x_val  # the final evaluation reads the whole split
    big = load_recipe(file, ["train.batch_size=1024"])
    with pytest.raises(DataError, match=r"the validation split \(\d+ examples\) is smaller than one global batch"):
        fit_data(big.plan, prepare_data(big)[1], classes=10, seed=0)


def test_a_silent_process_takes_every_call_a_run_logger_takes():
    from pipeline.tracking.run_logger import RunLogger
    from pipeline.tracking.silent_logger import WRITES, SilentRunLogger

    silent = SilentRunLogger(1)
    public = {n for n, v in vars(RunLogger).items() if callable(v) and not n.startswith("_")} - {"start", "reopen"}
    missing = {n for n in public if n not in WRITES and n not in vars(SilentRunLogger)}
    assert not missing, f"RunLogger methods SilentRunLogger does not take: {missing}"
    silent.log_params({"a": 1})
    silent.log_epoch({"loss": 1.0}, 0)
    assert silent.artifact_dir().is_dir() and silent.metric_history("loss") == []
    silent.cleanup()
    assert not silent.artifact_dir().exists()
    with pytest.raises(AttributeError):
        silent.no_such_method
