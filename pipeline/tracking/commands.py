"""`pipeline runs`: the newest runs with what became of them, a RUNNING run whose process is gone
shown as "died", and the command that resumes each unfinished one."""

from __future__ import annotations

import time

from pipeline.exit_codes import EXIT_OK


def add_commands(sub) -> None:
    p = sub.add_parser("runs", help="list the newest runs: status (died: RUNNING but its process is gone), "
                                    "epochs done, how to resume",
                       description="List the newest MLflow runs, newest first, with their status; a RUNNING run "
                                   "whose process is gone shows as 'died'. Unfinished runs show the command "
                                   "that resumes them.")
    p.add_argument("--experiment", help="only this experiment's runs")
    p.add_argument("-n", "--limit", type=int, default=20, help="how many runs (default 20)")
    p.add_argument("--tracking-uri", help="MLflow store (default: $MLFLOW_TRACKING_URI or sqlite:///mlruns/mlflow.db)")
    p.set_defaults(handler=_runs)


def _progress(run, state: str) -> str:
    """Epochs done: the store's heartbeat, or, for a run that did not finish, its journal when it is
    on this machine (the store is written every few seconds; the journal every epoch)."""
    from pipeline import heartbeat
    from pipeline.checkpoint import files
    from pipeline.checkpoint.location import RESUME
    from pipeline.tracking.runs import local_artifact_dir

    progress = run.tags.get(heartbeat.PROGRESS, "-")
    local = local_artifact_dir(run.artifact_uri) if run.artifact_uri and state != "FINISHED" else None
    journal = files.read_journal(local / "checkpoints" / RESUME) if local is not None else {}
    if journal:
        total = progress.split("/")[1] if "/" in progress else run.params.get("train.epochs", "?")
        return f"{max(journal) + 1}/{total}"
    return progress


def _runs(args) -> int:
    from pipeline import heartbeat, tracking
    from pipeline.tracking import runs, store

    uri = tracking.tracking_uri(args.tracking_uri)
    store.check(uri, write=False)  # a damaged store: exit 2 with one message, at once
    found = runs.list_runs(uri, args.experiment, limit=args.limit)
    if not found:
        print(f"no runs in {uri}" + (f" (experiment '{args.experiment}')" if args.experiment else ""))
        return EXIT_OK
    now = int(time.time() * 1000)
    print(f"{'run id':<32}  {'experiment':<14} {'name':<24} {'status':<9} {'epochs':>7}  started")
    for run in found:
        state = heartbeat.state(run.status, run.tags, now)
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.start_ms / 1000)) if run.start_ms else "-"
        print(f"{run.run_id:<32}  {run.experiment[:14]:<14} {run.name[:24]:<24} {state:<9} "
              f"{_progress(run, state):>7}  {started}")
        if state in ("died", "KILLED", "FAILED") and "resume.command" in run.tags:
            print(f"{'':<34}resume: {run.tags['resume.command']}")
    return EXIT_OK
