"""Run a Python program, then leave without the interpreter's teardown (for measuring that teardown).

    python bench/fast_exit.py pipeline.cli run recipes/mnist1d-cnn.yaml --tracking-uri ...
    python bench/fast_exit.py bench/handwritten_mnist1d.py

After the program returns: join non-daemon threads and run the atexit handlers (what a normal exit
does first: MLflow's and logging's flushes happen there), flush stdout/stderr, then `os._exit`, which
skips finalizing the ~3,000-5,000 imported modules (0.9-1.6 s here). Measurement aid; see README.
"""

import atexit
import os
import runpy
import sys
import threading


def main() -> None:
    target = sys.argv[1]
    sys.argv = sys.argv[1:]
    code = 0
    try:
        if target.endswith(".py"):
            runpy.run_path(target, run_name="__main__")
        else:
            runpy.run_module(target, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
