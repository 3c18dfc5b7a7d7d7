"""Stores: where payloads live. :func:`open_store` opens one from a URL.

A plain path (or ``file://``) is a local directory; ``memory://`` is this process's
memory; any other fsspec protocol (``s3://``, ``gs://``, ``sftp://``, ...) goes through
fsspec with the given storage options. A distribution can provide a store for a scheme
through the ``payloadkit.stores`` entry-point group (a callable taking the URL and the
storage options and returning a :class:`Store`), which then takes precedence.
"""

from __future__ import annotations

import importlib.metadata
import os
import warnings
from typing import Any

from payloadkit._urls import is_local, normalize_url, protocol_of
from payloadkit.errors import ConfigurationError, StoreError
from payloadkit.stores._base import Store
from payloadkit.stores._fsspec import FsspecStore
from payloadkit.stores._local import LocalStore

__all__ = ["FsspecStore", "LocalStore", "Store", "open_store"]

STORE_GROUP = "payloadkit.stores"


def open_store(url: str | os.PathLike[str], **storage_options: Any) -> Store:
    """Open the store at ``url``; keyword arguments are fsspec storage options.

    ```python
    import payloadkit as pk

    store = pk.open_store("memory://open-store-doc")
    assert store.get(store.put("hello")) == "hello"
    ```
    """
    normalized = normalize_url(url)
    trusted = storage_options.pop("trusted_serializers", None)
    kwargs: dict[str, Any] = {
        "trusted_serializers": frozenset(trusted) if trusted is not None else None
    }
    protocol = protocol_of(normalized)
    plugin = _store_plugin(protocol) if protocol else None
    if plugin is not None:
        store = plugin(normalized, **storage_options)
        if not isinstance(store, Store):
            raise ConfigurationError(
                f"The store plugin for {protocol}:// did not return a payloadkit Store."
            )
        store.trusted_serializers = kwargs["trusted_serializers"]
        return store
    if is_local(normalized):
        if storage_options:
            raise ConfigurationError(
                f"A local directory store takes no storage options (got {', '.join(sorted(storage_options))})."
            )
        return LocalStore(normalized, **kwargs)
    return FsspecStore(*_filesystem(normalized, storage_options), normalized, **kwargs)


def _filesystem(url: str, options: dict[str, Any]) -> tuple[Any, str]:
    import fsspec.core

    protocol = protocol_of(url)
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


def _store_plugin(protocol: str) -> Any:
    if os.environ.get("PAYLOADKIT_PLUGIN_AUTOLOAD", "1").strip().lower() in ("0", "false", "no"):
        return None
    blocked = {
        n.strip() for n in os.environ.get("PAYLOADKIT_DISABLE_PLUGINS", "").split(",") if n.strip()
    }
    for ep in importlib.metadata.entry_points(group=STORE_GROUP):
        dist = ep.dist.name if ep.dist is not None else None
        if ep.name != protocol or ep.name in blocked or dist in blocked:
            continue
        try:
            return ep.load()
        except Exception as exc:  # a broken plugin must never break other stores
            warnings.warn(
                f"payloadkit store plugin {ep.name!r} from {dist} was not loaded: {exc}; "
                "using fsspec's implementation",
                UserWarning,
                stacklevel=3,
            )
    return None
