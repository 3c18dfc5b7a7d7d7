"""The payload list: one listing of the manifests' keys, and only the shown manifests read.

Keys sort by digest, so a page in digest order (``?page=N`` or ``?after=DIGEST``) and a
digest-prefix search need nothing but the listing; only the manifests of the rows shown
are read. Searching by type reads manifests in digest order until the page is full, and
sorting by type, size or creation time reads them all. Parsed manifests are kept by key,
size and modification time, so a manifest rewritten in place is read again.

The listing is kept for a few seconds; an older one is still served while a fresh one is
taken in the background, so a store of 100,000 payloads pages without listing it each time.
"""

from __future__ import annotations

import bisect
import contextlib
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from payloadkit._layout import digest_of_manifest, digest_prefix, manifest_key_names
from payloadkit._manifest import MAX_MANIFEST_BYTES, Manifest
from payloadkit.errors import IntegrityError, PayloadkitError
from payloadkit.stores import Store

__all__ = ["SORTS", "ManifestIndex", "Page", "Row"]

#: How the list can be sorted; everything but digest order reads every manifest.
SORTS = ("digest", "type", "serializer", "size", "created")
_CACHED_MANIFESTS = 200_000


@dataclass(frozen=True)
class Row:
    """One payload of the list (``manifest`` is None when it could not be read)."""

    key: str
    digest: str
    manifest: Manifest | None
    problem: str | None = None


@dataclass
class Page:
    """One page of rows and what is needed to link to the others."""

    rows: list[Row]
    total: int
    page: int
    pages: int
    next_after: str | None
    listed_at: float
    #: How many payloads matched the search (None without one).
    matched: int | None = None


@dataclass(frozen=True)
class _Listing:
    entries: list[str]  # manifest keys, sorted (so in digest order)
    taken: float


class ManifestIndex:
    """Pages over the payloads of ``store`` (see the module docstring)."""

    def __init__(self, store: Store, *, max_age: float = 5.0) -> None:
        self.store = store
        self.max_age = max_age
        self._listing: _Listing | None = None
        self._lock = threading.Lock()
        self._refreshing = False
        self._first = threading.Event()
        self._manifests: OrderedDict[tuple[str, int, Any], Manifest] = OrderedDict()

    # -- the listing ------------------------------------------------------------------
    def listing(self) -> _Listing:
        """The current listing: taken now if there is none, else refreshed in the background.

        A request arriving while the first listing is being taken waits for it.
        """
        current = self._listing
        if current is None and self._refreshing:
            self._first.wait(600)
            current = self._listing
        if current is None:
            return self.refresh()
        if time.monotonic() - current.taken > self.max_age:
            self._refresh_in_background()
        return current

    def refresh(self) -> _Listing:
        """List the manifests' keys once (one backend listing) and keep the result."""
        # Keys only (no size or time of each file), parsed in one pass: the rows shown stat
        # their own manifests.
        entries = manifest_key_names(list(self.store.backend.list_keys("manifests/")))
        entries.sort()
        listing = _Listing(entries, time.monotonic())
        self._listing = listing
        self._first.set()
        return listing

    def warm(self) -> None:
        """Take the first listing in the background (the UI starts it when it starts)."""
        self._refresh_in_background()

    def _refresh_in_background(self) -> None:
        with self._lock:
            if self._refreshing:
                return
            self._refreshing = True
        threading.Thread(target=self._background_refresh, daemon=True).start()

    def _background_refresh(self) -> None:
        try:
            self.refresh()
        except (PayloadkitError, OSError):
            pass  # the next request lists again, and reports the failure itself
        finally:
            self._refreshing = False
            self._first.set()

    # -- manifests --------------------------------------------------------------------
    def row(self, digest: str, key: str) -> Row:
        """The row of one manifest key, reading (or reusing) its manifest."""
        try:
            info = self.store.backend.stat(key)  # a manifest saved again is read again
        except FileNotFoundError:
            return Row(key, digest, None, "deleted while listing")
        except OSError as exc:
            return Row(key, digest, None, str(exc)[:300])
        slot = (key, info.size, info.modified)
        cached = self._manifests.get(slot)
        if cached is not None:
            return Row(key, digest, cached)
        try:
            raw = self.store.backend.read(key, MAX_MANIFEST_BYTES)
            manifest = Manifest.parse(raw, self.store.url, digest, key)
        except FileNotFoundError:
            return Row(key, digest, None, "deleted while listing")
        except (IntegrityError, OSError, PayloadkitError) as exc:
            return Row(key, digest, None, str(exc)[:300])
        self._manifests[slot] = manifest
        while len(self._manifests) > _CACHED_MANIFESTS:
            self._manifests.popitem(last=False)
        return Row(key, digest, manifest)

    def _rows(self, keys: list[str]) -> Iterator[Row]:
        for key in keys:
            yield self.row(digest_of_manifest(key), key)

    # -- queries ----------------------------------------------------------------------
    def page(
        self,
        *,
        query: str = "",
        sort: str = "digest",
        descending: bool = False,
        page: int = 1,
        after: str | None = None,
        size: int = 50,
    ) -> Page:
        """One page of payloads whose digest starts with ``query`` or whose type contains it.

        ``after`` (the ``next_after`` of the page before, or a digest) continues after that
        row; otherwise ``page`` counts from 1.
        """
        listing = self.listing()
        query = query.strip()
        if sort == "digest" and not _is_type_query(query, listing.entries):
            entries = listing.entries
            if query:
                entries = [k for k in entries if _digest_matches(digest_of_manifest(k), query)]
            if descending:
                entries = entries[::-1]
            start = _start(page, after, entries, size, descending)
            rows = list(self._rows(entries[start : start + size]))
            return _page(rows, listing, start, size, len(entries), bool(query))
        every = [r for r in self._rows(listing.entries) if _matches(r, query)]
        if sort != "digest":
            every.sort(key=lambda r: _sort_key(r, sort), reverse=descending)
        elif descending:
            every.reverse()
        start = _start(page, after, [r.key for r in every], size, descending, ordered=False)
        return _page(every[start : start + size], listing, start, size, len(every), bool(query))


