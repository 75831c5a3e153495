"""A throwaway PostgreSQL cluster and an `mlflow server` over it, shared by one test session.

The server docs/several-hosts.md sets up, on a cluster of its own: `initdb` + `pg_ctl` (the Debian
`postgresql` package, which `.ci/run` installs), then `mlflow server --backend-store-uri
postgresql+psycopg2://... --artifacts-destination DIR` on 127.0.0.1. PostgreSQL refuses to run as root, so as root the cluster
runs as the `postgres` user (or `nobody`) in a folder handed to it. Where PostgreSQL or psycopg2 is
missing the tests that use `pg_tracking_uri` skip and say which.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from pipeline.search.workers import free_port, mlflow_server, wait_ready

SERVER_START_S = 180  # the first start migrates an empty database: tens of seconds on a busy machine


def postgres_bin() -> Path | None:
    """The folder of `initdb` and `pg_ctl`: on PATH, else Debian's /usr/lib/postgresql/<version>/bin."""
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


def _runner() -> list[str]:
    """The command prefix that runs a PostgreSQL binary as an unprivileged user (nothing unless root)."""
    if os.geteuid() != 0:
        return []
    for user in ("postgres", "nobody"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        return ["runuser", "-u", user, "--"]
    pytest.skip("PostgreSQL refuses to run as root and there is no postgres or nobody user")


def _owner(prefix: list[str]) -> int | None:
    return pwd.getpwnam(prefix[2]).pw_uid if prefix else None


def start_cluster(folder: Path) -> tuple[str, list[str], Path]:
    """initdb + pg_ctl start on a free loopback port; return (database URI, runner, bin folder)."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (no initdb; .ci/run installs the Debian postgresql package)")
    try:
        import psycopg2  # noqa: F401  (the driver of postgresql+psycopg2:// URIs: the `server` extra)
    except ImportError:
        pytest.skip("psycopg2 is not installed (pip install -e '.[server]')")
    prefix = _runner()
    uid = _owner(prefix)
    if uid is not None:
        os.chown(folder, uid, -1)
    data, port = folder / "data", free_port()
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE, "text": True, "check": True, "timeout": 120}
    subprocess.run([*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", "pipeline", "--auth=trust", "-N",
                    "-E", "UTF8", "--locale=C.UTF-8"], **quiet)
    subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "postgres.log"), "-w",
                    "-o", f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off",
                    "start"], **quiet)
    subprocess.run([str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "pipeline", "mlflow"], **quiet)
    return f"postgresql+psycopg2://pipeline@127.0.0.1:{port}/mlflow", prefix, bin_dir


def stop_cluster(folder: Path, prefix: list[str], bin_dir: Path) -> None:
    subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(folder / "data"), "-m", "immediate", "-w", "stop"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60, check=False)


@pytest.fixture(scope="session")
def pg_tracking_uri():
    """http://127.0.0.1:PORT of an `mlflow server` whose runs live in PostgreSQL, artifacts in a temp folder."""
    folder = Path(tempfile.mkdtemp(prefix="pipeline-pg-"))
    try:
        database, prefix, bin_dir = start_cluster(folder)
        try:
            artifacts = folder / "artifacts"
            artifacts.mkdir()
            with mlflow_server(database, artifacts_destination=str(artifacts), stop_wait_s=2) as uri:
                wait_ready(uri, SERVER_START_S)
                yield uri
        finally:
            stop_cluster(folder, prefix, bin_dir)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
