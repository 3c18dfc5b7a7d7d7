"""The serializer registry: names, types, plugins, and the choice of a serializer for an object.

Writing a serializer plugin
---------------------------
A plugin is an installed distribution that declares an entry point in the group
``payloadkit.serializers``. Once it is installed (``pip install``), payloadkit finds it with
no import and no call by the user::

    # pyproject.toml of the plugin's distribution
    [project.entry-points."payloadkit.serializers"]
    polars = "payloadkit_polars:PolarsSerializer"

The entry point names a `payloadkit.Serializer` subclass (instantiated with no
arguments) or an instance. Its name (``polars`` above) must be the serializer's ``name``:
that name is recorded in every ref the serializer writes, shown by ``payloadkit
serializers``, and used to block the plugin. The serializer's ``types`` may be classes or
dotted names (``"polars.DataFrame"``); prefer dotted names and import heavy libraries
inside the methods, so that discovering the plugin imports nothing heavy. Objects of
those types, and of their subclasses (the most specific class in the MRO wins), then go
to the plugin by default. A serializer with no ``types`` is chosen by name only
(``Payload(obj, serializer="name")``) or per type with ``configure(serializers=...)``.

The minimal serializer implements ``dumps``/``loads``; ``dump_frames`` (zero-copy
buffers), ``dump_file`` (a native writer to a local path, with ``writes_files = True``;
add ``writes_sequentially = True`` when that writer only appends, and the file is
hashed while it is written) and ``load(data, type_name)`` (handed the recorded type)
are used when offered. Set ``runs_code_on_load = True`` if loading can run code
(pickle-like formats), list the distributions whose versions matter in ``libraries``,
override ``warm_up`` to import what the methods import lazily (worker processes call it
as they start), list in ``requires`` the top-level modules it cannot work without (so
``payloadkit serializers`` reports it unavailable, without importing them, where they are
missing), and raise `payloadkit.errors.SerializationError` for objects the
serializer does not take.
A plugin's tests subclass `payloadkit.testing.SerializerTests`.

How plugins are loaded and reported
-----------------------------------
Entry points are read once per process, on the first dispatch or listing, never at
``import payloadkit``. Built-in serializers are loaded through this very path. A plugin
that fails to import, is not a Serializer, or declares a name already taken is skipped:
`payloadkit.serializers` (and ``payloadkit serializers``) lists it with its
distribution, status ``error`` and the error, and a `PluginWarning` says the same;
payloadkit and every other serializer keep working. Loading a payload written by a
serializer that is not available names the distribution recorded in its manifest.

``PAYLOADKIT_DISABLE_PLUGINS=name1,dist2`` blocks plugins by entry-point or distribution
name (listed with status ``disabled``); ``PAYLOADKIT_PLUGIN_AUTOLOAD=0`` turns discovery
off, after which ``pk.register_serializer(PolarsSerializer)`` registers one by hand.

Which serializer wins a type: a user's ``register_serializer`` beats a plugin, which
beats a built-in; between two plugins that claim the same type the first loaded keeps
it and a `PluginWarning` says so; ``configure(serializers=...)`` beats them all.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import itertools
import re
import sys
import threading
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from payloadkit._plugins import (
    DISABLE_VARIABLE,
    PluginWarning,
    autoload_enabled,
    blocked_plugins,
    distribution_of,
    entry_points,
    forget_entry_points,
    is_blocked,
)
from payloadkit._serializer import Serializer, qualified_name
from payloadkit._serializers import BUILTIN_SERIALIZERS
from payloadkit._serializers._optional import BUILTIN_REQUIRES, install_hint, missing_modules
from payloadkit.errors import ConfigurationError, UnknownSerializerError

__all__ = [
    "GROUP",
    "PluginWarning",
    "Registry",
    "SerializerInfo",
    "registry",
]

GROUP = "payloadkit.serializers"

_RANKS = {"builtin": 0, "plugin": 1, "user": 2}
_PROJECT_NAME_RE = re.compile(r"\A[A-Za-z0-9]([A-Za-z0-9._-]{0,98}[A-Za-z0-9])?\Z")


@dataclass(frozen=True)
class SerializerInfo:
    """One row of `payloadkit.serializers`."""

    name: str
    version: str
    types: tuple[str, ...]
    origin: str  # "builtin", "plugin" or "user"
    distribution: str | None = None
    status: str = "ok"  # "ok", "error" or "disabled"
    error: str | None = None
    runs_code_on_load: bool = False
    #: Modules the serializer needs that are not installed here (found without importing).
    missing: tuple[str, ...] = ()
    #: What to install for them, e.g. ``pip install 'payloadkit[dataframe]'``; None if nothing.
    install: str | None = None

    @property
    def available(self) -> bool:
        """True when the serializer is registered and what it needs is installed."""
        return self.status == "ok" and not self.missing


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
        missing = tuple(missing_modules(self.requires())) if s else ()
        return SerializerInfo(
            self.name,
            s.version if s else "?",
            types,
            self.origin,
            self.distribution,
            self.status,
            self.error,
            bool(s and s.runs_code_on_load),
            missing,
            install_hint(missing) if missing else None,
        )

    def requires(self) -> tuple[str, ...]:
        """The modules the serializer needs: a plugin's ``requires`` attribute, if any, or
        the built-in table."""
        declared = getattr(self.serializer, "requires", None)
        if isinstance(declared, tuple | list) and all(isinstance(m, str) for m in declared):
            return tuple(declared)
        return BUILTIN_REQUIRES.get(self.name, ()) if self.origin == "builtin" else ()

    def describe(self) -> str:
        """``"plugin 'x' from dist"`` and the like, for messages."""
        if self.origin == "plugin":
            return f"plugin {self.name!r} from {self.distribution or 'an unknown distribution'}"
        if self.origin == "builtin":
            return f"built-in serializer {self.name!r}"
        return f"serializer {self.name!r} registered with register_serializer"

    def source(self) -> str:
        """Where the serializer comes from, for `payloadkit.explain`."""
        if self.origin == "plugin":
            return f"by the plugin distribution {self.distribution or '(unknown)'}"
        return "built in" if self.origin == "builtin" else "by register_serializer"


class _Claim(NamedTuple):
    """A serializer's claim on a type: higher rank wins; equal ranks by registration order."""

    name: str
    rank: int
    seq: int

    def beats(self, other: _Claim) -> bool:
        if self.rank != other.rank:
            return self.rank > other.rank
        # The user's latest registration wins; otherwise the first loaded keeps the type.
        return self.seq > other.seq if self.rank == _RANKS["user"] else self.seq < other.seq


