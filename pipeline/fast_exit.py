"""Leave the `pipeline` command without the interpreter's teardown, and without waiting on threads.

Finalizing the ~4,700 modules a run imports (Keras, JAX, MLflow) takes 1-1.5 s after the work is
done (bench/README.md, "Skipping interpreter teardown"). What a normal exit does that matters still
happens first: the atexit handlers run (MLflow's drain its async metric, artifact and trace queues;
logging's flush), then stdout/stderr are flushed; then `os._exit`.

Threads are not joined: a join would wait forever on a thread that never ends (an idle
`ThreadPoolExecutor` worker of MLflow's is non-daemon and only leaves when the interpreter's own
shutdown wakes it; `pipeline report` hung there). MLflow's public `flush_*` calls are not used
either: with no store set they create one (and `flush_artifact_async_logging` even starts a run).
`PIPELINE_SLOW_EXIT=1` turns all this off (e.g. to debug a finalizer).
"""

from __future__ import annotations

import atexit
import os
import sys

OPT_OUT_ENV = "PIPELINE_SLOW_EXIT"


def exit_now(code: int) -> None:
    if os.environ.get(OPT_OUT_ENV, "").lower() in ("1", "true", "yes"):
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed, e.g. `pipeline plugins | head`
            pass
    os._exit(code)
