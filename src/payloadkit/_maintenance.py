"""Checking a store: `verify_store`, and what checking and cleaning share.

This and garbage collection (`payloadkit._gc`) work from the store alone, through
the public `payloadkit.stores.Backend` API, so they give every store (a plugin's
too) the same guarantees. They touch only keys `payloadkit._layout` recognises;
anything else in a store is reported, never changed.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, TypeVar

from payloadkit._digest import parse_digest
from payloadkit._layout import ParsedKey, parse_key, tag_prefix, valid_tag_name
from payloadkit._manifest import Manifest
from payloadkit.errors import IntegrityError, PayloadkitError, PayloadNotFoundError, StoreError
from payloadkit.stores import IncompleteUploads, KeyInfo, Store
from payloadkit.stores._tags import read_log, tag_names

__all__ = [
    "Finding",
    "Inventory",
    "VerifyReport",
    "inventory",
    "parse_age",
    "resolve_digest",
    "verify_store",
]

P = ParamSpec("P")
R = TypeVar("R")

#: Orphans and temporary files younger than this are writes in progress, not problems.
IN_PROGRESS_GRACE = timedelta(hours=1)
RUNS = "runs"


@dataclass(frozen=True)
class Finding:
    """One thing found in a store: ``kind`` says what, ``key`` where (relative to the root)."""

    kind: str
    key: str
    message: str
    digest: str | None = None
    size: int = 0


@dataclass
class VerifyReport:
    """What `verify_store` checked and found; ``ok`` when there is no problem."""

    url: str
    format: int = 0
    payloads: int = 0
    bytes: int = 0
    problems: list[Finding] = field(default_factory=list)
    in_progress: list[Finding] = field(default_factory=list)
    #: What could not be checked on this store, and why (one line each).
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every payload verified and nothing is left over."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """JSON form, for ``payloadkit verify --json``."""
        return {
            "url": self.url,
            "ok": self.ok,
            "format": self.format,
            "payloads": self.payloads,
            "bytes": self.bytes,
            "problems": [f.__dict__ for f in self.problems],
            "in_progress": [f.__dict__ for f in self.in_progress],
            "notes": self.notes,
        }


def _store_errors(function: Callable[P, R]) -> Callable[P, R]:
    """Report a store failing during ``function(store, ...)`` as StoreError, not OSError."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except OSError as exc:
            url = getattr(args[0], "url", None)
            what = (
                "verification" if function.__name__.startswith("verify") else "garbage collection"
            )
            raise StoreError(
                f"The {what} of {url} stopped: the store failed "
                f"({exc.strerror or str(exc)[:200] or type(exc).__name__}). Every step leaves the "
                "store consistent: check the store's health and run it again.",
                store=url,
            ) from exc

    return wrapper


# -- the store's contents, in one listing ----------------------------------------------
@dataclass
class Inventory:
    """Every key of a store, sorted by what it is (one listing of the whole store)."""

    objects: dict[str, KeyInfo] = field(default_factory=dict)
    manifests: dict[str, KeyInfo] = field(default_factory=dict)
    records: dict[str, KeyInfo] = field(default_factory=dict)
    tmp: dict[str, KeyInfo] = field(default_factory=dict)
    #: Changes of tags and their marks.
    tags: dict[str, KeyInfo] = field(default_factory=dict)
    foreign: dict[str, KeyInfo] = field(default_factory=dict)
    parsed: dict[str, ParsedKey] = field(default_factory=dict)

    def digest_of(self, key: str) -> str | None:
        """The digest an object or manifest key belongs to."""
        item = self.parsed.get(key)
        return item.digest if item is not None else None


def inventory(store: Store) -> Inventory:
    """List the whole store once and sort its keys (damaged names go to ``foreign``)."""
    found = Inventory()
    slots = {
        "object": found.objects,
        "manifest": found.manifests,
        "legacy-manifest": found.manifests,
        "record": found.records,
        "tmp": found.tmp,
        "tag": found.tags,
        "tag-mark": found.tags,
    }
    for info in store.backend.list(""):
        parsed = parse_key(info.key)
        if parsed is None:
            found.foreign[info.key] = info
            continue
        found.parsed[info.key] = parsed
        slot = slots.get(parsed.kind)
        if slot is not None:
            slot[info.key] = info
    return found


