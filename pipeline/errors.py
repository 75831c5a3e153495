"""Recipe problems that point at the file, line and column a user has to fix."""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """Where a value was written: `file:line:col` (1-based), or the `--set` override it came from."""

    source: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        source = printable(self.source, 4096)  # a file name may hold a line break
        if self.line is None:
            return source
        return f"{source}:{self.line}:{self.column}"


KeyPath = tuple  # keys and list indices from the recipe root, e.g. ("model", "layers", 2, "rate")

# Characters a message must not print raw: C0/C1 controls (but tab and line breaks), surrogates,
# U+FFFE/FFFF (what PyYAML's reader refuses), and invisible formatting characters (bidirectional
# overrides, zero-width spaces, a BOM inside text).
FORBIDDEN_CHAR = re.compile("[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010ffff]"
                            "|[\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]")
UNPRINTABLE = re.compile(FORBIDDEN_CHAR.pattern + "|[\x09-\x0D\x85\u2028\u2029]")


def printable(text: str, limit: int = 80) -> str:
    """`text` safe to echo in one line of a message: unprintable characters escaped, at most `limit` long."""
    out = UNPRINTABLE.sub(lambda m: repr(m.group())[1:-1], str(text))
    return out if len(out) <= limit else out[:limit - 1] + "…"


def format_path(path: KeyPath) -> str:
    """('model', 'layers', 2, 'rate') -> 'model.layers[2].rate'."""
    out = ""
    for part in path:
        part = part if isinstance(part, int) else printable(part, 60)
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_PART = re.compile(r"([^.\[\]]+)|\[(-?\d+)\]")


def parse_key_path(text: str) -> KeyPath:
    """'model.layers[2].rate' -> ('model', 'layers', 2, 'rate')."""
    parts: list = []
    pos = 0
    for match in _PART.finditer(text):
        if match.start() != pos and text[pos:match.start()] != ".":
            raise ValueError(text)
        parts.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
        pos = match.end()
    if pos != len(text) or not parts:
        raise ValueError(text)
    return tuple(parts)


@dataclass(frozen=True)
class Problem:
    path: KeyPath
    message: str
    location: Location | None = None

    def __str__(self) -> str:
        where = f"{self.location} " if self.location else ""
        path = format_path(self.path)
        return f"{where}{path}: {self.message}" if path else f"{where}{self.message}"


MAX_SHOWN = 50  # problems listed by `str(RecipeError)`; a mangled recipe can have thousands


class RecipeError(ValueError):
    """One or more problems in a recipe; `str()` lists each on its own line (the first MAX_SHOWN)."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        more = len(self.problems) - MAX_SHOWN
        super().__init__("\n".join([str(p) for p in self.problems[:MAX_SHOWN]]
                                   + ([f"... and {more} more problems"] if more > 0 else [])))


def did_you_mean(word, choices, otherwise: str = ".") -> str:
    """"; did you mean 'a' or 'b'?" for the close matches of `word` among `choices`, else `otherwise`."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=2, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else otherwise


def unknown_key(key, fields) -> str:
    """The message for a key a recipe section does not have, with close matches and the allowed keys."""
    key = printable(key, 60)
    hint = did_you_mean(key, fields, otherwise="")
    if not hint:  # `up_to- stage3`: a colon missing after the key, or a typo around a space
        hint = did_you_mean(re.split(r"[^\w]", str(key))[0], fields)
    odd = next((c for c in key if ord(c) > 127), None)
    if odd and hint != ".":  # 'еpochs' with a Cyrillic е looks exactly like the key it is not
        hint = f"{hint[:-1]} (the key has the non-ASCII character U+{ord(odd):04X} " \
               f"{unicodedata.name(odd, '')}, at position {key.index(odd) + 1})?"
    return f"unknown key '{key}'{hint} Expected one of: {', '.join(map(str, fields))}"


SOURCE = ("data", "source")


class DataError(RecipeError):
    """Data a recipe names that cannot be trained on (a missing file, a NaN feature, labels the model
    cannot output): one problem at `path` (default `data.source`), reported like a recipe error (exit 2)."""

    def __init__(self, message: str, path: KeyPath = SOURCE):
        super().__init__([Problem(tuple(path), message)])
