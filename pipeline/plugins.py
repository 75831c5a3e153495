"""Plugin discovery through the `pipeline.plugins` entry-point group.

The built-in components are simply the first plugin. A `PluginLoader` (one per process: `loader`)
holds what discovery found, in the manner of pluggy's `PluginManager`: which plugins loaded (with
their distribution and the modules of Keras classes they declare) and which failed. Loading is
idempotent, and each plugin loads as one transaction: if its import raises, every component it had
registered is removed again, the failure is reported once (a `PluginWarning` naming the plugin, its
exception and where it was raised) and the other plugins stay usable; only a recipe that names one
of its components fails. `PIPELINE_DISABLE_PLUGIN_AUTOLOAD=1` keeps third-party plugins out (the
built-ins still load), like pytest's switch of the same name.

A plugin declares the modules that hold its Keras classes (those a saved `.keras` file may name) in
a `KERAS_MODULES` tuple of module names on the module its entry point names; they are imported only
when a model is loaded (`pipeline.saving`), never at discovery.
"""

from __future__ import annotations

import os
import sys
import traceback
import warnings
from contextlib import contextmanager
from importlib.metadata import EntryPoint, entry_points
from typing import Iterator

from pipeline.registry import Provider, registering

GROUP = "pipeline.plugins"
BUILTIN = "builtin"
BUILTIN_TARGET = "plugins"  # pyproject.toml: [project.entry-points."pipeline.plugins"] builtin
DISABLE_ENV = "PIPELINE_DISABLE_PLUGIN_AUTOLOAD"
#: The attribute of a plugin module naming the modules that hold its Keras classes.
KERAS_MODULES = "KERAS_MODULES"


class PluginWarning(UserWarning):
    """A plugin failed to load; the pipeline goes on without it."""


class PluginLoader:
    """Discovers, loads and remembers plugins: the loading state of one process.

    `loaded` maps a plugin's name to its `Provider`, `keras_modules` to the Keras-class modules it
    declares, `failed` to why it did not load ('ExceptionType: message (raised at file:line)').
    """

    def __init__(self, group: str = GROUP):
        self.group = group
        self.loaded: dict[str, Provider] = {}
        self.keras_modules: dict[str, tuple[str, ...]] = {}
        self.failed: dict[str, str] = {}

    def load_all(self) -> PluginLoader:
        """Import every plugin of the group once (the built-ins first); later calls change nothing."""
        eps = {ep.name: ep for ep in entry_points(group=self.group)}
        # Without an installed distribution (a source checkout), the entry point pyproject.toml declares.
        builtin = eps.pop(BUILTIN, None) or EntryPoint(BUILTIN, BUILTIN_TARGET, self.group)
        if BUILTIN not in self.loaded:
            self._load(BUILTIN, builtin, namespace=None)
        if autoload_disabled():
            return self
        for name, ep in sorted(eps.items()):
            if name not in self.loaded and name not in self.failed:
                self._load(name, ep, namespace=name)
        return self

    def load(self, name: str, target: str, *, distribution: str | None = None,
             version: str | None = None) -> Provider:
        """Load one plugin module by hand (tests, notebooks); its names get the `name.` namespace.
        A plugin that failed may be retried; it fails the same way again (`ImportError`)."""
        if name in self.loaded:
            return self.loaded[name]
        self.failed.pop(name, None)
        self._load(name, EntryPoint(name, target, self.group), namespace=name,
                   provider=Provider(name, distribution, version))
        if name in self.failed:
            raise ImportError(f"plugin '{name}' failed to load: {self.failed[name]}")
        return self.loaded[name]

    def all_keras_modules(self) -> list[str]:
        """The Keras-class modules the loaded plugins declare, in load order, each once."""
        return list(dict.fromkeys(m for name in self.loaded for m in self.keras_modules.get(name, ())))

    def _load(self, name: str, ep: EntryPoint, *, namespace: str | None,
              provider: Provider | None = None) -> None:
        """Import one plugin inside a registration; on any exception undo it whole."""
        if provider is None:
            dist = getattr(ep, "dist", None)
            provider = Provider(name, dist.name if dist else None, dist.version if dist else None)
        package = ep.module.partition(".")[0]
        modules_before = set(sys.modules)
        with registering(provider, namespace) as registration:
            try:
                target = ep.load()
                if callable(target):  # an entry point may name a `register()` function instead of a module
                    target()
                declared = _declared_keras_modules(target)
            except Exception as exc:  # a broken plugin must not take the CLI down with it
                registration.rollback()
                _forget_modules(package, modules_before)  # a retry imports (and registers) afresh
                self.failed[name] = _reason(exc)
                warnings.warn(f"plugin '{name}' ({provider.distribution or 'no distribution'}) failed to "
                              f"load and was skipped: {self.failed[name]}", PluginWarning, stacklevel=4)
                return
        self.loaded[name] = provider
        self.keras_modules[name] = declared

    # -- isolation for tests ----------------------------------------------------------------------
    def snapshot(self) -> tuple[dict, dict, dict]:
        return dict(self.loaded), dict(self.keras_modules), dict(self.failed)

    def restore(self, state: tuple[dict, dict, dict]) -> None:
        self.loaded, self.keras_modules, self.failed = (dict(part) for part in state)


def _declared_keras_modules(target) -> tuple[str, ...]:
    """`KERAS_MODULES` of the plugin module (or of the module defining its `register()` function)."""
    module = target if not callable(target) else sys.modules.get(getattr(target, "__module__", ""))
    declared = getattr(module, KERAS_MODULES, ())
    if not isinstance(declared, (tuple, list)) or not all(isinstance(m, str) and m for m in declared):
        raise TypeError(f"{KERAS_MODULES} must be a tuple of module names. Received: {declared!r}")
    return tuple(declared)


def _reason(exc: BaseException) -> str:
    """'ExceptionType: message (raised at file:line)': what failed and where, in one line."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (raised at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _forget_modules(package: str, before: set[str]) -> None:
    """Drop the modules of `package` that a failed load imported, so that nothing of it stays
    half-imported (a later import would otherwise skip the registrations that were rolled back).
    The host's own modules stay: a second copy of `pipeline.registries` would hold other registries."""
    if package == __name__.partition(".")[0]:
        return
    for module in set(sys.modules) - before:
        if module == package or module.startswith(f"{package}."):
            del sys.modules[module]


#: The process's plugin loader (`load_plugins()` fills it).
loader = PluginLoader()


@contextmanager
def isolated() -> Iterator[PluginLoader]:
    """Plugins loaded inside the block are forgotten afterwards (pairs with `registries.isolated`)."""
    saved = loader.snapshot()
    try:
        yield loader
    finally:
        loader.restore(saved)


def autoload_disabled() -> bool:
    return os.environ.get(DISABLE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def load_plugins() -> PluginLoader:
    """Import every plugin once; later calls return the same loader."""
    return loader.load_all()


def load_plugin(name: str, target: str, *, distribution: str | None = None,
                version: str | None = None) -> Provider:
    """Load one plugin module by hand (tests, notebooks); see `PluginLoader.load`."""
    return loader.load(name, target, distribution=distribution, version=version)
