"""`--workers N`: KerasTuner's chief/worker mode on this machine, tracked through one MLflow server.

The chief is the oracle, served over gRPC on 127.0.0.1 from a thread of the `pipeline tune` process;
each worker is a process (`python -m pipeline.search.worker JOB`) that asks it for trials and runs
them. The workers log through a local `mlflow server` over the SQLite store (the chief writes the
parent run before and after them), so the processes never race on the database file. Across hosts:
`pipeline tune --chief` / `--worker` (pipeline/search/chief.py, remote_worker.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

from pipeline.search.tuner import Job, make_oracle

CHIEF_ENV = ("KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(uri: str, timeout_s: float = 300.0) -> None:
    """Block until the MLflow server at `uri` answers /health (it takes seconds to start)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"mlflow server did not answer on {uri} within {timeout_s:.0f} s")
        time.sleep(0.3)


@contextlib.contextmanager
def mlflow_server(backend_uri: str, artifacts_destination: str | None = None, stop_wait_s: float = 10.0):
    """Start a `mlflow server` over `backend_uri` bound to 127.0.0.1 and yield its http URI at once:
    it starts while the workers import, and each worker waits for it (`wait_ready`) before logging.
    With `artifacts_destination` the server stores the artifacts clients upload (proxied artifacts).
    It gets `stop_wait_s` to finish its requests (it waits for clients' idle keep-alive connections)."""
    port = free_port()
    artifacts = ["--artifacts-destination", artifacts_destination] if artifacts_destination else []
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend_uri, *artifacts,
                             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        # the server runs uvicorn in a child process: stop the whole process group
        for sig, wait in ((signal.SIGTERM, stop_wait_s), (signal.SIGKILL, 10)):
            try:
                os.killpg(proc.pid, sig)
                proc.wait(timeout=wait)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue


def chief_oracle(job: Job):
    """The stage's oracle, reloaded from its project folder when resuming."""
    oracle = make_oracle(job)
    oracle.verbose = 0  # the workers print the live table
    oracle._set_project_dir(job.directory, job.project)
    if (job.project_dir / "oracle.json").exists():
        oracle.reload()
    return oracle


def run_parallel(job: Job, workers: int, tracking_uri: str):
    """Serve the oracle, run `workers` worker processes until it has no trial left; return the oracle."""
    from keras_tuner.src.distribute import oracle_chief

    oracle = chief_oracle(job)
    port = free_port()
    saved = {k: os.environ.get(k) for k in CHIEF_ENV}
    os.environ.update(KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_ORACLE_PORT=str(port),
                      KERASTUNER_TUNER_ID="chief")
    threading.Thread(target=oracle_chief.start_server, args=(oracle,), daemon=True,
                     name="keras-tuner-chief").start()
    job.project_dir.mkdir(parents=True, exist_ok=True)
    job_file = job.project_dir / "job.json"
    job.dump(job_file)
    procs = []
    try:
        for k in range(workers):
            env = {**os.environ, "KERASTUNER_TUNER_ID": f"worker{k}", "MLFLOW_TRACKING_URI": tracking_uri}
            procs.append(subprocess.Popen([sys.executable, "-m", "pipeline.search.worker", str(job_file)], env=env))
        codes = [p.wait() for p in procs]
    except BaseException:
        for p in procs:
            p.terminate()  # SIGTERM: a worker marks its running trial KILLED and exits
        for p in procs:
            p.wait()
        raise
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    if any(codes):
        raise RuntimeError(f"a search worker failed (exit codes {codes})")
    return oracle
