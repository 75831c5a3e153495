"""`pipeline ui` serves the default store on 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import subprocess

from pipeline.cli import main


def test_ui_binds_to_localhost_over_the_default_store(monkeypatch, capsys):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    calls = []
    monkeypatch.setattr(subprocess, "call", lambda command, **kw: calls.append(command) or 0)
    assert main(["ui"]) == 0
    command, = calls
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert command[command.index("--backend-store-uri") + 1] == "sqlite:///mlruns/mlflow.db"
    assert "http://127.0.0.1:5000" in capsys.readouterr().out
