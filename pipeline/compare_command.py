"""`pipeline compare RUN_A RUN_B [RUN ...] [--plot FILE]`: runs compared as recipes (only what differs),
their final metrics with deltas against the first run, and their learning curves overlaid."""

from __future__ import annotations

import sys

from pipeline.exit_codes import EXIT_OK, EXIT_USAGE


def add_command(sub) -> None:
    p = sub.add_parser("compare", help="compare runs: recipe keys that differ, final metrics with deltas, "
                                       "same recipe.id / data or not, learning curves overlaid",
                       description="Compare two or more runs (run ids, or EXPERIMENT/RUN_NAME: the newest run "
                                   "of that name). Shows only the resolved-recipe keys that differ (added, "
                                   "removed, changed against the first run), the final metrics with deltas, "
                                   "whether recipe.id and the data fingerprint are equal, and writes one PNG "
                                   "of the learning curves overlaid.")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run id or EXPERIMENT/RUN_NAME (two or more)")
    p.add_argument("--plot", default="compare.png", help="where to write the overlaid curves (default compare.png)")
    p.add_argument("--tracking-uri", help="MLflow store (default: $MLFLOW_TRACKING_URI or sqlite:///mlruns/mlflow.db)")
    p.set_defaults(handler=_compare)


def _compare(args) -> int:
    from pipeline import tracking
    from pipeline.tracking import compare, store

    if len(args.runs) < 2:
        print("error: compare needs two or more runs", file=sys.stderr)
        return EXIT_USAGE
    uri = tracking.tracking_uri(args.tracking_uri)
    store.check(uri, write=False)  # a damaged store: exit 2 with one message, at once
    try:
        compared = [compare.load(uri, ref) for ref in args.runs]
    except compare.UnknownRun as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for text in report(compared):
        print(text)
    if args.plot:
        from pipeline.learning_curves import overlaid_curves

        figure = overlaid_curves([c.history for c in compared], compare.legends(compared))
        figure.savefig(args.plot, dpi=100)
        print(f"\nlearning curves: {args.plot}")
    return EXIT_OK


def report(compared) -> list[str]:
    """The comparison as lines: runs, recipe differences, identity, metrics table."""
    from pipeline.tracking.compare import differences, final_metrics, legends

    letters = [chr(ord("A") + i) if i < 26 else str(i) for i in range(len(compared))]
    labels = legends(compared)
    lines = ["runs:"] + [f"  {x}  {c.run.run_id}  {c.run.experiment}/{c.run.name}  {c.run.status}  [{label}]"
                         for x, c, label in zip(letters, compared, labels)]
    base = compared[0]
    for x, c in zip(letters[1:], compared[1:]):
        found = differences(base.recipe, c.recipe)
        lines.append(f"\nrecipe differences, {x} against A ({len(found)}):" if found else
                     f"\nrecipe differences, {x} against A: none")
        for kind, key, a, b in found:
            shown = {"added": f"{_fmt(b)}", "removed": f"{_fmt(a)}", "changed": f"{_fmt(a)} -> {_fmt(b)}"}[kind]
            lines.append(f"  {kind:<8} {key}: {shown}")
    lines.append("")
    for tag, what in (("recipe.id", "recipe.id"), ("data.fingerprint", "data fingerprint")):
        values = [c.run.tags.get(tag, "-") for c in compared]
        same = len(set(values)) == 1 and values[0] != "-"
        lines.append(f"{what}: {'equal' if same else 'different'} ({', '.join(values)})")
    names = final_metrics(compared)
    if names:
        width = max(len(n) for n in names)
        head = f"\n{'metric':<{width}}  " + "  ".join(f"{x:>10}" for x in letters)
        head += "  " + "  ".join(f"{x + '-A':>10}" for x in letters[1:])
        lines.append(head)
        for name in names:
            values = [c.run.metrics.get(name) for c in compared]
            cells = [f"{v:>10.4f}" if v is not None else f"{'-':>10}" for v in values]
            deltas = [f"{v - values[0]:>+10.4f}" if v is not None and values[0] is not None else f"{'-':>10}"
                      for v in values[1:]]
            lines.append(f"{name:<{width}}  " + "  ".join(cells) + "  " + "  ".join(deltas))
    return lines


def _fmt(value) -> str:
    return repr(value) if isinstance(value, str) else str(value)
