"""`pipeline improve RECIPE`: the course's "basic recipe for machine learning" as a loop.

A parent MLflow run; round 0 trains the recipe as it is (a nested run, like every round). Each
later round reads the best recipe's bias/variance verdict (`diagnostics/verdict.py`), takes the next
registered remedy (`pipeline.registries.remedies`, built-ins in `plugins/remedies.py`) that fits it,
bias first (or variance, when both are high and its gap is the larger), and trains the changed recipe. The change is kept only if the validation error
improves; otherwise it is reverted and the next remedy is tried. It stops at the target error, when
the budget of rounds is spent, or when no remedy that fits is left. Rounds never read the test
split; the final recipe is evaluated on it once, at the end, as one more nested run.
"""

from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.recipe import LoadedRecipe, RecipeError, replanned

CHAIN = "improve/rounds.csv"
PLOT = "improve/val_error.png"


@dataclass
class Round:
    number: int
    change: str  # "baseline", the remedy's description, or why it failed
    remedy: str
    verdict: str
    train_error: float
    val_error: float
    kept: bool
    run_id: str
    tree: dict = field(repr=False, default_factory=dict)


@dataclass
class Improvement:
    parent_run_id: str
    rounds: list[Round]
    best: Round
    stopped: str
    recipe_file: str
    final_run_id: str
    test_metrics: dict[str, float]


def ordered_remedies() -> list:
    """Every registered remedy (default arguments), in the basic recipe's order within its gap."""
    from pipeline import registries

    built = [registries.remedies.build(name) for name in registries.remedies.names()]
    return sorted(built, key=lambda r: (r.order, r.name))


def fitting(remedies: list, verdict: str, variance_first: bool = False) -> list:
    """The remedies for the verdict's gaps: bias first, as the basic recipe says, unless both are
    high and the variance gap is the larger (`variance_first`): a budget of rounds goes to the
    gap that costs the most validation error."""
    gaps = [gap for gap in (("variance", "bias") if variance_first else ("bias", "variance"))
            if f"high {gap}" in verdict]
    return [r for gap in gaps for r in remedies if r.fixes == gap]


def improve(loaded: LoadedRecipe, budget: int = 6, target_error: float | None = None,
            tracking_uri: str | None = None, output: str | None = None, echo=print) -> Improvement:
    """Run the loop on `loaded` (see the module docstring); `budget`: rounds after the baseline."""
    from pipeline import backend as backends
    from pipeline import heartbeat, signals, tracking
    from pipeline.tracking.run_logger import RunLogger

    recipe = loaded.plan.recipe
    if not recipe.diagnostics.verdict:
        from pipeline.errors import Problem

        raise RecipeError([Problem(("diagnostics", "verdict"), "pipeline improve reads the bias/variance "
                                   "verdict of each round: set diagnostics.verdict: true",
                                   loaded.marks.get(("diagnostics", "verdict")))])
    backends.activate(loaded.resolved["backend"])
    uri = tracking.tracking_uri(tracking_uri)
    experiment_id = tracking.connect(uri, recipe.track.experiment)
    name = recipe.name or Path(loaded.file).stem
    parent = RunLogger.start(uri, experiment_id, f"improve {name}",
                             {"recipe.hash": loaded.hash, "recipe.file": loaded.file, "improve.budget": str(budget),
                              **tracking.versions()})
    parent.set_tags(heartbeat.identity())
    with signals.graceful_stop(), parent.until_done():  # FINISHED, or KILLED / FAILED with the reason
        loop = _Loop(loaded, uri, parent, target_error, echo)
        stopped = loop.run(budget)
        parent.log_text(chain_table(loop.rounds), CHAIN)
        parent.log_figure(chain_plot(loop.rounds), PLOT)
        out = Path(output or Path("improve") / name / "best.yaml")
        write_recipe(loaded, loop.best.tree, out, loop.rounds)
        echo(f"stopped: {stopped}; best recipe: {out} (round {loop.best.number}, "
             f"val error {loop.best.val_error:.4f})")
        final = loop.evaluate_once(loop.best)
        parent.log_text(out.read_text(encoding="utf-8"), "improve/best.yaml")
        parent.set_tags({"improve.stopped": stopped, "improve.best_round": str(loop.best.number),
                         "improve.final_run": final.run_id})
        parent.log_metrics({"best_val_error": loop.best.val_error, **final.test_metrics})
    return Improvement(parent.run_id, loop.rounds, loop.best, stopped, str(out), final.run_id, final.test_metrics)