@dataclass
class _TypeTable:
    """Maps classes to serializer names; dotted names resolve once their module is imported."""

    by_class: dict[type, _Claim] = field(default_factory=dict)
    pending: dict[str, dict[str, _Claim]] = field(default_factory=dict)
    counter: Iterator[int] = field(default_factory=itertools.count)

    @staticmethod
    def check(key: object) -> type | str:
        """``key`` itself when it is a class or a dotted class name, else ConfigurationError."""
        if isinstance(key, type) or (isinstance(key, str) and "." in key.strip(".")):
            return key
        raise ConfigurationError(
            f"{key!r} is not a class or a dotted class name like 'pandas.DataFrame'."
        )

    def add(self, key: type | str, name: str, rank: int) -> str | None:
        """Claim ``key`` for ``name``; returns the name that keeps it when the claim loses."""
        claim = _Claim(name, rank, next(self.counter))
        if isinstance(key, type):
            return self._claim(key, claim)
        claims = self.pending.setdefault(key.split(".")[0], {})
        old = claims.get(key)
        if old is not None and not claim.beats(old):
            return old.name if old.name != name else None
        claims[key] = claim
        return None

    def _claim(self, cls: type, claim: _Claim) -> str | None:
        old = self.by_class.get(cls)
        if old is not None and not claim.beats(old):
            return old.name if old.name != claim.name else None
        self.by_class[cls] = claim
        return None

    def lookup(self, cls: type) -> tuple[str, type] | None:
        """The claim of the most specific class in ``cls``'s MRO, with that class."""
        for klass in cls.__mro__:
            self._resolve(klass.__module__.split(".")[0])
        for klass in cls.__mro__:
            if klass in self.by_class:
                return self.by_class[klass].name, klass
        return None

    def resolve_imported(self) -> list[str]:
        """Resolve the dotted names of every imported module; the names of all claims."""
        for top in [top for top in self.pending if top in sys.modules]:
            self._resolve(top)
        return [claim.name for claim in self.by_class.values()]

    def _resolve(self, top: str) -> None:
        if top not in self.pending or top not in sys.modules:
            return
        for dotted, claim in self.pending.pop(top).items():
            resolved = _import_dotted(dotted)
            if resolved is not None:
                self._claim(resolved, claim)


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


