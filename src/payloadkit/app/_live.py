"""Live state: what a running call sets on its Work reaches the Flow while the call runs.

Where a Work runs, its host installs a `Publisher` for the length of each call.
Setting a public attribute marks it; marked attributes are encoded (payloads saved to the
App's store first, so only refs travel) and sent as one
`StateUpdate` at most every `INTERVAL` seconds, the
first one at once. The call's Outcome still carries the whole state, so an update lost
or dropped late changes nothing in the end.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

from payloadkit.app._protocol import StateUpdate
from payloadkit.app._state import NOT_STATE, encode_value, taking_files
from payloadkit.stores import Store

__all__ = ["INTERVAL", "Publisher"]

#: The shortest time between two updates of one call, in seconds.
INTERVAL = 0.1


class Publisher:
    """Sends the public attributes one call sets, throttled to one update per INTERVAL."""

    def __init__(
        self, work: object, seq: int, store: Store, send: Callable[[StateUpdate], None]
    ) -> None:
        self._work, self._seq, self._store, self._send = work, seq, store, send
        self._dirty: set[str] = set()
        self._last = 0.0
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._closed = False

    def __call__(self, name: str) -> None:
        """Note that attribute ``name`` changed; send now or when the interval is over."""
        with self._lock:
            if self._closed:
                return
            self._dirty.add(name)
            wait = self._last + INTERVAL - time.monotonic()
            if wait > 0:
                if self._timer is None:
                    self._timer = threading.Timer(wait, self._flush)
                    self._timer.daemon = True
                    self._timer.start()
                return
        self._flush()

    def _flush(self) -> None:
        with self._lock:
            names, self._dirty = self._dirty, set()
            self._timer = None
            self._last = time.monotonic()
            if self._closed or not names:
                return
        with taking_files():
            state = _encoded(self._work, names, self._store)
        if state:
            self._send(StateUpdate(self._seq, state))

    def close(self) -> None:
        """The call ended: send what is still unsent (before the call's Outcome), then
        nothing more. A failed call's Outcome carries no state, so this last update is
        how what it set before failing reaches the Flow."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            dirty = bool(self._dirty)
        if dirty:
            with contextlib.suppress(Exception):  # the Outcome still says how it ended
                self._flush()
        with self._lock:
            self._closed = True


def _encoded(work: object, names: set[str], store: Store) -> dict[str, Any]:
    """The named attributes that encode; one that cannot waits for the call's Outcome."""
    attributes = vars(work)
    state: dict[str, Any] = {}
    for name in sorted(names):
        if name not in attributes:
            continue
        try:
            encoded = encode_value(attributes[name], store)
        except Exception:  # the Outcome reports what cannot be carried
            continue
        if encoded is not NOT_STATE:
            state[name] = encoded
    return state
