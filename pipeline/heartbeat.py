"""Is a RUNNING run still running? Its tags say which process runs it and when it last reported.

A run killed with SIGKILL (or by a crash of the machine) cannot mark itself: MLflow keeps it
RUNNING forever. So a run records its host, process id and that process's start time (the id
alone may be reused), and a heartbeat (time, epochs done) with its metrics (every 10 s). A RUNNING
run is "died" when its process is gone from this host, or, for a run on another host, when its
heartbeat is older than `STALE_AFTER_S` and several epoch lengths.
"""

from __future__ import annotations

import os
import socket
import time

HOST, PID, PID_START = "run.host", "run.pid", "run.pid_start"
BEAT, EPOCH_S, PROGRESS = "heartbeat", "heartbeat.epoch_s", "progress.epochs"
STALE_AFTER_S = 600


def _now_ms() -> int:
    return int(time.time() * 1000)


def process_start(pid: int) -> str | None:
    """When process `pid` started (clock ticks since boot, from /proc), or None when there is no such
    process (or only its zombie); "" where /proc is not there (then only the id is compared)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        return None if fields[0] == "Z" else fields[19]  # state, ..., starttime (field 22)
    except FileNotFoundError:
        if os.path.isdir("/proc"):
            return None
    except (OSError, IndexError):
        return ""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except OSError:
        pass
    return ""


def identity() -> dict[str, str]:
    """The tags saying that this process runs the run, with a first heartbeat."""
    pid = os.getpid()
    return {HOST: socket.gethostname(), PID: str(pid), PID_START: process_start(pid) or "", BEAT: str(_now_ms())}


def beat(epochs_done: int, epochs: int, epoch_seconds: float) -> dict[str, str]:
    return {BEAT: str(_now_ms()), EPOCH_S: f"{epoch_seconds:.3f}", PROGRESS: f"{epochs_done}/{epochs}"}


def process_gone(tags: dict[str, str]) -> bool | None:
    """True when the run's process is not running on this host any more, False when it is, None
    when the run was started on another host (or recorded no process)."""
    if tags.get(HOST) != socket.gethostname() or not tags.get(PID, "").isdigit():
        return None
    started = process_start(int(tags[PID]))
    return started is None or bool(started and tags.get(PID_START) and started != tags[PID_START])


def silent_for_s(tags: dict[str, str], now_ms: int | None = None) -> float | None:
    if not tags.get(BEAT, "").isdigit():
        return None
    return ((now_ms or _now_ms()) - int(tags[BEAT])) / 1000


def state(status: str, tags: dict[str, str], now_ms: int | None = None) -> str:
    """MLflow's status, except "died" for a RUNNING run whose process is gone."""
    if status != "RUNNING":
        return status
    gone = process_gone(tags)
    if gone is None:  # another host: judge by the heartbeat
        silent = silent_for_s(tags, now_ms)
        epoch = float(tags.get(EPOCH_S) or 0)
        gone = silent is not None and silent > max(STALE_AFTER_S, 5 * epoch)
    return "died" if gone else status


def describe(tags: dict[str, str], now_ms: int | None = None) -> str:
    """Where the run ran and when it was last heard of, for a person."""
    where = f"process {tags.get(PID, '?')} on {tags.get(HOST, '?')}"
    silent = silent_for_s(tags, now_ms)
    heard = "" if silent is None else f", last heartbeat {_ago(silent)} ago"
    progress = f", {tags[PROGRESS]} epochs done" if PROGRESS in tags else ""
    return where + heard + progress


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
