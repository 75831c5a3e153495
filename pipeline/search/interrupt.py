"""SIGTERM during a search: a clean interrupt that leaves the search resumable.

The handler raises KeyboardInterrupt where the main thread happens to be, and also records the
signal: an exception raised at an unlucky point (e.g. inside a finalizer or a library's catch-all)
can be dropped, so every trial also carries `InterruptCheck` (pipeline/search/interrupt_keras.py), which
raises it again at the next batch.
"""

from __future__ import annotations

import signal

_received: list[int] = []


def _handler(signum, frame):
    _received.append(signum)
    raise KeyboardInterrupt(f"signal {signum}")


def install():
    """Route SIGTERM to a KeyboardInterrupt; returns the previous handler."""
    _received.clear()
    return signal.signal(signal.SIGTERM, _handler)


def raise_if_received() -> None:
    if _received:
        raise KeyboardInterrupt(f"signal {_received[0]}")