class _Loop:
    """The rounds of one improve run: what was tried, what was kept."""

    def __init__(self, loaded: LoadedRecipe, uri: str, parent, target_error: float | None, echo):
        from pipeline.remedy import Context

        self.loaded, self.uri, self.parent, self.echo = loaded, uri, parent, echo
        settings = loaded.plan.recipe.diagnostics
        self.target = target_error
        self.judge_target = settings.target_error if target_error is None else target_error
        self.tolerance = settings.tolerance
        self.remedies = ordered_remedies()
        self.context = Context(_input_shape(loaded), self._suggest_learning_rate)
        self.rounds: list[Round] = []
        self.best: Round | None = None

    def run(self, budget: int) -> str:
        """Train round 0 and up to `budget` more; say why it stopped."""
        self.best = self._train(0, self.loaded, "baseline", "-")
        if not math.isfinite(self.best.val_error):  # nothing to improve on
            raise RuntimeError(f"round 0, the recipe as it is, gave no validation error: {self.best.change}")
        self.best.kept = True
        tried: set[str] = set()  # remedies tried (or not applicable) since the last kept change
        while True:
            if self.target is not None and self.best.val_error <= self.target:
                return f"target reached (val error {self.best.val_error:.4f} <= {self.target})"
            if len(self.rounds) - 1 >= budget:
                return f"budget of {budget} rounds spent"
            best = self.best
            fits = fitting(self.remedies, best.verdict,
                           best.val_error - best.train_error > best.train_error - self.judge_target)
            if not fits:
                return f"nothing to fix ({self.best.verdict})"
            chosen = self._next_change(fits, tried)
            if chosen is None:
                return f"no remedy left that fits '{self.best.verdict}' and changes the recipe"
            remedy, description, child = chosen
            trained = self._train(len(self.rounds), child, description, remedy.name)
            if trained.val_error < self.best.val_error:
                trained.kept, self.best = True, trained
                tried = set()
            self.echo(f"round {trained.number}: {'kept' if trained.kept else 'reverted'} ({description}): "
                      f"val error {trained.val_error:.4f}, best {self.best.val_error:.4f}")

    def _next_change(self, fits: list, tried: set[str]):
        """(remedy, what it changed, the changed recipe) of the first fitting remedy not yet tried."""
        for remedy in fits:
            if remedy.name in tried:
                continue
            tried.add(remedy.name)
            tree = copy.deepcopy(self.best.tree)
            description = remedy.change(tree, self.context)
            if description is None:
                continue
            try:
                return remedy, description, replanned(self.loaded, tree)
            except RecipeError as exc:  # a plugin's remedy made an invalid recipe: say so, try the next
                self.echo(f"remedy {remedy.name} made an invalid recipe, skipped: {exc}")
        return None

    def _train(self, number: int, loaded: LoadedRecipe, change: str, remedy: str) -> Round:
        """Train one round (a nested run, test split unread) or reuse the FINISHED run that trained it."""
        from pipeline import repeats
        from pipeline.tracking import runs
        from pipeline.train import run

        self.echo(f"round {number}: {change}")
        earlier = repeats.earlier_run(loaded, self.uri, nested=True)
        try:
            if earlier is not None:
                self.echo(f"round {number}: trained before (run {earlier.run_id}): reused")
                run_id = earlier.run_id
            else:
                run_id = run(loaded, tracking_uri=self.uri, echo=self.echo, parent_run_id=self.parent.run_id,
                             run_name=f"round {number}: {remedy}", evaluate_test=False).run_id
        except Exception as exc:  # the round's run is marked FAILED with the reason; the change is reverted
            trained = Round(number, f"{change} (FAILED: {type(exc).__name__}: {exc})"[:300], remedy, "-",
                            math.inf, math.inf, False, getattr(getattr(exc, "run_end", None), "run_id", "-"),
                            loaded.resolved)
        else:
            metrics = runs.get_run(self.uri, run_id).metrics
            trained = Round(number, change, remedy, self._verdict(run_id, metrics), metrics.get("train_error", math.nan),
                            metrics.get("val_error", math.inf), False, run_id, loaded.resolved)
        self.rounds.append(trained)
        self.parent.log_metrics({"val_error": min(trained.val_error, 1e30)}, step=number)
        self.echo(f"round {number}: verdict {trained.verdict}")
        return trained

    def _verdict(self, run_id: str, metrics: dict) -> str:
        """The round's verdict label: recomputed against `--target-error` for class labels, else the run's."""
        from pipeline.diagnostics.verdict import classify
        from pipeline.tracking import runs

        if self.loaded.plan.recipe.task == "classification" and "train_error" in metrics:
            return classify(metrics["train_error"], metrics["val_error"], self.judge_target, self.tolerance).label
        return runs.get_run(self.uri, run_id).tags.get("diagnostics.verdict", "-")

    def _suggest_learning_rate(self, tree: dict) -> float | None:
        """The LR range test on the training split of `tree` (the lr_find remedy's question)."""
        from pipeline.diagnostics.lr_find import lr_find_recipe

        found = lr_find_recipe(replanned(self.loaded, tree), steps=100, plot=None)
        self.echo(f"lr-find: {found.summary()}")
        return found.suggestion

    def evaluate_once(self, best: Round):
        """The one test evaluation: the best recipe trained as a nested run that reads the test split
        (or the FINISHED run that already did, same recipe.id)."""
        from pipeline import repeats
        from pipeline.train import run

        loaded = replanned(self.loaded, best.tree)
        earlier = repeats.earlier_run(loaded, self.uri)
        if earlier is not None and any(k.startswith("test_") for k in earlier.metrics):
            self.echo(f"final: {repeats.already_trained(earlier).split(';')[0]} (its test metrics are used)")
            return _Final(earlier.run_id, {k: v for k, v in earlier.metrics.items() if k.startswith("test_")})
        result = run(loaded, tracking_uri=self.uri, echo=self.echo, parent_run_id=self.parent.run_id,
                     run_name=f"final: round {best.number} on the test split")
        return _Final(result.run_id, result.test_metrics)