def _page(
    rows: list[Row], listing: _Listing, start: int, size: int, count: int, found: bool
) -> Page:
    more = start + size < count
    return Page(
        rows,
        total=len(listing.entries),
        page=start // size + 1,
        pages=max(1, (count + size - 1) // size),
        next_after=rows[-1].key if more and rows else None,
        listed_at=listing.taken,
        matched=count if found else None,
    )


def _start(
    page: int, after: str | None, keys: list[str], size: int, descending: bool, ordered: bool = True
) -> int:
    """Where a page starts: just past the row ``after`` names (a key or a digest), else page N."""
    if not after:
        return max(0, page - 1) * size
    with contextlib.suppress(ValueError):
        return keys.index(after) + 1
    if not ordered:
        return 0
    with contextlib.suppress(PayloadkitError):
        after = digest_prefix(after) + "\uffff"  # a digest: past all of its manifests
    position = bisect.bisect_right(keys, after) if not descending else 0
    if descending:
        position = next((i for i, k in enumerate(keys) if k < after), len(keys))
    return position


def _digest_matches(digest: str, prefix: str) -> bool:
    if not prefix:
        return True
    prefix = prefix.lower()
    return digest.startswith(prefix) or digest.partition(":")[2].startswith(prefix)


def _is_type_query(query: str, keys: list[str]) -> bool:
    """True when ``query`` is text to find in type names rather than a digest prefix."""
    if not query:
        return False
    return not any(_digest_matches(digest_of_manifest(k), query) for k in keys)


def _matches(row: Row, query: str) -> bool:
    if not query or _digest_matches(row.digest, query):
        return True
    return row.manifest is not None and query.lower() in row.manifest.ref.type.lower()


def _sort_key(row: Row, sort: str) -> tuple[Any, ...]:
    manifest = row.manifest
    if manifest is None:
        return (1, "", row.key)
    value: Any = {
        "type": manifest.ref.type,
        "serializer": manifest.ref.serializer,
        "size": manifest.ref.size,
        "created": manifest.created,
    }[sort]
    return (0, value, row.key)
