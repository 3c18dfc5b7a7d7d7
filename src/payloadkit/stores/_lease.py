"""Leases: how a running garbage collection tells writers it is there.

A collection writes ``gc/<id>.json`` before it looks at anything and renews it while it
runs; it stops deleting the moment it cannot renew in time. A writer that refreshes the
manifest of an old payload (the one case where a collection may have judged the payload
before the writer saved it) lists the leases *after* its write, waits for those it saw to
end, and then checks that its payload is whole. Either the collection started after the
write (and sees a fresh manifest), or the writer sees the lease: no interleaving of the
two loses the payload.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from payloadkit._layout import GC_PREFIX, gc_lease_key, parse_key
from payloadkit.errors import StoreError
from payloadkit.stores._backend import Backend

__all__ = ["LEASE_FOR", "GcLease", "active_leases", "wait_for_leases"]

#: How long a lease lasts unless renewed; a collection renews it every RENEW_EVERY.
LEASE_FOR = timedelta(seconds=60)
RENEW_EVERY = 10.0
#: A collection that could not renew for this long stops before its next deletion.
_SAFE_FOR = LEASE_FOR.total_seconds() / 2
_MAX_LEASE_BYTES = 4096


@dataclass(frozen=True)
class Lease:
    """One collection's lease: who holds it and until when."""

    id: str
    expires: datetime


def active_leases(backend: Backend, now: datetime | None = None) -> list[Lease]:
    """The unexpired leases in the store (a damaged one counts until its key is a lease old)."""
    moment = now or datetime.now(UTC)
    found = []
    for info in backend.list(GC_PREFIX):
        parsed = parse_key(info.key)
        if parsed is None or parsed.kind != "gc-lease":
            continue
        lease = _read_lease(backend, info.key, info.modified or moment)
        if lease is not None and lease.expires > moment:
            found.append(lease)
    return found


def _read_lease(backend: Backend, key: str, modified: datetime) -> Lease | None:
    lease_id = key[len(GC_PREFIX) : -len(".json")]
    try:
        data = json.loads(backend.read(key, _MAX_LEASE_BYTES))
        expires = datetime.fromisoformat(str(data["expires"]))
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        expires = modified + LEASE_FOR
    return Lease(lease_id, min(expires, modified + 10 * LEASE_FOR))


def wait_for_leases(backend: Backend, leases: list[Lease]) -> None:
    """Return once none of ``leases`` is held any more (released, or expired unrenewed)."""
    waiting = {lease.id for lease in leases}
    pause = 0.05
    while waiting:
        time.sleep(pause)
        pause = min(pause * 2, 1.0)
        waiting &= {lease.id for lease in active_leases(backend)}


class GcLease:
    """The lease a collection holds while it runs (a context manager)."""

    def __init__(self, backend: Backend, url: str) -> None:
        self.backend = backend
        self.url = url
        self.id = secrets.token_hex(16)
        self._renewed = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew_loop, name="payloadkit-gc-lease")
        self._thread.daemon = True

    def __enter__(self) -> GcLease:
        self._write()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        with contextlib.suppress(OSError):
            self.backend.delete(gc_lease_key(self.id))

    def check(self) -> None:
        """Raise StoreError unless the lease was renewed recently enough to delete safely."""
        if time.monotonic() - self._renewed > _SAFE_FOR:
            raise StoreError(
                f"Garbage collection on {self.url} stopped: it could not renew its lease "
                f"(gc/{self.id}.json) in time, so writers may no longer see it. Nothing was "
                "deleted after that; run it again.",
                store=self.url,
            )

    def _write(self) -> None:
        now = datetime.now(UTC)
        record = {
            "kind": "payloadkit.gc",
            "id": self.id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "renewed": now.isoformat(),
            "expires": (now + LEASE_FOR).isoformat(),
        }
        started = time.monotonic()
        self.backend.write(gc_lease_key(self.id), json.dumps(record).encode())
        self._renewed = started

    def _renew_loop(self) -> None:
        while not self._stop.wait(RENEW_EVERY):
            with contextlib.suppress(
                Exception
            ):  # check() stops the collection if this keeps failing
                self._write()


def lease_keys(backend: Backend) -> Iterator[str]:
    """Keys of every lease file, expired or not (for verify and gc)."""
    for info in backend.list(GC_PREFIX):
        parsed = parse_key(info.key)
        if parsed is not None and parsed.kind == "gc-lease":
            yield info.key
