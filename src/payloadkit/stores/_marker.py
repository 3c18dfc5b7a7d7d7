"""The store marker, ``payloadkit-store.json``: what makes a directory or prefix a store.

The first write into an empty location creates it (format, creation time, grace period).
A location without it is not a store unless it holds what payloadkit 0.1.0 wrote (its
manifests or records), which is read as a store of format 1 and upgraded by the first
write. Anywhere else, payloadkit reads nothing and writes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from payloadkit._layout import FORMAT, MARKER_KEY, parse_key
from payloadkit.errors import NotAStoreError, StoreError
from payloadkit.stores._backend import Backend

__all__ = ["DEFAULT_GRACE", "StoreMarker", "create_marker", "read_marker"]

#: Garbage collection never removes a payload saved (or saved again) this recently; saving
#: a payload whose manifest is older than half of it rewrites the manifest.
DEFAULT_GRACE = timedelta(minutes=10)
_MAX_MARKER_BYTES = 64 * 1024


@dataclass(frozen=True)
class StoreMarker:
    """What the marker says: the on-store ``format``, when the store was created, its
    ``grace`` period, and whether manifests of format 1 (0.1.0) may be present. A store
    whose marker is not written yet (0.1.0's, or one whose marker was lost) has no
    ``created`` time."""

    format: int
    created: str
    grace: timedelta = DEFAULT_GRACE
    legacy: bool = False

    @property
    def refresh_after(self) -> timedelta:
        """A save of a payload whose manifest is older than this rewrites the manifest.

        Four tenths of the grace, not half: a save that writes nothing still protects its
        payload for half the grace after it returns, with a tenth of the grace to spare
        for the time between its look at the manifest and its return.
        """
        return self.grace * 0.4

    def to_bytes(self) -> bytes:
        """The marker as JSON."""
        data: dict[str, Any] = {
            "kind": "payloadkit.store",
            "format": self.format,
            "created": self.created,
            "grace_seconds": self.grace.total_seconds(),
            "legacy_manifests": self.legacy,
        }
        return json.dumps(data, sort_keys=True).encode()


def read_marker(backend: Backend, url: str) -> StoreMarker | None:
    """The marker, None when there is none; a damaged or newer one raises StoreError."""
    try:
        raw = backend.read(MARKER_KEY, _MAX_MARKER_BYTES)
    except FileNotFoundError:
        return None
    return _parse(raw, url)


def _parse(raw: bytes, url: str) -> StoreMarker:
    try:
        data = json.loads(raw)
        version, created = data["format"], data["created"]
        grace = timedelta(seconds=float(data.get("grace_seconds", DEFAULT_GRACE.total_seconds())))
        if data.get("kind") != "payloadkit.store" or not isinstance(version, int):
            raise ValueError("not a payloadkit store marker")
        if not isinstance(created, str) or grace <= timedelta(0):
            raise ValueError("bad created or grace_seconds field")
        legacy = bool(data.get("legacy_manifests", False))
    except (ValueError, KeyError, TypeError, RecursionError, OverflowError) as exc:
        raise StoreError(
            f"The store marker {MARKER_KEY} of {url} is damaged ({exc}). Restore it from a "
            "backup, or move it aside and run `payloadkit verify` on the store.",
            store=url,
        ) from None
    if version > FORMAT:
        raise StoreError(
            f"{url} is a payloadkit store of format {version}, written by a newer payloadkit; "
            f"this one reads formats up to {FORMAT}. Upgrade payloadkit.",
            store=url,
        )
    return StoreMarker(version, created, grace, legacy)


def create_marker(backend: Backend, url: str, grace: timedelta | None = None) -> StoreMarker:
    """Make the location a store: write the marker, if the location may become one.

    An empty location, or one holding only what payloadkit writes (a 0.1.0 store), may;
    anything else raises `NotAStoreError` and nothing is written.
    """
    legacy = False
    for info in backend.list(""):
        parsed = parse_key(info.key)
        if parsed is None:
            raise not_a_store(url, writing=True)
        if parsed.kind == "legacy-manifest":
            legacy = True
    created = datetime.now(UTC).isoformat(timespec="seconds")
    marker = StoreMarker(FORMAT, created, grace or DEFAULT_GRACE, legacy)
    backend.write(MARKER_KEY, marker.to_bytes())
    return marker


def unmarked_store(backend: Backend) -> StoreMarker | None:
    """The marker a location without one stands for, when it holds payloadkit's manifests or
    records: format 1 (payloadkit 0.1.0) or, when only newer manifests are there, format 2
    with its marker lost. None when it holds neither."""
    newer = False
    for info in backend.list("manifests/"):
        parsed = parse_key(info.key)
        if parsed is not None and parsed.kind == "legacy-manifest":
            return StoreMarker(1, "", legacy=True)
        newer = newer or (parsed is not None and parsed.kind == "manifest")
    if newer:
        return StoreMarker(FORMAT, "")
    for info in backend.list("records/"):
        parsed = parse_key(info.key)
        if parsed is not None and parsed.kind == "record":
            return StoreMarker(1, "", legacy=True)
    return None


def not_a_store(url: str, *, writing: bool = False) -> NotAStoreError:
    """The error for a location that is not a payloadkit store."""
    if writing:
        what = (
            f"{url} holds files that are not a payloadkit store; payloadkit writes only into "
            "an empty or new location, or an existing store. Choose another directory or prefix."
        )
    else:
        what = (
            f"{url} is not a payloadkit store (it has no {MARKER_KEY}); nothing was read or "
            "changed. Check the location; a store is created by the first save into an "
            "empty or new one."
        )
    return NotAStoreError(what, store=url)
