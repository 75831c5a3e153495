"""Several processes (on one or several hosts) training one model: joining JAX's distributed
runtime, and which process this one is.

Every process runs the same `pipeline run`; together they see all their devices as one
`keras.distribution.DataParallel` mesh. Process 0 records the run (MLflow, checkpoints); the
others train their share of every batch and write nothing. On CPU the cross-process collectives
are Gloo's (JAX's default CPU backend has none). JAX's recoverability is turned on so that a
process whose peer dies gets an error it can record (the run FAILED, the model kept) instead of
being aborted by the coordination service (measured: SIGABRT within the heartbeat timeout).

The coordination service lives in process 0: when process 0 ends, JAX aborts the others
(SIGABRT, a C++ stack trace). So process 0 tells them first, through JAX's key-value store, how
the run ended; each leaves with process 0's exit code and one line saying why.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass

from pipeline.errors import Problem, RecipeError

#: The environment a launcher (or a user) may set instead of the command-line flags. JAX reads
#: the first itself; the other two are read here (JAX detects them from SLURM, Open MPI, ... too).
ENVIRONMENT = {"coordinator": "JAX_COORDINATOR_ADDRESS", "num_processes": "JAX_NUM_PROCESSES",
               "process_id": "JAX_PROCESS_ID"}


class PeerLost(RuntimeError):
    """Another process of the run stopped (killed, its host gone): the collectives fail here."""


@dataclass(frozen=True)
class Cluster:
    """Where the coordinator (process 0) listens, how many processes take part, which one this is."""

    coordinator: str
    num_processes: int
    process_id: int

    @property
    def host(self) -> str:
        return self.coordinator.rsplit(":", 1)[0]


def _flag_problem(flag: str, message: str) -> RecipeError:
    return RecipeError([Problem((flag,), message)])


def requested(coordinator: str | None, num_processes: int | None, process_id: int | None) -> Cluster | None:
    """The cluster the flags (else the environment) ask for, checked; None when none is asked for.

    Raises a RecipeError naming the flag for a missing or impossible value (exit 2)."""
    given = {"coordinator": coordinator, "num_processes": num_processes, "process_id": process_id}
    for key, variable in ENVIRONMENT.items():
        if given[key] is None and os.environ.get(variable):
            given[key] = os.environ[variable]
    if all(value is None for value in given.values()):
        return None
    flags = {"coordinator": "--coordinator", "num_processes": "--num-processes", "process_id": "--process-id"}
    missing = [f"{flags[k]} (or ${ENVIRONMENT[k]})" for k, v in given.items() if v is None]
    if missing:
        raise _flag_problem(flags["coordinator"], f"several processes need all three of --coordinator, "
                                                  f"--num-processes and --process-id; missing: {', '.join(missing)}")
    host, _, port = str(given["coordinator"]).rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise _flag_problem(flags["coordinator"], f"expected HOST:PORT (e.g. 127.0.0.1:1234). "
                                                  f"Received: {given['coordinator']!r}")
    try:
        count, index = int(given["num_processes"]), int(given["process_id"])
    except ValueError:
        raise _flag_problem(flags["num_processes"], f"expected whole numbers. Received: --num-processes "
                                                    f"{given['num_processes']!r}, --process-id {given['process_id']!r}") from None
    if count < 1:
        raise _flag_problem(flags["num_processes"], f"expected at least 1. Received: {count}")
    if not 0 <= index < count:
        raise _flag_problem(flags["process_id"], f"expected 0 <= --process-id < --num-processes ({count}). "
                                                 f"Received: {index}")
    return Cluster(str(given["coordinator"]), count, index)


def join(cluster: Cluster, timeout_s: int = 300, heartbeat_s: int = 30) -> None:
    """Join JAX's distributed runtime (before any JAX computation). Process 0 serves the
    coordinator on `cluster.coordinator`'s own address (not on every interface, JAX's default),
    unless $JAX_COORDINATOR_BIND_ADDRESS says otherwise. Raises RuntimeError when the others do not
    come within `timeout_s`."""
    if cluster.process_id != 0:
        _wait_for_coordinator(cluster, timeout_s)
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.config.update("jax_enable_recoverability", True)
    bind = os.environ.get("JAX_COORDINATOR_BIND_ADDRESS", cluster.coordinator)
    try:
        jax.distributed.initialize(cluster.coordinator, cluster.num_processes, cluster.process_id,
                                   initialization_timeout=timeout_s, heartbeat_timeout_seconds=heartbeat_s,
                                   coordinator_bind_address=bind)
    except Exception as exc:  # a peer missing, the port taken, the coordinator unreachable
        raise RuntimeError(f"process {cluster.process_id} of {cluster.num_processes} could not join the "
                           f"coordinator at {cluster.coordinator} within {timeout_s} s: "
                           f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


def _wait_for_coordinator(cluster: Cluster, timeout_s: float) -> None:
    """Until process 0's coordinator accepts connections: JAX's own wait ends in an abort (SIGABRT)
    when it never does, where this ends in a RuntimeError that says so."""
    import socket
    import time

    host, port = cluster.host.strip("[]"), int(cluster.coordinator.rsplit(":", 1)[1])
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host, port), timeout=2):
                return
        except OSError as exc:
            if time.monotonic() >= deadline:
                raise RuntimeError(f"process {cluster.process_id} of {cluster.num_processes}: no coordinator "
                                   f"answers at {cluster.coordinator} after {timeout_s} s ({exc}); start "
                                   f"process 0 there, or check the address and the firewall") from None
            time.sleep(0.5)


def _joined():
    """JAX's module when this process joined a runtime, else None (JAX not imported: not joined)."""
    jax = sys.modules.get("jax")
    return jax if jax is not None and jax.distributed.is_initialized() else None