def _instantiate(obj: object, spec: str) -> Serializer:
    if isinstance(obj, type) and issubclass(obj, Serializer):
        return obj()
    if isinstance(obj, Serializer):
        return obj
    raise TypeError(f"{spec} is not a payloadkit.Serializer subclass or instance")


def _types_of(serializer: Serializer, types: Iterable[type | str] | None) -> tuple[type | str, ...]:
    declared: object = serializer.types if types is None else types
    if isinstance(declared, str | type) or not isinstance(declared, Iterable):
        raise ConfigurationError(
            f"The types of serializer {serializer.name!r} must be a tuple of classes or "
            f"dotted names, not {declared!r}."
        )
    return tuple(_TypeTable.check(key) for key in declared)


class Registry:
    """The process-wide set of serializers and the type tables used to choose one."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        """Forget every serializer; discovery runs again on the next dispatch or listing.

        For tests, and for a process that installed a plugin or changed the plugin
        environment variables since. Store plugins are looked up afresh too.
        """
        forget_entry_points()
        with self._lock:
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
        instance = (
            _instantiate(serializer, repr(serializer))
            if isinstance(serializer, type)
            else serializer
        )
        if not isinstance(instance, Serializer) or not instance.name:
            raise ConfigurationError(f"{serializer!r} is not a named payloadkit.Serializer.")
        with self._lock:
            self._ensure_loaded()
            old = self._entries.get(instance.name)
            if old is not None and old.status == "ok" and not clobber:
                raise ConfigurationError(
                    f"A serializer named {instance.name!r} is already registered "
                    f"(the {old.describe()}); choose another name or pass clobber=True to replace it."
                )
            self._add(instance, _types_of(instance, types), origin, distribution)
            return instance

    def _add(
        self,
        instance: Serializer,
        types: tuple[type | str, ...],
        origin: str,
        distribution: str | None,
    ) -> list[str]:
        """Record ``instance`` and its type claims; returns notes on claims it lost."""
        self._entries[instance.name] = _Entry(instance.name, origin, distribution, instance)
        notes = []
        for key in types:
            keeper = self._defaults.add(key, instance.name, _RANKS[origin])
            if keeper is not None:
                notes.append(
                    f"payloadkit serializers {keeper!r} and {instance.name!r} "
                    f"({distribution or origin}) both claim {_key_name(key)}; {keeper!r} "
                    f"keeps it. Choose with pk.configure(serializers={{{_key_name(key)!r}: ...}})."
                )
        self._cache.clear()
        return notes

    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        notes: list[str] = []
        for name, spec in BUILTIN_SERIALIZERS.items():
            self._load(name, spec, "payloadkit", "builtin", notes)
        if autoload_enabled():
            self._discover(notes)
        # Warn only once the registry is complete: a warning turned into an error
        # (python -W error) must not leave the other plugins unloaded.
        for note in notes:
            warnings.warn(note, PluginWarning, stacklevel=4)

    def _discover(self, notes: list[str]) -> None:
        found, error = entry_points(GROUP)
        if error is not None:
            notes.append(f"payloadkit {error}")
        blocked = blocked_plugins()
        for ep in found:
            dist = distribution_of(ep)
            if dist == "payloadkit":
                continue
            if is_blocked(ep, blocked):
                if ep.name not in self._entries:
                    self._entries[ep.name] = _Entry(
                        ep.name,
                        "plugin",
                        dist,
                        status="disabled",
                        error=f"blocked by {DISABLE_VARIABLE}",
                    )
                continue
            self._load(ep.name, ep.value, dist, "plugin", notes)

    def _load(self, name: str, spec: str, dist: str | None, origin: str, notes: list[str]) -> None:
        """Load one entry point; any failure is recorded and noted, never raised."""
        try:
            taken = self._entries.get(name)
            if taken is not None and taken.status == "ok":
                raise ValueError(f"the name {name!r} is already taken by the {taken.describe()}")
            instance = _instantiate(importlib.metadata.EntryPoint(name, spec, GROUP).load(), spec)
            if instance.name != name:
                raise ValueError(
                    f"the entry point {name!r} names a serializer called {instance.name!r}; "
                    "they must be the same"
                )
            types = _types_of(instance, None)
        except Exception as exc:  # a broken plugin must never break payloadkit
            text = f"{type(exc).__name__}: {exc}"
            self._record_failure(name, origin, dist, text)
            notes.append(
                f"payloadkit serializer plugin {name!r} from {dist or 'an unknown distribution'} "
                f"was not loaded: {text}. Fix or uninstall that distribution, or block the "
                f"plugin with {DISABLE_VARIABLE}={name}."
            )
            return
        notes.extend(self._add(instance, types, origin, dist))

    def _record_failure(self, name: str, origin: str, dist: str | None, text: str) -> None:
        # A failed plugin whose name is taken is listed beside the serializer that has it.
        key = name
        if key in self._entries and self._entries[key].status == "ok":
            key = f"{name} ({dist})"
            if key in self._entries:
                key = f"{key} #{len(self._entries)}"
        self._entries[key] = _Entry(name, origin, dist, status="error", error=text)

    # -- lookups ------------------------------------------------------------------
    def get(self, name: str) -> Serializer:
        """The serializer registered as ``name``; UnknownSerializerError says what to do."""
        with self._lock:
            self._ensure_loaded()
            entry = self._entries.get(name)
            if entry is not None and entry.serializer is not None and entry.status == "ok":
                return entry.serializer
            message = self.missing(name)
        raise UnknownSerializerError(message)

    def missing(self, name: str, distribution: str | None = None) -> str:
        """Why ``name`` is not available here and what to do, given the distribution
        recorded for it (in a manifest) if known."""
        with self._lock:
            self._ensure_loaded()
            entry = self._entries.get(name)
            available = ", ".join(sorted(n for n, e in self._entries.items() if e.status == "ok"))
        if entry is not None and entry.status == "disabled":
            return (
                f"The {entry.describe()} is installed but blocked by {DISABLE_VARIABLE}; "
                "remove it from that variable to use it."
            )
        if entry is not None and entry.status == "error":
            return (
                f"The {entry.describe()} is installed but failed to load ({entry.error}); "
                f"fix or reinstall {entry.distribution or 'it'}."
            )
        dist = distribution if distribution and _PROJECT_NAME_RE.match(distribution) else None
        where = (
            f"It is provided by the distribution {dist!r}: install or upgrade it "
            f"(pip install --upgrade {dist})."
            if dist
            else "Check the name. Plugins may provide more serializers: install the one providing it."
        )
        if not autoload_enabled():
            where += " Plugin discovery is off (PAYLOADKIT_PLUGIN_AUTOLOAD=0)."
        return f"No serializer named {name!r} is registered (available: {available}). {where}"

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
            table.add(_TypeTable.check(key), name, _RANKS["user"])
        with self._lock:
            self._user = table
            self._cache.clear()

    def user_choices(self) -> dict[type | str, str]:
        """The per-type choices in force, as given to `set_user_choices` (for workers)."""
        with self._lock:
            choices: dict[type | str, str] = {
                cls: claim.name for cls, claim in self._user.by_class.items()
            }
            for entries in self._user.pending.values():
                choices.update({dotted: claim.name for dotted, claim in entries.items()})
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
                    entry = self._entries.get(hit[0])
                    source = f" ({entry.source()})" if entry is not None else ""
                    found = (hit[0], f"registered for {qualified_name(hit[1])}{source}")
            self._cache[cls] = found
            return found

    def likely(self) -> list[Serializer]:
        """Serializers that objects of this process will probably get, for warming up.

        Those chosen (``configure(serializers=...)``) or registered for types whose module
        is already imported, then pickle and cloudpickle, the fallbacks for everything else.
        """
        with self._lock:
            self._ensure_loaded()
            names = [*self._user.resolve_imported(), *self._defaults.resolve_imported()]
            found = []
            for name in dict.fromkeys([*names, "pickle", "cloudpickle"]):
                entry = self._entries.get(name)
                if entry is not None and entry.serializer is not None and entry.status == "ok":
                    found.append(entry.serializer)
            return found

    def __iter__(self) -> Iterator[str]:
        return iter([info.name for info in self.infos() if info.status == "ok"])


def _key_name(key: type | str) -> str:
    return key if isinstance(key, str) else qualified_name(key)


registry = Registry()
