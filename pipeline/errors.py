"""Recipe problems that point at the file, line and column a user has to fix."""

from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """Where a value was written: `file:line:col` (1-based), or the `--set` override it came from."""

    source: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        if self.line is None:
            return self.source
        return f"{self.source}:{self.line}:{self.column}"


Path = tuple  # keys and list indices from the recipe root, e.g. ("model", "layers", 2, "rate")


def format_path(path: Path) -> str:
    """('model', 'layers', 2, 'rate') -> 'model.layers[2].rate'."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass(frozen=True)
class Problem:
    path: Path
    message: str
    location: Location | None = None

    def __str__(self) -> str:
        where = f"{self.location} " if self.location else ""
        path = format_path(self.path)
        return f"{where}{path}: {self.message}" if path else f"{where}{self.message}"


class RecipeError(ValueError):
    """One or more problems in a recipe; `str()` lists each on its own line."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def did_you_mean(word, choices, otherwise: str = ".") -> str:
    """"; did you mean 'a' or 'b'?" for the close matches of `word` among `choices`, else `otherwise`."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=2, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else otherwise


def unknown_key(key, fields) -> str:
    """The message for a key a recipe section does not have, with close matches and the allowed keys."""
    return f"unknown key '{key}'{did_you_mean(key, fields)} Expected one of: {', '.join(map(str, fields))}"
