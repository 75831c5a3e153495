"""What tells runs apart in the MLflow UI: the `--set` overrides in the run's name and as a tag,
the recipe's `description:` as the run's description, and the commit of the recipe's git work tree.

Two quick starts with different learning rates are then `mnist1d-cnn lr=0.01` and `mnist1d-cnn
lr=0.003`, not two runs named `mnist1d-cnn` told apart only by a param.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

#: short names for the keys overridden most often (the last part of the key path otherwise)
SHORT = {"learning_rate": "lr", "batch_size": "batch", "weight_decay": "wd"}
NOT_IN_NAME = ("track.",)  # where the run is filed and how it is named: not what it is
MAX_NAME = 250  # MLflow's limit on a run name (MAX_ENTITY_KEY_LENGTH)
DESCRIPTION_TAG = "mlflow.note.content"  # what the MLflow UI shows as the run's description
GIT_TIMEOUT_S = 5


def short_overrides(overrides) -> str:
    """('train.optimizer.learning_rate=0.01', 'train.epochs=5') -> 'lr=0.01 epochs=5': each key by
    its last part (or its short name), the whole path where two would read the same."""
    pairs = [(key.strip(), value.strip()) for key, _, value in (o.partition("=") for o in overrides)
             if not key.strip().startswith(NOT_IN_NAME)]
    short = [_short(key) for key, _ in pairs]
    return " ".join(f"{s if short.count(s) == 1 else key}={value}" for s, (key, value) in zip(short, pairs))


def _short(key: str) -> str:
    last = key.rsplit(".", 1)[-1]
    return SHORT.get(last, last)


def run_name(base: str | None, overrides, file: str | None = None) -> str | None:
    """`base` followed by the overrides; None (MLflow picks a name) when there is neither."""
    shown = short_overrides(overrides)
    if not shown:
        return base
    return f"{base or (Path(file).stem if file else 'run')} {shown}"[:MAX_NAME]


def tags(overrides, description: str | None, recipe_file: str | None) -> dict[str, str]:
    """`recipe.overrides` (the `--set` assignments, one per line), the description, the git state."""
    out = {"recipe.overrides": "\n".join(overrides)} if overrides else {}
    if description:
        out[DESCRIPTION_TAG] = description
    return out | (git_state(recipe_file) if recipe_file else {})


def git_state(file: str) -> dict[str, str]:
    """{'recipe.git.commit': HEAD, 'recipe.git.dirty': 'true'|'false'} of the work tree holding `file`;
    {} when it is in none, git is missing or slow: git never fails a run.

    Dirty: a tracked file of the work tree differs from HEAD, or the recipe itself does (changed,
    or not committed at all), i.e. the commit alone does not give back what ran.
    """
    folder = Path(file).resolve().parent
    try:
        commit = _git(folder, "rev-parse", "HEAD")
        changed = _git(folder, "status", "--porcelain", "--untracked-files=no")
        recipe = _git(folder, "status", "--porcelain", "--", Path(file).resolve().name)
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"recipe.git.commit": commit, "recipe.git.dirty": str(bool(changed or recipe)).lower()}


def _git(folder: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True,
                          timeout=GIT_TIMEOUT_S, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise subprocess.SubprocessError(done.stderr.strip())
    return done.stdout.strip()