@dataclass
class _Final:
    run_id: str
    test_metrics: dict[str, float]


def _input_shape(loaded: LoadedRecipe) -> tuple[int, ...]:
    """One example's shape as the model sees it (after preprocessing that changes it, e.g. PCA)."""
    if loaded.plan.preprocess:
        from pipeline.assemble import prepare_data

        _, splits = prepare_data(loaded)
        return tuple(splits.x_train.shape[1:])
    from pipeline.data.checks import load_source

    return tuple(load_source(loaded).x.shape[1:])


def write_recipe(loaded: LoadedRecipe, tree: dict, out: Path, rounds: list[Round]) -> None:
    """The best recipe as a file that `extends:` the original with only the changed keys."""
    import yaml

    from pipeline.recipe import resolve_recipe
    from pipeline.recipe.resolve import changed_keys

    base, _ = resolve_recipe(loaded.file)
    changes = changed_keys(base, tree)
    out.parent.mkdir(parents=True, exist_ok=True)
    kept = [r for r in rounds if r.kept and r.number]
    header = (f"# written by `pipeline improve {loaded.file}`: "
              + ("; ".join(f"round {r.number}: {r.change}" for r in kept) or "no change improved the baseline")
              + "\n")
    body = {"extends": os.path.relpath(Path(loaded.file).resolve(), out.resolve().parent), **changes}
    out.write_text(header + yaml.safe_dump(body, sort_keys=False), encoding="utf-8")


def chain_table(rounds: list[Round]) -> str:
    """The chain as CSV: round, remedy, change, verdict, train and validation error, kept, run."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["round", "remedy", "change", "verdict", "train_error", "val_error", "kept", "run_id"])
    for r in rounds:
        writer.writerow([r.number, r.remedy, r.change, r.verdict, f"{r.train_error:.4f}", f"{r.val_error:.4f}",
                         "yes" if r.kept else "no", r.run_id])
    return buffer.getvalue()


def chain_plot(rounds: list[Round]):
    """Validation error per round (kept rounds filled, reverted hollow) and the best so far."""
    from pipeline.diagnostics.plots import _plt

    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    finite = [r for r in rounds if math.isfinite(r.val_error)]
    best, so_far = math.inf, []
    for r in finite:
        best = min(best, r.val_error) if r.kept else best
        so_far.append(best)
    ax.step([r.number for r in finite], so_far, where="post", color="tab:green", label="best so far")
    for kept, style in ((True, "o"), (False, "x")):
        chosen = [r for r in finite if r.kept == kept]
        ax.plot([r.number for r in chosen], [r.val_error for r in chosen], style, color="tab:blue" if kept else "tab:red",
                label="kept" if kept else "reverted")
    for r in finite:
        ax.annotate(r.remedy if r.number else "baseline", (r.number, r.val_error), textcoords="offset points", xytext=(0, 6), ha="center",
                    fontsize=7)
    ax.set_xlabel("round")
    ax.set_ylabel("validation error")
    ax.set_title("pipeline improve")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig
