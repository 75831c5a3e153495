"""The `Registry` class: named, documented, signature-checked components of one kind."""

from __future__ import annotations

import difflib
import inspect
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator


def normalize_name(name: str) -> str:
    """Names are case-insensitive and treat '-' like '_' ('He-Normal' == 'he_normal')."""
    return name.strip().lower().replace("-", "_")


class RegistryError(LookupError):
    """A name could not be registered or found. Carries close matches for the caller's message."""

    def __init__(self, message: str, *, matches: tuple[str, ...] = ()):
        super().__init__(message)
        self.matches = matches


@dataclass(frozen=True)
class Provider:
    """Who registered a component: the plugin (entry-point) name and its distribution."""

    plugin: str = "local"
    distribution: str | None = None
    version: str | None = None

    def __str__(self) -> str:
        if self.distribution:
            return f"{self.plugin} ({self.distribution} {self.version or '?'})"
        return self.plugin


@dataclass(frozen=True)
class Entry:
    """One registered component. `factory(**kwargs)` builds it; its signature is the schema."""

    name: str
    factory: Callable[..., Any]
    kind: str
    provider: Provider = field(default_factory=Provider)
    aliases: tuple[str, ...] = ()

    @property
    def signature(self) -> inspect.Signature:
        return inspect.signature(self.factory)

    @property
    def summary(self) -> str:
        """First line of the docstring: the catalogue line."""
        doc = inspect.getdoc(self.factory) or ""
        return doc.splitlines()[0] if doc else ""


LOCAL = Provider()


@dataclass
class Registration:
    """What one plugin is registering while it loads: who it is, the namespace its names get, and
    every name it added, so that a plugin that fails half-way is taken out whole (`rollback`)."""

    provider: Provider = LOCAL
    namespace: str | None = None
    added: list[tuple[Registry, tuple[str, ...]]] = field(default_factory=list)

    def rollback(self) -> None:
        for registry, keys in reversed(self.added):
            registry._remove(keys)
        self.added.clear()


#: The registration in progress (set by the plugin loader around one plugin's import). A context
#: variable, not a class attribute: two loaders, threads or tests never see each other's plugin.
_registration: ContextVar[Registration | None] = ContextVar("pipeline_registration", default=None)


@contextmanager
def registering(provider: Provider, namespace: str | None = None) -> Iterator[Registration]:
    """Registrations made inside the block are attributed to `provider`, get the `namespace.` prefix,
    and are recorded in the `Registration` yielded (the caller rolls it back if the plugin fails)."""
    registration = Registration(provider, namespace)
    token = _registration.set(registration)
    try:
        yield registration
    finally:
        _registration.reset(token)


def _current() -> Registration:
    return _registration.get() or Registration()


class Registry:
    """Components of one kind (layers, optimizers, ...), looked up by normalized name.

    `register` works as a decorator (`@layers.register("dense")`) and as a call
    (`layers.register("dense", factory)`). A duplicate name raises, naming both providers:
    silently overwriting would make a recipe's meaning depend on plugin load order.
    """

    def __init__(self, kind: str, *, singular: str | None = None):
        self.kind = kind
        self.singular = singular or kind.rstrip("s")
        self._entries: dict[str, Entry] = {}
        self._aliases: dict[str, str] = {}

    # -- registration -------------------------------------------------------------------------
    def register(self, name: str | Callable | None = None, factory: Callable | None = None, *,
                 aliases: tuple[str, ...] = ()):
        """Register `factory` under `name` (default: the factory's `__name__`)."""
        if callable(name) and factory is None:  # bare @register
            return self.register(None, name, aliases=aliases)

        def decorator(fn: Callable) -> Callable:
            self._add(name or fn.__name__, fn, aliases)
            return fn

        return decorator(factory) if factory is not None else decorator

    @staticmethod
    def _qualify(name: str, ns: str | None) -> str:
        name = normalize_name(name)
        return f"{normalize_name(ns)}.{name}" if ns and not name.startswith(f"{ns}.") else name

    def _add(self, name: str, fn: Callable, aliases: tuple[str, ...]) -> None:
        if not callable(fn):
            raise TypeError(f"Expected a callable factory for {self.singular} '{name}'. "
                            f"Received: factory={fn!r}")
        registration = _current()
        key = self._qualify(name, registration.namespace)
        keys = (key, *(self._qualify(a, registration.namespace) for a in aliases))
        for k in keys:
            owner = self._entries.get(k) or self._entries.get(self._aliases.get(k, ""))
            if owner is not None:
                raise RegistryError(
                    f"{self.singular} '{k}' is already registered by {owner.provider}; "
                    f"{registration.provider} tried to register it again")
        self._entries[key] = Entry(key, fn, self.kind, registration.provider, keys[1:])
        for alias in keys[1:]:
            self._aliases[alias] = key
        registration.added.append((self, keys))

    def _remove(self, keys: tuple[str, ...]) -> None:
        """Forget an entry and its aliases (a failed plugin's rollback)."""
        self._entries.pop(keys[0], None)
        for alias in keys[1:]:
            self._aliases.pop(alias, None)

    # -- lookup ---------------------------------------------------------------------------------
    def resolve(self, name: str) -> str | None:
        key = normalize_name(name)
        if key in self._entries:
            return key
        return self._aliases.get(key)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.resolve(name) is not None

    def get(self, name: str) -> Entry:
        """The entry for `name`, or a `RegistryError` with close matches and the known names."""
        key = self.resolve(name) if isinstance(name, str) else None
        if key is None:
            raise self.unknown(name)
        return self._entries[key]

    def unknown(self, name: Any) -> RegistryError:
        known = self.names()
        matches = tuple(difflib.get_close_matches(normalize_name(str(name)),
                                                  known + sorted(self._aliases), n=3, cutoff=0.5))
        hint = f"; did you mean {' or '.join(repr(m) for m in matches)}?" if matches else "."
        return RegistryError(
            f"unknown {self.singular} {name!r}{hint} Known: {', '.join(known) or '(none)'} "
            f"(plugins add more: pipeline plugins)", matches=matches)

    def build(self, spec: str | dict, **extra: Any) -> Any:
        """Build from `name` or `{type: name, **kwargs}` (arguments already validated)."""
        name, kwargs = split_spec(spec)
        return self.get(name).factory(**kwargs, **extra)

    def names(self, pattern: str | None = None) -> list[str]:
        import fnmatch

        names = sorted(self._entries)
        return [n for n in names if fnmatch.fnmatchcase(n, normalize_name(pattern))] if pattern else names

    def entries(self) -> Iterator[Entry]:
        return (self._entries[n] for n in self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self)} entries)"

    # -- isolation for tests ----------------------------------------------------------------------
    def snapshot(self) -> tuple[dict, dict]:
        return dict(self._entries), dict(self._aliases)

    def restore(self, state: tuple[dict, dict]) -> None:
        self._entries, self._aliases = dict(state[0]), dict(state[1])


def split_spec(spec: str | dict) -> tuple[str, dict]:
    """`'relu'` -> ('relu', {}); `{type: l2, factor: 0.1}` -> ('l2', {'factor': 0.1})."""
    if isinstance(spec, str):
        return spec, {}
    if isinstance(spec, dict) and isinstance(spec.get("type"), str):
        kwargs = {k: v for k, v in spec.items() if k != "type"}
        return spec["type"], kwargs
    raise TypeError(f"Expected a name or a mapping with a 'type' key. Received: {spec!r}")
