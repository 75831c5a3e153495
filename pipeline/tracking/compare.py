"""Two or more runs side by side as recipes: what differs in their resolved recipes (only that), their
final metrics with deltas, whether they share `recipe.id` and data, and their per-epoch curves.

MLflow's UI compares params of every key; users asked for "show only the diff" (mlflow #10477,
#4819). Each run logs its resolved recipe as `recipe.yaml`, so the diff is of the recipe as it ran.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from pipeline.recipe.params import flatten
from pipeline.tracking.runs import NOT_CURVES, RunRecord

#: metrics written once at the end of a run, shown first, in this order (others follow by name)
FINAL_FIRST = ("train_error", "val_error", "train_r2", "val_r2")


class UnknownRun(LookupError):
    """A run reference that names no run; the message lists close matches."""


@dataclass
class Compared:
    """One run as compare shows it: its record, its resolved recipe flattened, its curves."""

    ref: str
    run: RunRecord
    recipe: dict[str, object]  # 'train.optimizer.learning_rate' -> 0.001 ('model.layers[0].units' for lists)
    history: dict[str, list[float]] = field(default_factory=dict)


def differences(base: dict[str, object], other: dict[str, object]) -> list[tuple[str, str, object, object]]:
    """(kind, key, value in base, value in other) for each key that differs: added, removed, changed."""
    missing = object()
    out = []
    for key in sorted(set(base) | set(other)):
        a, b = base.get(key, missing), other.get(key, missing)
        if a is missing:
            out.append(("added", key, None, b))
        elif b is missing:
            out.append(("removed", key, a, None))
        elif a != b:
            out.append(("changed", key, a, b))
    return out


def differing_keys(recipes: list[dict[str, object]]) -> list[str]:
    """Keys whose value (or presence) is not the same in every recipe, sorted."""
    keys = set().union(*recipes)
    return sorted(k for k in keys if len({repr(r[k]) if k in r else "<absent>" for r in recipes}) > 1)


def legends(compared: list[Compared], limit: int = 3) -> list[str]:
    """One short label per run from what differs, e.g. 'learning_rate=0.003'; the run's name when
    nothing in the recipes differs."""
    keys = differing_keys([c.recipe for c in compared])
    short = {k: _short(k, keys) for k in keys}
    out = []
    for c in compared:
        parts = [f"{short[k]}={_value(c.recipe[k]) if k in c.recipe else '-'}" for k in keys[:limit]]
        if len(keys) > limit:
            parts.append(f"+{len(keys) - limit} more")
        out.append(", ".join(parts) or f"{c.run.name} ({c.run.run_id[:8]})")
    # equal labels (e.g. the same recipe twice): tell those runs apart
    return [f"{label} ({c.run.run_id[:8]})" if out.count(label) > 1 else label for label, c in zip(out, compared)]


def _short(key: str, keys: list[str]) -> str:
    """The last part of a key when no other differing key ends the same, else the whole key."""
    tail = key.rsplit(".", 1)[-1]
    return tail if sum(k.rsplit(".", 1)[-1] == tail for k in keys) == 1 else key


def _value(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def final_metrics(compared: list[Compared]) -> list[str]:
    """The metrics to show, in reading order: train/val errors, the last epoch's, then test."""
    names = set().union(*(c.run.metrics for c in compared))
    names = {n for n in names if not n.startswith(("test_recall_class_", "fold_")) and n != "fit_time_s"}
    first = [n for n in FINAL_FIRST if n in names]
    curves = sorted(n for n in names if not n.startswith(NOT_CURVES) and n not in first)
    rest = sorted(n for n in names if n not in first and n not in curves)
    return first + curves + rest


def find(uri: str, ref: str) -> RunRecord:
    """The run `ref` names: a run id, or EXPERIMENT/RUN_NAME (the newest run of that name).
    `UnknownRun` with close matches (ids and EXPERIMENT/RUN_NAME of the store's newest runs)."""
    from pipeline.tracking import runs

    if "/" not in ref:
        try:
            return runs.get_run(uri, ref)
        except LookupError:
            pass
    else:
        experiment, name = ref.split("/", 1)
        escaped = name.replace("'", "\\'")
        found = runs.list_runs(uri, experiment, limit=1, filter_string=f"attributes.run_name = '{escaped}'")
        if found:
            return found[0]
    known = runs.list_runs(uri, limit=1000)
    names = [r.run_id for r in known] + sorted({f"{r.experiment}/{r.name}" for r in known})
    matches = difflib.get_close_matches(ref, names, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(repr(m) for m in matches)}?" if matches else ""
    what = "run id" if "/" not in ref else "EXPERIMENT/RUN_NAME"
    raise UnknownRun(f"no run '{ref}' ({what}) in {uri}{hint}")


def load(uri: str, ref: str) -> Compared:
    """The run with its resolved recipe (the `recipe.yaml` it logged) and its per-epoch curves."""
    import yaml

    from pipeline.tracking import runs

    run = find(uri, ref)
    text = runs.load_text(uri, run.run_id, "recipe.yaml")
    recipe = flatten(yaml.safe_load(text) or {}, item="{}[{}]") if text else {}
    return Compared(ref, run, recipe, runs.curves(uri, run))
