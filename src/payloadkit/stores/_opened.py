"""The stores this process has opened, by URL, so that refs pointing at a URL find one store.

Each store is opened once with the options configured for its URL; a call to
`payloadkit.configure` makes the next lookup open stores anew.
"""

from __future__ import annotations

import threading

from payloadkit._config import generation, settings
from payloadkit._urls import normalize_url
from payloadkit.stores import Store, open_store

__all__ = ["default_store", "forget_stores", "remember_store", "store_for_url"]

_lock = threading.RLock()
_stores: dict[str, Store] = {}
_seen_generation = -1


def _current() -> dict[str, Store]:
    global _seen_generation
    if _seen_generation != generation():
        _stores.clear()
        _seen_generation = generation()
    return _stores


def store_for_url(url: str) -> Store:
    """The store at ``url``, opened once per process with the options configured for it."""
    key = normalize_url(url)
    with _lock:
        stores = _current()
        store = stores.get(key)
        if store is None:
            store = stores[key] = open_store(key, **settings().options_for(key))
        return store


def remember_store(store: Store) -> None:
    """Let refs that point at ``store``'s URL resolve to this very store object in this process."""
    with _lock:
        _current().setdefault(normalize_url(store.url), store)


def default_store() -> Store:
    """The configured default store (``.payloadkit/`` in the working directory unless set)."""
    return store_for_url(settings().storage)


def forget_stores() -> None:
    """Drop cached store objects (after a fork, or in tests)."""
    with _lock:
        _stores.clear()
