"""Leave the `pipeline` command without the interpreter's teardown, and without waiting on threads.

Finalizing the ~4,700 modules a run imports (Keras, JAX, MLflow) takes 1-1.5 s after the work is
done (bench/README.md, "Skipping interpreter teardown"). What a normal exit does that matters still
happens first: what MLflow buffers in the background (metrics, artifacts, traces) is flushed, the
atexit handlers run (MLflow's and logging's flushes), stdout/stderr are flushed; then `os._exit`.

Threads are not joined: the work that must outlive the command is flushed above, and a join would
wait forever on a thread that never ends (an idle `ThreadPoolExecutor` worker of MLflow's is
non-daemon and only leaves when the interpreter's own shutdown wakes it).
`PIPELINE_SLOW_EXIT=1` turns all this off (e.g. to debug a finalizer).
"""

from __future__ import annotations

import atexit
import os
import sys

OPT_OUT_ENV = "PIPELINE_SLOW_EXIT"
MLFLOW_FLUSHES = ("flush_async_logging", "flush_artifact_async_logging", "flush_trace_async_logging")


def exit_now(code: int) -> None:
    if os.environ.get(OPT_OUT_ENV, "").lower() in ("1", "true", "yes"):
        sys.exit(code)
    _flush_mlflow()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed, e.g. `pipeline plugins | head`
            pass
    os._exit(code)


def _flush_mlflow() -> None:
    """Wait for MLflow's background logging (only if this process imported MLflow)."""
    mlflow = sys.modules.get("mlflow")
    for name in MLFLOW_FLUSHES:
        flush = getattr(mlflow, name, None)
        if flush is None:
            continue
        try:
            flush()
        except Exception as exc:  # the store went away: say so, and still exit
            print(f"warning: MLflow could not flush its buffered logging ({name}): {exc}", file=sys.stderr)
