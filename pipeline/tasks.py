"""The kind of problem a recipe solves (`task:`) and which task a loss or metric is made for.

A factory marked `@for_task("regression")` (a loss or metric) is refused by the recipe lint in a
recipe of the other task; an unmarked factory (e.g. a plugin's) is accepted for both. No framework
import: `pipeline validate` reads the marks.
"""

from __future__ import annotations

from typing import Callable, Literal

Task = Literal["classification", "regression"]
TASKS: tuple[str, ...] = ("classification", "regression")


def for_task(task: str) -> Callable:
    """Marks a loss or metric factory as meant for `task` (read by `pipeline.recipe.lint.check_task`)."""
    if task not in TASKS:
        raise ValueError(f"Expected a task in {TASKS}. Received: task={task!r}")

    def mark(factory: Callable) -> Callable:
        factory.task = task
        return factory

    return mark


def task_of(entry) -> str | None:
    """The task a registry entry is marked for, or None when it serves any."""
    return getattr(entry.factory, "task", None)
