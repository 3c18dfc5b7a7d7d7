"""Named payloads with history: a tag is an append-only log of changes, one key each.

A change is written once and never overwritten (`payloadkit._layout.tag_entry_key`),
so no update can be lost on a store without conditional writes (S3). Each change names the
change it was based on (its *parent*). After writing, its writer lists the tag again:

* when no other live change has the same parent (a *sibling*) and its parent still stands,
  it writes a ``confirmed`` mark: from then on the tag points at it;
* otherwise it writes a ``superseded`` mark and raises `TagConflictError`.

Only confirmed changes count, and a change is confirmed only by a writer that saw no
sibling after writing its own: a sibling written later sees this one and yields, so two
confirmed siblings cannot exist, and racing writers may both yield but never both win. A
writer that dies between writing and marking leaves a change that never counts (its
``tag()`` never returned). The current ref is the newest confirmed change of the chain that
starts at the first change; a damaged change is skipped (``payloadkit verify`` reports it).
"""

from __future__ import annotations

import json
import random
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from payloadkit._layout import (
    TAGS_PREFIX,
    parse_key,
    tag_entry_key,
    tag_mark_key,
    tag_prefix,
    valid_tag_name,
)
from payloadkit._ref import PayloadRef
from payloadkit.errors import (
    ConfigurationError,
    PayloadkitError,
    PayloadNotFoundError,
    TagConflictError,
)

if TYPE_CHECKING:
    from payloadkit.stores._base import Store

__all__ = ["UNSET", "TagEntry", "check_name", "read_log", "set_tag", "tag_names"]

MAX_ENTRY_BYTES = 64 * 1024
#: A change its writer has not marked within this long (in ns) was abandoned.
STALE_NS = 120 * 10**9
_KIND = "payloadkit.tag"


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


#: ``expect=UNSET``: move the tag whatever it points at now.
UNSET: Any = _Unset()


@dataclass(frozen=True)
class TagEntry:
    """One change of a tag: it pointed at ``ref`` (None: it was removed) from ``time`` on."""

    name: str
    entry: str
    ref: PayloadRef | None
    time: datetime
    parent: str | None = None


@dataclass
class TagLog:
    """Every change of one tag as listed: readable ones, damaged keys, and the marks."""

    name: str
    entries: dict[str, TagEntry] = field(default_factory=dict)
    damaged: dict[str, str] = field(default_factory=dict)
    confirmed: set[str] = field(default_factory=set)
    superseded: set[str] = field(default_factory=set)

    @property
    def newest(self) -> str | None:
        """The id of the newest change listed, readable or not."""
        ids = [*self.entries, *self.damaged]
        return max(ids) if ids else None

    def chain(self) -> list[TagEntry]:
        """The confirmed changes from the first to the current, oldest first."""
        found: list[TagEntry] = []
        parent: str | None = None
        while True:
            after = parent or ""
            kids = [
                e
                for e in self.entries.values()
                if e.entry in self.confirmed
                and e.entry > after
                and (e.parent == parent or e.parent in self.damaged)
            ]
            if not kids:
                return found
            step = min(kids, key=lambda e: (e.parent != parent, e.entry))
            found.append(step)
            parent = step.entry

    def current(self) -> TagEntry | None:
        """The change the tag points at now (None: never set)."""
        chain = self.chain()
        return chain[-1] if chain else None

    def rivals(self, mine: TagEntry) -> list[str]:
        """Live changes other than ``mine`` based on the same change.

        A change left unmarked for `STALE_NS` was abandoned by a writer that died
        before marking it; it no longer blocks the tag.
        """
        oldest = int(mine.entry[:20]) - STALE_NS
        return [
            e.entry
            for e in self.entries.values()
            if e.parent == mine.parent
            and e.entry != mine.entry
            and e.entry not in self.superseded
            and (e.entry in self.confirmed or int(e.entry[:20]) > oldest)
        ]


def check_name(name: object, store: str) -> str:
    """``name`` when it is a valid tag name; ConfigurationError otherwise."""
    if not valid_tag_name(name):
        raise ConfigurationError(
            f"{str(name)[:60]!r} is not a valid tag name for {store}: use letters, digits and "
            "'._-/', starting with a letter or digit, without '..' or '//'."
        )
    assert isinstance(name, str)
    return name


def read_log(store: Store, name: str) -> TagLog:
    """List and read every change of ``name``."""
    log = TagLog(name)
    with store._failing("list", subject=f"the changes of the tag {name!r}"):
        keys = [info.key for info in store.backend.list(tag_prefix(name))]
    for key in keys:
        parsed = parse_key(key)
        if parsed is None or parsed.name != name or parsed.entry is None:
            continue
        if parsed.kind == "tag-mark":
            (log.confirmed if parsed.variant == "confirmed" else log.superseded).add(parsed.entry)
        elif parsed.kind == "tag":
            _read_entry(store, log, key, parsed.entry)
    return log


