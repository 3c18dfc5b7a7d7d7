"""Stores: where payloads live. `open_store` opens one from a URL.

A plain path (or ``file://``) is a local directory; ``memory://`` is this process's
memory; any other fsspec protocol (``s3://``, ``gs://``, ``sftp://``, ...) goes through
fsspec with the given storage options.

A chained fsspec URL (``dir::s3://bucket/prefix``) opens through fsspec as fsspec opens
it; chains with a caching layer (``simplecache::``, ``filecache::``, ``blockcache::``) are
refused: payloadkit keeps its own verified cache of remote payloads.

Store plugins: a distribution provides a store for a URL scheme that fsspec does not
cover, or replaces the fsspec-backed one for a scheme, with an entry point in the group
``payloadkit.stores`` named after the scheme::

    [project.entry-points."payloadkit.stores"]
    lakefs = "payloadkit_lakefs:LakeFSBackend"

The entry point is a callable (a `Backend` subclass, or a function) called as
``factory(url, **storage_options)`` that returns a `Backend`; payloadkit builds the
`Store` on it, so the plugin's store has every guarantee of the built-in ones (a
factory that returns a whole `Store` is accepted too). It is loaded when a store of
that scheme is first opened. Local directories are always `LocalStore`.
A plugin that fails to load is reported with a `payloadkit.PluginWarning` and
fsspec's implementation is used; errors the plugin raises while opening become
`StoreError` (without the storage options' values). The plugin environment
variables (``PAYLOADKIT_DISABLE_PLUGINS``, ``PAYLOADKIT_PLUGIN_AUTOLOAD``) apply.
A store plugin's tests subclass `payloadkit.testing.BackendTests` and
`payloadkit.testing.StoreTests`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

from payloadkit._config import load_policy
from payloadkit._plugins import (
    PluginWarning,
    autoload_enabled,
    blocked_plugins,
    distribution_of,
    entry_points,
    is_blocked,
)
from payloadkit._urls import is_chained, is_local, normalize_url, protocol_of
from payloadkit.errors import ConfigurationError, PayloadkitError, StoreError
from payloadkit.stores._backend import (
    Backend,
    IncompleteUploads,
    KeyInfo,
    PendingWrite,
    StartsWrites,
)
from payloadkit.stores._base import Store
from payloadkit.stores._fsspec import FsspecBackend, FsspecStore, protocols_of
from payloadkit.stores._local import LocalBackend, LocalStore
from payloadkit.stores._marker import StoreMarker
from payloadkit.stores._policy import LoadPolicy
from payloadkit.stores._s3 import S3Backend, S3Store

__all__ = [
    "Backend",
    "FsspecBackend",
    "FsspecStore",
    "IncompleteUploads",
    "KeyInfo",
    "LoadPolicy",
    "LocalBackend",
    "LocalStore",
    "PendingWrite",
    "S3Backend",
    "S3Store",
    "StartsWrites",
    "Store",
    "StoreMarker",
    "open_store",
]

#: Chain layers that cache reads in a local copy fsspec keeps: payloadkit has its own.
_CACHING_LAYERS = frozenset({"simplecache", "filecache", "blockcache", "cached"})

STORE_GROUP = "payloadkit.stores"


def open_store(url: str | os.PathLike[str], **storage_options: Any) -> Store:
    """Open the store at ``url``; keyword arguments are fsspec storage options.

    ``trusted_serializers=[...]`` fixes the store's load policy: only those serializers
    may load from it (see `LoadPolicy`). Opening reads and writes nothing: the
    location becomes a store at its first save.

    ```python
    import payloadkit as pk

    store = pk.open_store("memory://open-store-doc")
    assert store.get(store.put("hello")) == "hello"
    ```
    """
    normalized = normalize_url(url)
    trusted = storage_options.pop("trusted_serializers", None)
    policy = load_policy(trusted) if trusted is not None else None
    protocol = protocol_of(normalized)
    plugin, failure = (
        _store_plugin(protocol) if protocol and not is_chained(normalized) else (None, None)
    )
    if plugin is not None:
        store = _open_with_plugin(plugin, normalized, storage_options)
        store.trusted_serializers = policy
        return store
    if is_local(normalized):
        if storage_options:
            raise ConfigurationError(
                f"A local directory store takes no storage options (got {', '.join(sorted(storage_options))})."
            )
        return LocalStore(normalized, trusted_serializers=policy)
    _refuse_caching_layers(normalized)
    try:
        fs, root = _filesystem(normalized, storage_options)
    except ConfigurationError as exc:
        if failure is None:
            raise
        raise ConfigurationError(f"{exc} The store plugin for {protocol}:// {failure}.") from None
    if _S3_PROTOCOLS.intersection(protocols_of(fs)):
        return S3Store(fs, root, normalized, trusted_serializers=policy)
    return FsspecStore(fs, root, normalized, trusted_serializers=policy)


_S3_PROTOCOLS = frozenset({"s3", "s3a"})


def _refuse_caching_layers(url: str) -> None:
    layers = {part.split("://", 1)[0].lower() for part in url.split("::")[:-1]}
    caching = sorted(layers & _CACHING_LAYERS)
    if caching:
        inner = url.split("::")[-1]
        raise ConfigurationError(
            f"The store URL {url} puts fsspec's {caching[0]}:: layer in front of the store; "
            "payloadkit does not use it, because it keeps its own verified cache of remote "
            f"payloads (PAYLOADKIT_CACHE says where). Open {inner} instead."
        )


def _filesystem(url: str, options: dict[str, Any]) -> tuple[Any, str]:
    import fsspec.core

    protocol = protocol_of(url)
    if not all(isinstance(name, str) for name in options):
        raise ConfigurationError("Storage option names must be strings.")
    try:
        fs, root = fsspec.core.url_to_fs(url, **options)
    except ImportError as exc:
        raise ConfigurationError(
            f"Opening a {protocol}:// store needs a package that is not installed: {exc} "
            f"(for S3: pip install 'payloadkit[s3]')."
        ) from None
    except ValueError as exc:
        raise ConfigurationError(f"Cannot open a store at {url}: {exc}") from None
    except (TypeError, OSError) as exc:
        raise StoreError(
            f"Cannot open a store at {url}: {type(exc).__name__}: {exc}", store=url
        ) from None
    return fs, root


class _StorePlugin(NamedTuple):
    name: str
    distribution: str | None
    factory: Callable[..., Any]


def _store_plugin(protocol: str) -> tuple[_StorePlugin | None, str | None]:
    """The store plugin for ``protocol`` (loaded now), or None and why a declared one failed."""
    if not autoload_enabled():
        return None, None
    found, error = entry_points(STORE_GROUP)
    if error is not None:
        warnings.warn(f"payloadkit {error}", PluginWarning, stacklevel=3)
    blocked = blocked_plugins()
    candidates = [ep for ep in found if ep.name.lower() == protocol and not is_blocked(ep, blocked)]
    if len(candidates) > 1:
        names = ", ".join(str(distribution_of(ep)) for ep in candidates)
        warnings.warn(
            f"Several distributions provide a payloadkit store for {protocol}://: {names}. "
            f"Using {distribution_of(candidates[0])}; block the others with "
            "PAYLOADKIT_DISABLE_PLUGINS.",
            PluginWarning,
            stacklevel=3,
        )
    for ep in candidates[:1]:
        dist = distribution_of(ep)
        try:
            factory = ep.load()
            if not callable(factory):
                raise TypeError(f"{ep.value} is not callable")
        except Exception as exc:  # a broken plugin must never break other stores
            failure = f"from {dist} was not loaded: {type(exc).__name__}: {exc}"
            warnings.warn(
                f"payloadkit store plugin {ep.name!r} {failure}; using fsspec's implementation. "
                f"Fix or uninstall {dist}, or block it with PAYLOADKIT_DISABLE_PLUGINS={ep.name}.",
                PluginWarning,
                stacklevel=3,
            )
            return None, failure
        return _StorePlugin(ep.name, dist, factory), None
    return None, None


def _open_with_plugin(plugin: _StorePlugin, url: str, options: dict[str, Any]) -> Store:
    """Call a store plugin; its failures become payloadkit errors without the options' values."""
    where = f"The store plugin {plugin.name!r} from {plugin.distribution}"
    try:
        store = plugin.factory(url, **options)
    except PayloadkitError:
        raise
    except Exception as exc:
        reason = _redact(f"{type(exc).__name__}: {exc}", options)
        raise StoreError(
            f"{where} could not open {url}: {reason}. Check the URL and storage options, "
            "or the plugin's documentation.",
            store=url,
        ) from None
    if isinstance(store, Backend):
        return Store(store)
    if not isinstance(store, Store):
        raise ConfigurationError(
            f"{where} returned {type(store).__name__} for {url}, not a payloadkit Backend or "
            "Store; report this to the plugin's authors."
        )
    return store


def _redact(text: str, options: dict[str, Any]) -> str:
    """``text`` without the values of storage options (they may be credentials)."""
    for value in options.values():
        if isinstance(value, str | bytes) and len(value) >= 4:
            shown = value.decode(errors="replace") if isinstance(value, bytes) else value
            text = text.replace(shown, "***")
    return text
