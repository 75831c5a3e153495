"""The command-line reference (docs/cli.md) is generated from the `pipeline` argument parser and
committed: it must match the parser and name every command and argument."""

from __future__ import annotations

import argparse

import pytest

from pipeline import cli_reference, generated_page
from pipeline.cli import EXIT_FAILED, EXIT_OK, _parser, main
from tests.conftest import REPO


def test_committed_page_matches_the_parser():
    problem = generated_page.check(str(REPO / cli_reference.DEFAULT_PATH), cli_reference.render(_parser()),
                                   "pipeline reference", cli_reference.DEFAULT_PATH, "the parser")
    if problem is not None:
        pytest.fail(f"{problem}\n(a command or an argument changed)", pytrace=False)


def test_every_command_and_argument_is_on_the_page():
    parser = _parser()
    page = cli_reference.render(parser)
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert len(commands) >= 12
    for name, sub in commands.items():
        assert f"\n## `pipeline {name}`\n" in page
        assert f"](#pipeline-{name}) |" in page  # the table of contents links to it
        for action in sub._actions:
            for flag in action.option_strings:
                assert flag in page or flag in ("-h", "--help"), (name, flag)
    run = page.split("## `pipeline run`")[1].split("\n## ")[0]
    assert "pipeline run RECIPE [--set KEY=VALUE]... [--tracking-uri TRACKING_URI] [--resume RUN_ID]" in run
    assert "| `--set KEY=VALUE` | repeatable | override a recipe value" in run
    tune = page.split("## `pipeline tune`")[1].split("\n## ")[0]
    assert "| `--workers WORKERS` | `1` |" in tune and "(default: &lt;dir>/best.yaml)" in tune


def test_rows_expand_argparse_placeholders_and_mark_required_and_optional_positionals():
    parser = argparse.ArgumentParser(prog="tool")
    parser.add_argument("files", nargs="+", help="inputs")
    parser.add_argument("extra", nargs="?")
    parser.add_argument("--mode", choices=["a", "b"], default="a", help="how (default: %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="say | nothing")
    rows = [cli_reference.row(a, "tool") for a in parser._actions[1:]]
    assert rows == ["| `FILES [FILES ...]` | required | inputs |", "| `[EXTRA]` |  |  |",
                    "| `--mode {a,b}` | `a` | how (default: a) |", "| `--quiet` |  | say \\| nothing |"]
    assert cli_reference.synopsis(parser) == "tool FILES [FILES ...] [EXTRA] [--mode {a,b}] [--quiet]"


def test_the_page_does_not_depend_on_the_terminal_width(monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    narrow = cli_reference.render(_parser())
    monkeypatch.setenv("COLUMNS", "300")
    assert cli_reference.render(_parser()) == narrow


def test_cli_writes_checks_and_prints_the_page(tmp_path, capsys):
    out = tmp_path / "cli.md"
    assert main(["reference", "--check", "-o", str(out)]) == EXIT_FAILED  # missing
    assert f"run `pipeline reference -o {out}`" in capsys.readouterr().err
    assert main(["reference", "-o", str(out)]) == EXIT_OK
    assert main(["reference", "--check", "-o", str(out)]) == EXIT_OK
    assert capsys.readouterr().out.splitlines() == [f"{out}: written", f"{out}: up to date"]
    out.write_text(out.read_text(encoding="utf-8").replace("`pipeline tune`", "`pipeline tune2`"), encoding="utf-8")
    stale = out.read_text(encoding="utf-8")
    assert main(["reference", "--check", "-o", str(out)]) == EXIT_FAILED
    err = capsys.readouterr().err
    assert "is out of date with the parser" in err and "pipeline tune2" in err
    assert out.read_text(encoding="utf-8") == stale  # --check writes nothing
    assert main(["reference", "-o", "-"]) == EXIT_OK
    assert capsys.readouterr().out == cli_reference.render(_parser())
