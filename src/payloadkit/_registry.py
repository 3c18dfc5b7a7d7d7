"""The serializer registry: names, types, plugins, and the choice of a serializer for an object.

Writing a plugin
----------------
A serializer plugin is any installed distribution that declares an entry point in the
group ``payloadkit.serializers``; payloadkit finds it with no import by the user::

    # pyproject.toml of the plugin's distribution
    [project.entry-points."payloadkit.serializers"]
    polars = "payloadkit_polars:PolarsSerializer"

The entry point names a :class:`payloadkit.Serializer` subclass (instantiated with no
arguments) or an instance. Its ``types`` may be classes or dotted names
(``"polars.DataFrame"``); prefer dotted names and import heavy libraries inside methods,
so that discovering the plugin imports nothing heavy. Objects of those types (and their
subclasses, by the most specific class in the MRO) then go to the plugin by default.

Entry points are read once, on the first dispatch or listing. A plugin that fails to
import, or declares a name already taken, is reported by :func:`payloadkit.serializers`
and with a :class:`PluginWarning`; it never breaks payloadkit or other serializers.
``PAYLOADKIT_DISABLE_PLUGINS=name1,name2`` blocks plugins by entry-point or distribution
name; ``PAYLOADKIT_PLUGIN_AUTOLOAD=0`` turns discovery off. Built-in serializers are
registered through this very path. ``payloadkit.testing.SerializerTests`` is the
conformance suite a plugin's own tests subclass.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import sys
import threading
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from payloadkit._serializer import Serializer, qualified_name
from payloadkit._serializers import BUILTIN_SERIALIZERS
from payloadkit.errors import ConfigurationError, UnknownSerializerError

__all__ = [
    "PluginWarning",
    "SerializerInfo",
    "registry",
]

GROUP = "payloadkit.serializers"


class PluginWarning(UserWarning):
    """A serializer plugin could not be loaded or conflicts with another one."""


@dataclass(frozen=True)
class SerializerInfo:
    """One row of :func:`payloadkit.serializers`."""

    name: str
    version: str
    types: tuple[str, ...]
    origin: str  # "builtin", "plugin" or "user"
    distribution: str | None = None
    status: str = "ok"  # "ok", "error" or "disabled"
    error: str | None = None
    runs_code_on_load: bool = False


@dataclass
class _Entry:
    name: str
    origin: str
    distribution: str | None = None
    serializer: Serializer | None = None
    status: str = "ok"
    error: str | None = None

    def info(self) -> SerializerInfo:
        s = self.serializer
        types = tuple(
            t if isinstance(t, str) else qualified_name(t) for t in (s.types if s else ())
        )
        return SerializerInfo(
            self.name,
            s.version if s else "?",
            types,
            self.origin,
            self.distribution,
            self.status,
            self.error,
            bool(s and s.runs_code_on_load),
        )


@dataclass
class _TypeTable:
    """Maps classes to serializer names; dotted names resolve when their module is loaded."""

    by_class: dict[type, str] = field(default_factory=dict)
    pending: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def add(self, key: type | str, name: str) -> None:
        if isinstance(key, type):
            self.by_class[key] = name
        elif isinstance(key, str) and "." in key:
            self.pending.setdefault(key.split(".")[0], []).append((key, name))
        else:
            raise ConfigurationError(
                f"{key!r} is not a class or a dotted class name like 'pandas.DataFrame'."
            )

    def lookup(self, cls: type) -> tuple[str, type] | None:
        for klass in cls.__mro__:
            self._resolve(klass.__module__.split(".")[0])
        for klass in cls.__mro__:
            if klass in self.by_class:
                return self.by_class[klass], klass
        return None

    def _resolve(self, top: str) -> None:
        if top not in self.pending or top not in sys.modules:
            return
        for dotted, name in self.pending.pop(top):
            resolved = _import_dotted(dotted)
            if resolved is not None:
                self.by_class.setdefault(resolved, name)


def _import_dotted(dotted: str) -> type | None:
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            target: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                target = getattr(target, attr)
        except AttributeError:
            return None
        return target if isinstance(target, type) else None
    return None


class Registry:
    """The process-wide set of serializers and the type tables used to choose one."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._entries: dict[str, _Entry] = {}
        self._defaults = _TypeTable()
        self._user = _TypeTable()
        self._cache: dict[type, tuple[str, str] | None] = {}
        self._loaded = False

    # -- registration -------------------------------------------------------------
    def register(
        self,
        serializer: Serializer | type[Serializer],
        types: Iterable[type | str] | None = None,
        *,
        origin: str = "user",
        distribution: str | None = None,
        clobber: bool = False,
    ) -> Serializer:
        """Add a serializer; it becomes the default for ``types`` (or its own ``types``)."""
        instance = serializer() if isinstance(serializer, type) else serializer
        if not isinstance(instance, Serializer) or not instance.name:
            raise ConfigurationError(f"{serializer!r} is not a named payloadkit.Serializer.")
        with self._lock:
            self._ensure_loaded()
            return self._add(instance, types, origin, distribution, clobber)

    def _add(
        self,
        instance: Serializer,
        types: Iterable[type | str] | None,
        origin: str,
        distribution: str | None,
        clobber: bool,
    ) -> Serializer:
        old = self._entries.get(instance.name)
        if old is not None and old.status == "ok" and not clobber:
            raise ConfigurationError(
                f"A serializer named {instance.name!r} is already registered ({old.origin}); "
                "choose another name or pass clobber=True to replace it."
            )
        for key in instance.types if types is None else tuple(types):
            self._defaults.add(key, instance.name)
        self._entries[instance.name] = _Entry(instance.name, origin, distribution, instance)
        self._cache.clear()
        return instance

    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for name, spec in BUILTIN_SERIALIZERS.items():
            self._load_entry_point(name, spec, "payloadkit", "builtin")
        if os.environ.get("PAYLOADKIT_PLUGIN_AUTOLOAD", "1").strip().lower() in (
            "0",
            "false",
            "no",
        ):
            return
        blocked = {
            n.strip()
            for n in os.environ.get("PAYLOADKIT_DISABLE_PLUGINS", "").split(",")
            if n.strip()
        }
        for ep in _entry_points():
            dist = ep.dist.name if ep.dist is not None else None
            if dist == "payloadkit":
                continue
            if ep.name in blocked or (dist is not None and dist in blocked):
                self._entries.setdefault(
                    ep.name, _Entry(ep.name, "plugin", dist, status="disabled")
                )
                continue
            self._load_entry_point(ep.name, ep.value, dist, "plugin")

    def _load_entry_point(self, name: str, spec: str, dist: str | None, origin: str) -> None:
        try:
            obj = importlib.metadata.EntryPoint(name, spec, GROUP).load()
            instance = obj() if isinstance(obj, type) else obj
            if not isinstance(instance, Serializer):
                raise TypeError(f"{spec} is not a payloadkit.Serializer subclass or instance")
            if instance.name != name:
                raise ValueError(
                    f"entry point {name!r} names a serializer called {instance.name!r}"
                )
            self._add(instance, None, origin, dist, clobber=False)
        except Exception as exc:  # a broken plugin must never break payloadkit
            text = f"{type(exc).__name__}: {exc}"
            if name not in self._entries:
                self._entries[name] = _Entry(name, origin, dist, status="error", error=text)
            else:
                self._entries[f"{name} ({dist})"] = _Entry(
                    name, origin, dist, status="error", error=text
                )
            warnings.warn(
                f"payloadkit serializer plugin {name!r} from {dist or 'an unknown distribution'} "
                f"was not loaded: {text}",
                PluginWarning,
                stacklevel=4,
            )

    # -- lookups ------------------------------------------------------------------
    def get(self, name: str) -> Serializer:
        """The serializer registered as ``name``."""
        with self._lock:
            self._ensure_loaded()
            entry = self._entries.get(name)
            if entry is not None and entry.serializer is not None and entry.status == "ok":
                return entry.serializer
            available = sorted(n for n, e in self._entries.items() if e.status == "ok")
            detail = (
                f" (the plugin is {entry.status}: {entry.error or 'blocked by PAYLOADKIT_DISABLE_PLUGINS'})"
                if entry
                else ""
            )
        raise UnknownSerializerError(
            f"No serializer named {name!r}{detail}. Available: {', '.join(available)}. "
            "Plugins may provide more: install the distribution that provides it."
        )

    def distribution_of(self, name: str) -> str | None:
        """The distribution that provides the serializer ``name`` (None for user ones)."""
        with self._lock:
            entry = self._entries.get(name)
            return entry.distribution if entry is not None else None

    def infos(self) -> list[SerializerInfo]:
        """Every registered (or failed, or disabled) serializer, sorted by name."""
        with self._lock:
            self._ensure_loaded()
            return [e.info() for _, e in sorted(self._entries.items())]

    def set_user_choices(self, choices: Mapping[type | str, str]) -> None:
        """Per-type choices from ``configure(serializers=...)``; they beat the defaults."""
        table = _TypeTable()
        for key, name in choices.items():
            if not isinstance(name, str):
                raise ConfigurationError(
                    f"configure(serializers=...) maps types to names; got {name!r}."
                )
            table.add(key, name)
        with self._lock:
            self._user = table
            self._cache.clear()

    def user_choices(self) -> dict[type | str, str]:
        """The per-type choices in force, as given to :meth:`set_user_choices` (for workers)."""
        with self._lock:
            choices: dict[type | str, str] = dict(self._user.by_class.items())
            for entries in self._user.pending.values():
                choices.update(entries)
            return choices

    def default_for(self, cls: type) -> tuple[str, str] | None:
        """``(name, reason)`` from the user's choices, then the registry; None for pickle."""
        with self._lock:
            if cls in self._cache:
                return self._cache[cls]
            self._ensure_loaded()
            found: tuple[str, str] | None = None
            hit = self._user.lookup(cls)
            if hit:
                found = (
                    hit[0],
                    f"configured for {qualified_name(hit[1])} by configure(serializers=...)",
                )
            else:
                hit = self._defaults.lookup(cls)
                if hit:
                    found = (hit[0], f"registered for {qualified_name(hit[1])}")
            self._cache[cls] = found
            return found

    def __iter__(self) -> Iterator[str]:
        return iter([info.name for info in self.infos() if info.status == "ok"])


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    try:
        return list(importlib.metadata.entry_points(group=GROUP))
    except Exception as exc:  # broken metadata on sys.path must not break payloadkit
        warnings.warn(
            f"payloadkit could not read plugin entry points: {exc}", PluginWarning, stacklevel=4
        )
        return []


registry = Registry()
