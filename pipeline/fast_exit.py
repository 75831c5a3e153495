"""Leave the `pipeline` command without the interpreter's teardown.

Finalizing the ~4,700 modules a run imports (Keras, JAX, MLflow) takes 1-1.5 s after the work is
done (bench/README.md, "Skipping interpreter teardown"). Everything a normal exit does that matters
still happens first: non-daemon threads are joined, MLflow's async logging is flushed, the atexit
handlers run (MLflow's and logging's flushes), stdout/stderr are flushed; then `os._exit`.
`PIPELINE_SLOW_EXIT=1` turns it off (e.g. to debug a finalizer).
"""

from __future__ import annotations

import atexit
import os
import sys
import threading

OPT_OUT_ENV = "PIPELINE_SLOW_EXIT"


def exit_now(code: int) -> None:
    if os.environ.get(OPT_OUT_ENV, "").lower() in ("1", "true", "yes"):
        sys.exit(code)
    mlflow = sys.modules.get("mlflow")
    # only a store in use: flushing with no URI set would create ./mlflow.db (the default store)
    if mlflow is not None and hasattr(mlflow, "flush_async_logging") and mlflow.is_tracking_uri_set():
        mlflow.flush_async_logging()
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed, e.g. `pipeline plugins | head`
            pass
    os._exit(code)
