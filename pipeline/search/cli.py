"""The `pipeline tune` command's exit codes and signals (the search itself is in `command.py`)."""

from __future__ import annotations

import signal
import sys

from pipeline.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from pipeline.search import interrupt
from pipeline.search.command import tune, work


def _usage(message: str) -> int:
    print(f"pipeline tune: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def tune_command(args) -> int:
    if args.workers < 1:
        return _usage("--workers must be >= 1")
    chief = None
    if args.chief is not None or args.worker:
        from pipeline import tracking
        from pipeline.search.chief import AddressError, parse_address  # no framework import

        if args.chief is None:
            return _usage("--worker needs --chief HOST:PORT, the chief to take trials from")
        if args.workers > 1:
            return _usage("--workers runs trials on this host; with --chief start workers with --worker")
        if args.worker_timeout <= 0:
            return _usage("--worker-timeout must be > 0")
        try:
            chief = parse_address(args.chief)
        except AddressError as exc:
            return _usage(str(exc))
        uri = tracking.tracking_uri(args.tracking_uri)
        if not args.worker and not uri.startswith(("http://", "https://", "databricks")):
            # a SQLite file is local to this host; a database URI would leave each host's artifacts on it
            return _usage(f"--chief needs an MLflow tracking server every host reaches (--tracking-uri "
                          f"http://HOST:5000, docs/several-hosts.md); got {uri}")
    from pipeline.search.chief import AddressError
    from pipeline.search.remote_worker import WrongRecipe

    echo = lambda *a, **k: print(*a, **{"flush": True, **k})  # noqa: E731
    previous = interrupt.install()  # a killed search stays resumable
    try:
        if args.worker:
            return work(args.recipe, args.overrides, f"{chief[0]}:{chief[1]}", tracking_uri=args.tracking_uri,
                        directory=args.dir, echo=echo)
        result = tune(args.recipe, args.overrides, tracking_uri=args.tracking_uri, resume=args.resume,
                      workers=args.workers, directory=args.dir, output=args.output, chief=chief,
                      worker_timeout=args.worker_timeout, rerun=args.rerun, echo=echo)
    except (AddressError, WrongRecipe) as exc:
        return _usage(str(exc))
    except KeyboardInterrupt:
        print("interrupted: continue with `pipeline tune ... --resume`" if not args.worker
              else "interrupted: start the worker again to go on", file=sys.stderr)
        return EXIT_FAILED
    finally:
        signal.signal(signal.SIGTERM, previous)
    return EXIT_OK if result["best"] is not None else EXIT_FAILED
