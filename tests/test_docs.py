"""The documentation holds together: a short README that reaches every guide in one click, relative
links that lead to files and headings that exist, the quick start's test command exactly what CI runs,
and the README's example recipe valid."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.recipe import load_recipe
from tests.conftest import REPO

README = REPO / "README.md"
PAGES = [README, *sorted((REPO / "docs").glob("*.md")), REPO / "bench" / "README.md"]

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")  # [text](target), images aside
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def links(page: Path) -> list[str]:
    """Relative link targets in a Markdown page, outside code blocks."""
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return [t for t in LINK.findall(text) if not re.match(r"[a-z][a-z+.-]*:", t)]  # no http:, mailto:


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes."""
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    headings = re.findall(r"^#{1,6} +(.+?) *#*$", text, re.MULTILINE)
    return {"".join(c for c in h.lower().replace(" ", "-") if c.isalnum() or c in "-_") for h in headings}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_relative_link_leads_to_a_file_and_heading_that_exist(page):
    broken = []
    for target in links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        relative = file.relative_to(REPO).as_posix() if file.is_relative_to(REPO) else str(file)
        if not file.exists():
            broken.append(f"{target}: no file {relative}")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no heading #{anchor} in {relative}")
    assert not broken, f"{page.relative_to(REPO)}: " + "; ".join(broken)


def test_readme_is_short_and_reaches_every_guide_in_one_click():
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 200
    linked = {(REPO / target.partition("#")[0]).resolve() for target in links(README)}
    unlinked = [p.name for p in sorted((REPO / "docs").glob("*.md")) if p.resolve() not in linked]
    assert not unlinked, f"docs pages the README does not link: {unlinked}"


def test_the_quick_start_test_command_is_what_ci_runs():
    quick_start = README.read_text(encoding="utf-8").split("## Quick start")[1].split("\n## ")[0]
    command = 'pip install -e ".[test]" && python -m pytest -q'
    assert f"```bash\n{command}\n```" in quick_start
    assert command in (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()


def test_the_readmes_example_recipe_is_valid(write_recipe):
    text = README.read_text(encoding="utf-8")
    example = next(block for block in re.findall(r"^```yaml\n(.*?)^```", text, re.MULTILINE | re.DOTALL) if "model:" in block)
    load_recipe(write_recipe("example.yaml", example))  # raises RecipeError, located, if it is not
