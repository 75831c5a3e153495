"""`pipeline ui`: the MLflow UI as a child process that never outlives the command.

The server (`mlflow ui`, which starts uvicorn in turn) runs in its own process group; SIGTERM or
SIGINT to `pipeline ui` stops that whole group, so nothing is left serving. A taken port or a
server that dies at start is said in one line and exits non-zero instead of looking like success.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import time

from pipeline.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE

STOP_GRACE_S = 10  # how long the server gets to stop on SIGTERM before its group is killed
GROUP_SETTLE_S = 2  # then how long the rest of its group (uvicorn) gets


def serve(uri: str, host: str, port: int) -> int:
    """Serve the store at `uri` on host:port until the server ends or this process is told to stop."""
    from pipeline.tracking import store

    store.check(uri, write=False)  # StoreError (exit 2) for a damaged or unreadable local store
    problem = port_problem(host, port)
    if problem:
        print(f"error: cannot serve the MLflow UI on {host}:{port}: {problem}; "
              f"choose another with --port", file=sys.stderr)
        return EXIT_USAGE
    print(f"MLflow UI on http://{host}:{port} over {uri}", flush=True)
    stopped: list[int] = []
    server = None

    def stop(signum, _frame):
        stopped.append(signum)
        if server is not None:
            _signal_group(server.pid, signal.SIGTERM)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        server = subprocess.Popen(command(uri, host, port), env=os.environ.copy(), start_new_session=True)
        if stopped:  # a signal came while it was starting
            _signal_group(server.pid, signal.SIGTERM)
        code = server.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if server is not None:
            _stop_group(server)
    if stopped:
        return EXIT_OK
    if code != 0:
        print(f"error: the MLflow UI server exited with code {code} (its messages are above)", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def command(uri: str, host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", host, "--port", str(port)]


def port_problem(host: str, port: int) -> str | None:
    """Why host:port cannot be listened on (e.g. another server has it), or None."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.create_server((host, port), family=family):  # SO_REUSEADDR, as the server sets it
            return None
    except OSError as exc:  # socket.gaierror for an unknown host is one too
        return "another process is listening there" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)


def _stop_group(server: subprocess.Popen) -> None:
    """The server's whole process group ends: asked to stop, then killed if it has not.

    The leader (`mlflow ui`) dies at once on SIGTERM while uvicorn's processes shut down cleanly,
    so the rest of the group gets GROUP_SETTLE_S before SIGKILL.
    """
    _signal_group(server.pid, signal.SIGTERM)
    try:
        server.wait(STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        pass
    deadline = time.monotonic() + GROUP_SETTLE_S
    while time.monotonic() < deadline and _signal_group(server.pid, 0):
        time.sleep(0.05)
    _signal_group(server.pid, signal.SIGKILL)
    server.wait()


def _signal_group(pgid: int, signum: int) -> bool:
    """Send `signum` to the group (0: only ask whether it still exists); False if it has ended."""
    try:
        os.killpg(pgid, signum)
        return True
    except (ProcessLookupError, PermissionError):
        return False