def count() -> int:
    """Processes training together (1 when this one joined none)."""
    jax = _joined()
    return jax.process_count() if jax is not None else 1


def index() -> int:
    """This process's place among them (0 records the run)."""
    jax = _joined()
    return jax.process_index() if jax is not None else 0


def records() -> bool:
    """Whether this process writes the run (MLflow, checkpoints, files): only process 0 does."""
    return index() == 0


STOP_KEY = "pipeline/run-ended"  # process 0's word: "<exit code> <how the run ended>"
LEFT_KEY = "pipeline/left/{}"  # process i has left (or is leaving because of the word)


def _client():
    """JAX's distributed key-value client (JAX has no public API for it)."""
    from jax._src import distributed

    return distributed.global_state.client


def follow_process_0() -> None:
    """Processes other than 0: a daemon thread waits for process 0's word that the run ended (it
    blocks in C++ without holding the GIL), then says so in one line and exits with process 0's
    code, before process 0's end takes the coordination service away."""
    if _joined() is None or records():
        return
    client, me = _client(), index()

    def wait_for_the_word():
        try:
            word = client.blocking_key_value_get(STOP_KEY, 7 * 24 * 3600 * 1000)
        except Exception:  # this process left first (shutdown): nothing to follow
            return
        code, _, how = word.partition(" ")
        print(f"process {me} of {count()}: process 0 ended the run ({how}); leaving", file=sys.stderr, flush=True)
        try:
            client.key_value_set(LEFT_KEY.format(me), "told")
        finally:
            os._exit(int(code) if code.isdigit() else 1)

    threading.Thread(target=wait_for_the_word, daemon=True, name="pipeline-follow-process-0").start()


def tell_the_others(code: int, how: str, wait_s: float = 5.0) -> None:
    """Process 0, as it ends: give the word to the processes still running and wait (at most
    `wait_s` each) until they have left, so that none is aborted by JAX."""
    if _joined() is None or not records() or count() < 2:
        return
    client = _client()
    try:
        client.key_value_set(STOP_KEY, f"{code} {how}")
        for other in range(1, count()):
            client.blocking_key_value_get(LEFT_KEY.format(other), int(wait_s * 1000))
    except Exception:  # a process already gone for good: nothing more to wait for
        pass


def leave() -> None:
    """Disconnect from the runtime (a no-op when not joined); safe to call twice."""
    jax = _joined()
    if jax is None:
        return
    if not records():
        try:
            _client().key_value_set(LEFT_KEY.format(index()), "done")
        except Exception:  # already told (the key exists) or the service is gone
            pass
    jax.distributed.shutdown()


def peer_lost(exc: BaseException) -> PeerLost | None:
    """`exc` as a PeerLost when it is a collective that failed because a peer is gone (Gloo on CPU,
    NCCL on GPU, JAX's heartbeat), else None. JAX repeats "Error dispatching computation: " once per
    nested call; the cause is what follows the last one."""
    text = str(exc)
    if count() < 2 or not any(mark in text for mark in ("Gloo", "NCCL", "heartbeat", "Connection reset")):
        return None
    cause = text.rsplit("Error dispatching computation: ", 1)[-1].strip().splitlines()[0][:300]
    return PeerLost(f"another process of this run stopped or cannot be reached ({cause})")
