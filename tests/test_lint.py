"""ruff sees every Python file of the project (no exclusion) and finds no error in any."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", *args, "--no-cache", "."], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def test_ruff_checks_every_python_file():
    seen = {Path(line).resolve() for line in _ruff("check", "--show-files").stdout.splitlines() if line.endswith(".py")}
    ours = {p.resolve() for p in REPO.rglob("*.py") if not {".git", ".venv", "build", "dist"} & set(p.parts)}
    assert ours - seen == set()


def test_ruff_finds_no_errors():
    result = _ruff("check", "--output-format", "concise")
    assert result.returncode == 0, result.stdout + result.stderr