def read_manifest(store: Store, key: str, digest: str) -> Manifest | None:
    """The manifest at ``key`` (None when gone); IntegrityError when damaged or unreadable."""
    return store._read_manifest(key, digest)


def read_manifest_quietly(store: Store, key: str, digest: str) -> Manifest | None:
    """The manifest, or None when it is missing or cannot be read."""
    try:
        return read_manifest(store, key, digest)
    except (IntegrityError, StoreError):
        return None


def resolve_digest(store: Store, text: str) -> str:
    """The full digest ``text`` names: a full digest, a tag name, or a unique prefix of one.

    ``"blake3:6efb7a"`` and ``"6efb7a"`` both name the payload whose digest starts so; a
    tag's name (``"model"``) names the payload it points at, and wins over a prefix; no
    match or several matches raise PayloadNotFoundError saying which.
    """
    name = text.strip()
    if valid_tag_name(name) and store.marker() is not None and name in set(tag_names(store)):
        return store.resolve(name).digest
    text = name.lower()
    with contextlib.suppress(PayloadkitError):
        parse_digest(text)
        return text
    store.require_store()
    parsed = (parse_key(info.key) for info in store.backend.list("manifests/"))
    digests = sorted({p.digest for p in parsed if p is not None and p.digest is not None})
    matches = [d for d in digests if d.startswith(text) or d.split(":")[1].startswith(text)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise PayloadNotFoundError(
            f"No payload in {store.url} has a digest starting with {text!r}, and no tag is "
            "named so; `payloadkit ls` lists the payloads, `payloadkit tags` the tags.",
            store=store.url,
        )
    raise PayloadNotFoundError(
        f"{text!r} matches {len(matches)} payloads in {store.url} ({', '.join(matches[:3])}...). "
        "Give more of the digest; `payloadkit ls` lists them.",
        store=store.url,
    )


# -- ages -------------------------------------------------------------------------
def parse_age(text: str) -> timedelta:
    """``"30d"``, ``"12h"``, ``"15m"``, ``"90s"``, ``"2w"`` or ``"0"`` as a timedelta."""
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    text = text.strip()
    if text == "0":
        return timedelta(0)
    number, unit = text[:-1], text[-1:]
    if unit not in units or not number.isdigit():
        raise ValueError(f"{text!r} is not an age like 30d, 12h, 15m, 90s or 2w")
    return timedelta(**{units[unit]: int(number)})


def unowned_objects(store: Store, found: Inventory) -> list[str]:
    """Object keys that no readable manifest points at (a damaged manifest's digest counts
    as pointing at every object of its digest)."""
    in_use: set[str] = set()
    damaged: set[str] = set()
    for key in found.manifests:
        digest = found.digest_of(key)
        assert digest is not None
        try:
            manifest = read_manifest(store, key, digest)
        except (IntegrityError, StoreError):
            damaged.add(digest)
            continue
        if manifest is not None:
            in_use.add(manifest.object_key)
    return [k for k in found.objects if k not in in_use and found.digest_of(k) not in damaged]


# -- verification -------------------------------------------------------------------
def _check_payload(store: Store, key: str, found: Inventory, report: VerifyReport) -> None:
    """Verify one manifest and the object it names; every problem becomes a finding."""
    digest = found.digest_of(key)
    assert digest is not None
    try:
        manifest = read_manifest(store, key, digest)
    except (IntegrityError, StoreError) as exc:
        report.problems.append(Finding("bad-manifest", key, str(exc), digest))
        return
    if manifest is None:
        return  # deleted while we looked
    meta = manifest.ref
    report.payloads += 1
    report.bytes += meta.size
    try:
        store.read_verified(manifest)
    except PayloadNotFoundError:
        if read_manifest_quietly(store, key, digest) is None:
            report.payloads -= 1
            report.bytes -= meta.size
            return  # deleted (by gc) while we looked: not a problem
        msg = f"The manifest of {digest} ({meta.type}) has no object; save the payload again."
        report.problems.append(Finding("missing-object", manifest.object_key, msg, digest))
        return
    except IntegrityError:
        msg = (
            f"The bytes of {digest} ({meta.type}) do not match their digest: corrupted or altered."
        )
        report.problems.append(Finding("corrupt", manifest.object_key, msg, digest, meta.size))
    except StoreError as exc:
        report.problems.append(
            Finding("unreadable", manifest.object_key, str(exc), digest, meta.size)
        )
    why = store.policy.signature_problem(manifest)
    if why is not None:
        msg = f"The signature of {digest} ({meta.type}) does not verify: {why}."
        report.problems.append(Finding("signature", key, msg, digest))


def _check_records(store: Store, found: Inventory, report: VerifyReport) -> None:
    for key in found.records:
        kind, name = key.split("/")[1], key.split("/")[2][: -len(".json")]
        try:
            store.get_record(kind, name)
        except IntegrityError as exc:
            report.problems.append(Finding("bad-record", key, str(exc)))
        except PayloadNotFoundError:
            continue


def _check_tags(store: Store, found: Inventory, report: VerifyReport) -> None:
    """Damaged changes of a tag (skipped when it is read) and tags pointing at nothing."""
    names = sorted({p.name for k in found.tags if (p := found.parsed[k]).name is not None})
    for name in names:
        log = read_log(store, name)
        for entry, why in sorted(log.damaged.items()):
            key = f"{tag_prefix(name)}{entry}.json"
            msg = f"A change of the tag {name!r} is damaged ({why}); it is skipped when the tag is read."
            report.problems.append(Finding("bad-tag", key, msg))
        current = log.current()
        if current is not None and current.ref is not None and not store.exists(current.ref):
            msg = (
                f"The tag {name!r} points at {current.ref.digest} ({current.ref.type}), which is "
                "not in the store: tag another payload, or save it again."
            )
            report.problems.append(
                Finding("dangling-tag", tag_prefix(name), msg, current.ref.digest)
            )


def _leftover_finding(key: str, info: KeyInfo, found: Inventory) -> Finding:
    kind = "leftover" if key.startswith("tmp/") else "orphan"
    what = "A temporary file" if kind == "leftover" else "An object without a manifest"
    message = f"{what}, left by an interrupted write; `payloadkit gc` removes it."
    return Finding(kind, key, message, found.digest_of(key), info.size)


@_store_errors
def verify_store(store: Store, *, now: datetime | None = None) -> VerifyReport:
    """Re-hash every object and check every manifest, record (and signature, with a key).

    Every problem is reported, not just the first: damaged manifests and records, missing,
    corrupt or unreadable objects (a link or a special file where a value should be),
    files payloadkit did not write, and objects without a manifest and leftovers in
    ``tmp/``, as problems when older than an hour (a crashed write; ``payloadkit gc``
    removes them) or as writes in progress when younger.
    """
    marker = store.require_store()
    report = VerifyReport(store.url, format=marker.format)
    found = inventory(store)
    for key in sorted(found.manifests):
        _check_payload(store, key, found, report)
    _check_records(store, found, report)
    _check_tags(store, found, report)
    cutoff = (now or datetime.now(UTC)) - IN_PROGRESS_GRACE
    for key, info in sorted(found.foreign.items()):
        msg = "A file payloadkit did not write; payloadkit never deletes it: remove it by hand."
        report.problems.append(Finding("foreign", key, msg, None, info.size))
    leftovers = {k: found.objects[k] for k in unowned_objects(store, found)} | found.tmp
    for key, info in sorted(leftovers.items()):
        young = info.modified is None or info.modified > cutoff
        (report.in_progress if young else report.problems).append(
            _leftover_finding(key, info, found)
        )
    _check_uploads(store, report, cutoff)
    return report


def _check_uploads(store: Store, report: VerifyReport, cutoff: datetime) -> None:
    try:
        findings = upload_findings(store)
    except NotImplementedError as exc:
        report.notes.append(f"Open multipart uploads could not be checked: {exc}.")
        return
    for finding, when in findings:
        (report.in_progress if when > cutoff else report.problems).append(finding)


def upload_findings(store: Store) -> list[tuple[Finding, datetime]]:
    """Multipart uploads never completed (backends that have them), each with its start time.

    NotImplementedError when the backend has them but cannot list them.
    """
    backend = store.backend
    if not isinstance(backend, IncompleteUploads):
        return []
    found = []
    for key, when in backend.incomplete_uploads():
        msg = (
            f"A multipart upload started {when.isoformat(timespec='seconds')} and never "
            "completed: its parts are stored (and billed) but invisible; `payloadkit gc` "
            "aborts it."
        )
        found.append((Finding("upload", key, msg, None), when))
    return found
