"""Pages generated from the code and committed (docs/catalogue.md, docs/cli.md): write one, or say why
the committed one is stale, so that a test can keep each page equal to what its code renders."""

from __future__ import annotations

import difflib
from pathlib import Path


def check(path: str, page: str, command: str, default_path: str, source: str) -> str | None:
    """None when the file at `path` equals `page`, else why not (with a short diff) and the command that
    regenerates it (`command`, with `-o path` unless `path` is `default_path`)."""
    file = Path(path)
    command += "" if file.as_posix().endswith(default_path) else f" -o {path}"
    if not file.is_file():
        return f"{path} does not exist; run `{command}` to generate it."
    current = file.read_text(encoding="utf-8")
    if current == page:
        return None
    diff = list(difflib.unified_diff(current.splitlines(), page.splitlines(), f"{path} (committed)",
                                     f"{path} (from {source})", lineterm="", n=0))
    shown = "\n".join(diff[:40]) + (f"\n... ({len(diff) - 40} more diff lines)" if len(diff) > 40 else "")
    return (f"{path} is out of date with {source}; run `{command}` (in the repository root) "
            f"and commit the result.\n{shown}")


def write(path: str, page: str) -> bool:
    """Write the page; True when the file changed."""
    file = Path(path)
    if file.is_file() and file.read_text(encoding="utf-8") == page:
        return False
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(page, encoding="utf-8")
    return True


def cell(text: str) -> str:
    """Table cells cannot hold a raw `|` or a line break."""
    return " ".join(str(text).split()).replace("|", "\\|")
