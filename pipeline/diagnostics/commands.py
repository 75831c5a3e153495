"""The diagnostics subcommands of `pipeline`: diagnose, lr-find, report (heavy imports inside each)."""

from __future__ import annotations

import sys

from pipeline.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE


def add_commands(sub, recipe_command) -> None:
    """Register the subcommands on the CLI's subparsers; each sets its handler as `args.handler`."""
    p = recipe_command("diagnose", "pre-flight checks: initial loss, regularization, overfit a tiny "
                                   "subset, gradient flow, recipe lint (exit 1 when one fails)")
    p.add_argument("--subset", type=int, default=50, help="examples in the overfitting check (default 50)")
    p.add_argument("--steps", type=int, default=300, help="step budget of the overfitting check (default 300)")
    p.set_defaults(handler=_diagnose)
    p = recipe_command("lr-find", "LR range test: raise the learning rate exponentially, record the loss, "
                                  "plot it and suggest a rate")
    p.add_argument("--steps", type=int, default=200, help="steps of the test (default 200)")
    p.add_argument("--min-lr", type=float, default=1e-6)
    p.add_argument("--max-lr", type=float, default=10.0)
    p.add_argument("--plot", default="lr_find.png", help="where to save the loss-vs-LR plot (default lr_find.png)")
    p.add_argument("--write", metavar="FILE", help="write a recipe override (extends the recipe) with the suggested rate")
    p.set_defaults(handler=_lr_find)
    p = sub.add_parser("report", help="print a run's diagnostics report (verdict, checks, advice) from MLflow",
                       description="Print a run's status, failure reason, pre-flight checks and "
                                   "bias/variance report from MLflow.")
    p.add_argument("run_id")
    p.add_argument("--tracking-uri", help="MLflow store (default: $MLFLOW_TRACKING_URI or sqlite:///mlruns/mlflow.db)")
    p.set_defaults(handler=_report)


def _diagnose(args) -> int:
    from pipeline.diagnostics.preflight import diagnose
    from pipeline.recipe import load_recipe

    loaded = load_recipe(args.recipe, args.overrides)
    results = diagnose(loaded, subset=args.subset, steps=args.steps, echo=print)
    failed = [r for r in results if r.status == "fail"]
    print(f"{len(results) - len(failed)} of {len(results)} checks passed"
          + (f"; FAILED: {', '.join(r.name for r in failed)}" if failed else ""))
    return EXIT_FAILED if failed else EXIT_OK


def _lr_find(args) -> int:
    from pipeline.diagnostics.lr_find import lr_find_recipe
    from pipeline.recipe import load_recipe

    loaded = load_recipe(args.recipe, args.overrides)
    found = lr_find_recipe(loaded, steps=args.steps, min_lr=args.min_lr, max_lr=args.max_lr, plot=args.plot)
    print(found.summary())
    if args.write:
        found.write_override(args.write, args.recipe)
        print(f"{args.write}: written (extends {args.recipe}, train.optimizer.learning_rate: {found.suggestion:.3g})")
    return EXIT_OK if found.suggestion is not None else EXIT_FAILED


def _report(args) -> int:
    from pipeline import tracking
    from pipeline.diagnostics.report import print_report
    from pipeline.tracking import store

    store.check(tracking.tracking_uri(args.tracking_uri), write=False)  # a damaged store: exit 2, at once
    try:
        return print_report(args.run_id, args.tracking_uri)
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
