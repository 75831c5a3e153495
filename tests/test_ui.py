"""`pipeline ui` serves the default store on 127.0.0.1 unless told otherwise, says so when it cannot
serve, and leaves nothing serving when it is stopped (real subprocesses, real signals)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from pipeline import tracking, ui
from pipeline.cli import _parser
from tests.conftest import REPO

START_S = 120  # the server imports MLflow and starts uvicorn's workers: ~10 s here, more when busy


def test_ui_binds_to_localhost_over_the_default_store(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    args = _parser().parse_args(["ui"])
    command = ui.command(tracking.tracking_uri(args.tracking_uri), args.host, args.port)
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert command[command.index("--port") + 1] == "5000"
    assert command[command.index("--backend-store-uri") + 1] == "sqlite:///mlruns/mlflow.db"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ui(port: int, uri: str, log=subprocess.PIPE) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipeline.cli", "ui", "--port", str(port), "--tracking-uri", uri],
                            cwd=REPO, env=os.environ.copy(), stdout=log, stderr=log, text=True)


def test_ui_on_a_taken_port_exits_2_at_once_saying_so(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        started = time.monotonic()
        result = _ui(port, f"sqlite:///{tmp_path / 'mlflow.db'}")
        out, err = result.communicate(timeout=60)
    assert result.returncode == 2, err
    assert time.monotonic() - started < 30
    assert f"error: cannot serve the MLflow UI on 127.0.0.1:{port}: another process is listening there" in err
    assert "Traceback" not in err


def test_ui_whose_server_dies_at_start_exits_1_saying_so(tmp_path):
    result = _ui(_free_port(), "bogus://x")  # passes the local checks; `mlflow ui` itself refuses it
    out, err = result.communicate(timeout=START_S)
    assert result.returncode == 1
    assert "error: the MLflow UI server exited with code" in err


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    """Running, i.e. neither gone nor a zombie waiting to be reaped."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree from /proc")
def test_sigterm_stops_the_whole_server_and_nothing_is_left_serving(tmp_path):
    port = _free_port()
    log = tmp_path / "ui.log"  # a file, not a pipe: the server's processes share it
    with log.open("w") as out:
        server = _ui(port, f"sqlite:///{tmp_path / 'mlflow.db'}", out)
    tree: set[int] = set()
    try:
        deadline = time.monotonic() + START_S
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as page:
                    assert page.status == 200
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.5)
        tree = _descendants(server.pid)
        assert tree  # `mlflow ui`, uvicorn and its workers
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
        assert not [pid for pid in tree if _alive(pid)]
        with pytest.raises(OSError):  # the port is closed
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5)
    finally:  # whatever a failure left behind
        for pid in [server.pid, *tree]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        server.wait()