def _read_entry(store: Store, log: TagLog, key: str, entry: str) -> None:
    try:
        with store._failing("read", subject=f"a change of the tag {log.name!r}"):
            raw = store.backend.read(key, MAX_ENTRY_BYTES + 1)
    except FileNotFoundError:
        return
    try:
        log.entries[entry] = _parse_entry(raw, log.name, entry, store.url)
    except (ValueError, KeyError, TypeError, RecursionError, PayloadkitError) as exc:
        log.damaged[entry] = f"{type(exc).__name__}: {str(exc)[:200]}"


def _parse_entry(raw: bytes, name: str, entry: str, url: str) -> TagEntry:
    if len(raw) > MAX_ENTRY_BYTES:
        raise ValueError("the change is too large")
    data = json.loads(raw)
    if not isinstance(data, dict) or data.get("kind") != _KIND or data.get("format") != 1:
        raise ValueError("not a tag change of a known format")
    if data["name"] != name:
        raise ValueError("it is stored under another tag's name")
    parent = data["parent"]
    if parent is not None and (not isinstance(parent, str) or not parent < entry):
        raise ValueError("bad parent field")
    ref = None if data["ref"] is None else PayloadRef.from_dict(data["ref"]).with_store(url)
    moment = datetime.fromisoformat(str(data["time"]))
    return TagEntry(
        name, entry, ref, moment if moment.tzinfo else moment.replace(tzinfo=UTC), parent
    )


def _new_id(newest: str | None) -> str:
    """An id that sorts after ``newest`` and after every id written before now."""
    stamp = time.time_ns()
    if newest is not None:
        stamp = max(stamp, int(newest[:20]) + 1)
    return f"{stamp:020d}-{secrets.token_hex(8)}"


def set_tag(store: Store, name: str, ref: PayloadRef | None, expect: Any, retries: int) -> TagEntry:
    """Move ``name`` to ``ref`` (None: remove it) unless another writer wins the race."""
    for attempt in range(retries + 1):
        try:
            return _attempt(store, name, ref, expect)
        except TagConflictError:
            if attempt == retries or expect is not UNSET:
                raise
            time.sleep(random.uniform(0.001, 0.02) * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def _attempt(store: Store, name: str, ref: PayloadRef | None, expect: Any) -> TagEntry:
    log = read_log(store, name)
    current = log.current()
    if expect is not UNSET and not _matches(current, expect):
        raise _conflict(store, name, current, "it does not point at the expected payload", False)
    entry = TagEntry(name, _new_id(log.newest), ref, datetime.now(UTC), _id_of(current))
    with store._failing("write", subject=f"a change of the tag {name!r}"):
        store.backend.write(tag_entry_key(name, entry.entry), _entry_bytes(entry))
        after = read_log(store, name)
        standing = after.current()
        won = not after.rivals(entry) and _id_of(standing) == entry.parent
        mark = "confirmed" if won else "superseded"
        store.backend.write(tag_mark_key(name, entry.entry, mark), b"")
    if not won:
        raise _conflict(store, name, after.current(), "another writer moved it at the same time")
    return entry


def _id_of(entry: TagEntry | None) -> str | None:
    return entry.entry if entry is not None else None


def _matches(current: TagEntry | None, expect: Any) -> bool:
    now = current.ref if current is not None else None
    if expect is None or now is None:
        return expect is None and now is None
    if isinstance(expect, PayloadRef):
        return expect.with_store(None) == now.with_store(None)
    return bool(expect == now.digest)


def _conflict(
    store: Store, name: str, current: TagEntry | None, why: str, written: bool = True
) -> TagConflictError:
    points = current.ref.digest if current is not None and current.ref else "nothing"
    kept = " (the change is kept in its history, superseded)" if written else ""
    return TagConflictError(
        f"The tag {name!r} in {store.url} was not moved: {why}; it points at {points}. "
        f"Nothing was lost{kept}: read the tag again and retry if the change still makes sense.",
        store=store.url,
    )


def _entry_bytes(entry: TagEntry) -> bytes:
    data = {
        "kind": _KIND,
        "format": 1,
        "name": entry.name,
        "ref": entry.ref.with_store(None).to_dict() if entry.ref is not None else None,
        "parent": entry.parent,
        "time": entry.time.isoformat(timespec="microseconds"),
    }
    return json.dumps(data, sort_keys=True).encode()


def tag_names(store: Store) -> Iterator[str]:
    """Every tag name with at least one change in the store, sorted."""
    with store._failing("list", subject="the tags"):
        keys = [info.key for info in store.backend.list(TAGS_PREFIX)]
    names = {p.name for p in map(parse_key, keys) if p is not None and p.name is not None}
    yield from sorted(names)


def missing_tag(store: Store, name: str, entry: TagEntry | None) -> PayloadNotFoundError:
    """The error for a tag that points at nothing, or at a payload that is gone."""
    if entry is None or entry.ref is None:
        return PayloadNotFoundError(
            f"No tag {name!r} in {store.url}. `payloadkit tags` lists the tags.",
            store=store.url,
        )
    return PayloadNotFoundError(
        f"The tag {name!r} in {store.url} points at {entry.ref.digest} ({entry.ref.type}), which "
        "is not in the store (deleted or collected). Tag another payload, or save it again.",
        digest=entry.ref.digest,
        type_name=entry.ref.type,
        store=store.url,
    )
