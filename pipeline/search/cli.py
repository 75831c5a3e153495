"""The `pipeline tune` command's exit codes and signals (the search itself is in `command.py`)."""

from __future__ import annotations

import signal
import sys

from pipeline.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from pipeline.search import interrupt
from pipeline.search.command import tune


def tune_command(args) -> int:
    if args.workers < 1:
        print("pipeline tune: error: --workers must be >= 1", file=sys.stderr)
        return EXIT_USAGE
    previous = interrupt.install()  # a killed search stays resumable
    try:
        result = tune(args.recipe, args.overrides, tracking_uri=args.tracking_uri, resume=args.resume,
                      workers=args.workers, directory=args.dir, output=args.output,
                      echo=lambda *a, **k: print(*a, **{"flush": True, **k}))
    except KeyboardInterrupt:
        print("interrupted: continue with `pipeline tune ... --resume`", file=sys.stderr)
        return EXIT_FAILED
    finally:
        signal.signal(signal.SIGTERM, previous)
    return EXIT_OK if result["best"] is not None else EXIT_FAILED
