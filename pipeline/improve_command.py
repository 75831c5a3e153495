"""`pipeline improve RECIPE [--budget N] [--target-error E]`: the basic recipe as a loop (`pipeline/improve.py`)."""

from __future__ import annotations

import sys

from pipeline.exit_codes import EXIT_OK, EXIT_USAGE


def add_command(sub, recipe_command) -> None:
    p = recipe_command("improve", "train, read the bias/variance verdict, apply the next remedy that fits, keep "
                                  "it only if validation error improves; repeat (the course's basic recipe)")
    p.add_argument("--budget", type=int, default=6, help="rounds after the baseline (default 6)")
    p.add_argument("--target-error", type=float, help="stop once validation error is at most this (also the "
                                                       "verdict's target: avoidable bias = train error - target)")
    p.add_argument("-o", "--output", help="where to write the best recipe (default improve/<name>/best.yaml)")
    p.add_argument("--tracking-uri", help="MLflow store (default: $MLFLOW_TRACKING_URI or sqlite:///mlruns/mlflow.db)")
    p.set_defaults(handler=_improve)


def _improve(args) -> int:
    if args.budget < 0 or (args.target_error is not None and not 0 <= args.target_error):
        print("pipeline improve: error: --budget and --target-error must be >= 0", file=sys.stderr)
        return EXIT_USAGE
    from pipeline.improve import chain_table, improve
    from pipeline.recipe import load_recipe

    loaded = load_recipe(args.recipe, args.overrides)
    try:
        result = improve(loaded, args.budget, args.target_error, args.tracking_uri, args.output,
                         echo=lambda *a, **k: print(*a, **{"flush": True, **k}))
    except KeyboardInterrupt:
        print("interrupted: the improve run and its current round are marked KILLED", file=sys.stderr)
        return 130
    print("\n" + table(chain_table(result.rounds)))
    print("test (once, final recipe): " + "  ".join(f"{k}={v:.4f}" for k, v in result.test_metrics.items()
                                                    if not k.startswith("test_recall_class_")))
    print(f"MLflow parent run id: {result.parent_run_id}")
    return EXIT_OK


def table(csv_text: str) -> str:
    """The chain CSV as aligned columns (the run id last)."""
    import csv

    rows = list(csv.reader(csv_text.splitlines()))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)
