"""`pipeline.lazy.LazyModule`: a module-top name for a framework that imports it on first use only."""

from __future__ import annotations

import sys

from pipeline.lazy import LazyModule


def test_the_module_is_imported_on_the_first_attribute_read_and_once(tmp_path, monkeypatch):
    (tmp_path / "lazy_probe_module.py").write_text("VALUE = 42\nCOUNT = [0]\nCOUNT[0] += 1\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "lazy_probe_module", raising=False)
    lazy = LazyModule("lazy_probe_module")
    assert "lazy_probe_module" not in sys.modules and "not imported yet" in repr(lazy)
    assert not hasattr(lazy, "__wrapped__")  # introspection does not import it
    assert "lazy_probe_module" not in sys.modules
    assert lazy.VALUE == 42 and lazy.COUNT == [1]
    assert sys.modules["lazy_probe_module"].COUNT == [1]  # imported once, the module Python caches
    assert lazy.__name__ == "lazy_probe_module" and "imported" in repr(lazy)
    monkeypatch.delitem(sys.modules, "lazy_probe_module")
