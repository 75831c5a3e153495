"""SIGTERM and SIGINT during a run: stop at the next batch boundary, never in the middle of a step.

SLURM, Kubernetes and spot machines send SIGTERM (then SIGKILL after a grace period); a person
presses Ctrl-C. Python's default raises KeyboardInterrupt wherever the main thread is, which on JAX
can be inside a jitted step whose input buffers were already donated: the model's variables then
point at deleted arrays and the model cannot be saved (issue 12: "'NoneType' object is not
callable", no last.keras). Inside `graceful_stop()`, while a `fit` runs, the handler only records the
signal and `StopOnSignal` (pipeline/signals_keras.py) raises `Interrupted` after the batch, with the
step's state complete; outside training (data preparation, compilation, evaluation) it raises at
once. A second signal raises at once too, for a person who does not want to wait.

The handlers are installed only over Python's defaults, so a caller with its own (`pipeline tune`'s
SIGTERM handler, pipeline/search/interrupt.py) keeps it. An ignored SIGINT stays ignored: a shell
starts a background job (`pipeline run ... &`, nohup, many batch scripts) with SIGINT ignored, and
that job must still stop gracefully on SIGTERM.
"""

from __future__ import annotations

import contextlib
import signal
import threading

NAMES = {signal.SIGTERM: "SIGTERM", signal.SIGINT: "SIGINT"}


class Interrupted(KeyboardInterrupt):
    """A run stopped by a signal; `exit_code` is the shell's 128 + signal number (143, 130)."""

    def __init__(self, signum: int):
        self.signum = signum
        self.exit_code = 128 + signum
        super().__init__(f"interrupted by {NAMES.get(signum, f'signal {signum}')}")


_received: list[int] = []
_in_fit = [False]
_depth = [0]


def _handler(signum, frame):
    _received.append(signum)
    if not _in_fit[0] or len(_received) > 1:
        raise Interrupted(signum)


def _ours_to_handle() -> list[int]:
    """The signals still at Python's defaults (none when a caller routes SIGTERM itself)."""
    if signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None):
        return []
    return [signal.SIGTERM] + ([signal.SIGINT] if signal.getsignal(signal.SIGINT) is signal.default_int_handler
                               else [])  # SIG_IGN (a background job): leave it ignored


@contextlib.contextmanager
def graceful_stop():
    """Route SIGTERM/SIGINT to `Interrupted` (at a batch boundary during `fit`) inside the block.
    Nested blocks share the outer one's handlers (k-fold: the parent and each fold's run)."""
    if _depth[0] == 0 and (threading.current_thread() is not threading.main_thread() or not _ours_to_handle()):
        yield
        return
    previous = None
    if _depth[0] == 0:
        _received.clear()
        previous = {s: signal.signal(s, _handler) for s in _ours_to_handle()}
    _depth[0] += 1
    try:
        yield
    finally:
        _depth[0] -= 1
        if previous is not None:
            for s, handler in previous.items():
                signal.signal(s, handler)


def raise_if_received() -> None:
    if _received:
        raise Interrupted(_received[0])


@contextlib.contextmanager
def batch_boundaries():
    """Around `model.fit`: a signal waits for `StopOnSignal` at the next batch boundary; one that
    came after the last batch is raised when `fit` returns."""
    _in_fit[0] = True
    try:
        yield
    finally:
        _in_fit[0] = False
    raise_if_received()
