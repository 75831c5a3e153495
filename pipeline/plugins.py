"""Plugin discovery through the `pipeline.plugins` entry-point group.

The built-in components are simply the first plugin. Loading is idempotent, records which
distribution provided each component, and a broken plugin is reported and skipped: it only fails
a recipe that names one of its components. `PIPELINE_DISABLE_PLUGIN_AUTOLOAD=1` keeps third-party
plugins out (the built-ins still load), like pytest's switch of the same name.
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Iterator

from pipeline.registry import Provider, Registry

GROUP = "pipeline.plugins"
BUILTIN = "builtin"
BUILTIN_TARGET = "plugins"  # pyproject.toml: [project.entry-points."pipeline.plugins"] builtin
DISABLE_ENV = "PIPELINE_DISABLE_PLUGIN_AUTOLOAD"


class PluginWarning(UserWarning):
    """A plugin failed to load; the pipeline goes on without it."""


@dataclass
class PluginState:
    loaded: dict[str, Provider] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # plugin name -> reason


state = PluginState()


@contextmanager
def isolated() -> Iterator[PluginState]:
    """Plugins loaded inside the block are forgotten afterwards (pairs with `registries.isolated`)."""
    saved = dict(state.loaded), dict(state.failed)
    try:
        yield state
    finally:
        state.loaded, state.failed = saved


def autoload_disabled() -> bool:
    return os.environ.get(DISABLE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def load_plugins() -> PluginState:
    """Import every plugin once; later calls return the same state."""
    eps = {ep.name: ep for ep in entry_points(group=GROUP)}
    if BUILTIN not in state.loaded:
        # Without an installed distribution (a source checkout), the entry point pyproject.toml declares.
        builtin = eps.pop(BUILTIN, None) or EntryPoint(BUILTIN, BUILTIN_TARGET, GROUP)
        _load(BUILTIN, builtin, namespace=None)
    else:
        eps.pop(BUILTIN, None)
    if autoload_disabled():
        return state
    for name, ep in sorted(eps.items()):
        if name not in state.loaded and name not in state.failed:
            _load(name, ep, namespace=name)
    return state


def load_plugin(name: str, target: str, *, distribution: str | None = None,
                version: str | None = None) -> Provider:
    """Load one plugin module by hand (tests, notebooks); its names get the `name.` namespace."""
    if name in state.loaded:
        return state.loaded[name]
    state.failed.pop(name, None)  # a plugin that failed may be retried by hand
    _load(name, EntryPoint(name, target, GROUP), namespace=name,
          provider=Provider(name, distribution, version))
    if name in state.failed:
        raise ImportError(state.failed[name])
    return state.loaded[name]


def _load(name: str, ep: EntryPoint | None, *, namespace: str | None,
          provider: Provider | None = None) -> None:
    if provider is None:
        dist = getattr(ep, "dist", None)
        provider = Provider(name, dist.name if dist else None, dist.version if dist else None)
    previous = Registry.current_provider, Registry.current_namespace
    Registry.current_provider, Registry.current_namespace = provider, namespace
    try:
        target = ep.load()
        if callable(target):  # an entry point may name a `register()` function instead of a module
            target()
    except Exception as exc:  # a broken plugin must not take the CLI down with it
        state.failed[name] = f"{type(exc).__name__}: {exc}"
        warnings.warn(f"plugin '{name}' ({provider.distribution or 'no distribution'}) failed to "
                      f"load and was skipped: {state.failed[name]}", PluginWarning, stacklevel=3)
    else:
        state.loaded[name] = provider
    finally:
        Registry.current_provider, Registry.current_namespace = previous
