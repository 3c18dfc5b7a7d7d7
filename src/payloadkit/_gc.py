"""Cleaning a store: :func:`collect_garbage`.

Garbage collection keeps, by rule:

1. every payload referenced by a *kept* run record: the ``keep_runs`` most recent runs,
   every run that started after the cutoff (``now - older_than``), and every run record
   that appears while the collection runs;
2. every payload whose manifest was written after the cutoff, or less than ten minutes
   before the collection started, so anything saved while the collection runs is kept:
   saving a payload that is already stored rewrites its manifest with the current time
   when the manifest is older than ten minutes (a younger one is left alone, so a save
   that hits the same bytes again and again writes nothing);
3. objects without a manifest, files in ``tmp/`` and (on S3) multipart uploads never
   completed that are younger than an hour, whatever the cutoff (they may be writes in
   progress), and those whose age cannot be told;
4. whatever it cannot read (a corrupt manifest, a corrupt run record) and files under
   ``objects/`` that payloadkit did not write.

Deletion is two-phase. The candidates are a snapshot taken first; just before each one
is deleted, its manifest is read again (gone: skip; newer than the cutoff: keep) and the
run records are listed again (a record that appeared since, or a kept one, that
references it: keep). The manifest is removed first, so readers see "not found" rather
than half a payload; the object's bytes are then moved aside, the manifest is checked
once more, and if a writer saved the same payload meanwhile the bytes are moved back
(content addressing makes any bytes at that key the same bytes). Only then are they
deleted.

A payload is protected by its manifest time only while a run uses it: a run that saves
a payload, keeps only its ref for longer than ``older_than`` and writes its run record
after that may find it collected. Choose ``older_than`` longer than your longest run.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from payloadkit._maintenance import (
    IN_PROGRESS_GRACE,
    RUNS,
    Finding,
    _digest_of_key,
    _manifest_digests,
    _modified,
    _read_manifest,
    _read_manifest_quietly,
    _size,
    _store_errors,
    _unowned_objects,
    _upload_findings,
)
from payloadkit._manifest import manifest_key
from payloadkit.errors import IntegrityError, PayloadNotFoundError
from payloadkit.stores import FsspecStore, LocalStore, Store
from payloadkit.stores._base import REFRESH_AFTER
from payloadkit.stores._s3 import S3Store

__all__ = ["GcReport", "collect_garbage", "referenced_digests", "run_records"]

_ASIDE = "tmp/gc-"


@dataclass
class GcReport:
    """What :func:`collect_garbage` removed (or, on a dry run, would remove)."""

    url: str
    dry_run: bool
    cutoff: str
    #: Payloads saved after this are kept: the cutoff, or ten minutes ago when that is earlier.
    payload_cutoff: str = ""
    kept_runs: list[str] = field(default_factory=list)
    removed_runs: list[str] = field(default_factory=list)
    removed: list[Finding] = field(default_factory=list)
    spared: list[Finding] = field(default_factory=list)

    @property
    def bytes_freed(self) -> int:
        """Bytes of the objects and files removed (or that would be)."""
        return sum(f.size for f in self.removed)

    def to_dict(self) -> dict[str, Any]:
        """JSON form, for ``payloadkit gc --json``."""
        return {
            "url": self.url,
            "dry_run": self.dry_run,
            "cutoff": self.cutoff,
            "payload_cutoff": self.payload_cutoff,
            "bytes_freed": self.bytes_freed,
            "kept_runs": self.kept_runs,
            "removed_runs": self.removed_runs,
            "removed": [f.__dict__ for f in self.removed],
            "spared": [f.__dict__ for f in self.spared],
        }


# -- run records ------------------------------------------------------------------
def run_records(store: Store) -> list[dict[str, Any]]:
    """Every run record in the store, most recent first (by start time, then run id)."""
    records = [store.get_record(RUNS, name) for name in store.list_records(RUNS)]
    for record in records:
        if record.get("kind") != "payloadkit.run" or not isinstance(record.get("run_id"), str):
            raise IntegrityError(
                f"A record under records/{RUNS}/ in {store.url} is not a payloadkit run record. "
                "Move it elsewhere; garbage collection cannot tell what it references.",
                store=store.url,
            )
    return sorted(records, key=lambda r: (str(r.get("started", "")), r["run_id"]), reverse=True)


def referenced_digests(record: dict[str, Any]) -> set[str]:
    """Digests a run record references: its ``payloads`` list and every ref in Work states."""
    found = {d for d in record.get("payloads", []) if isinstance(d, str)}
    stack: list[Any] = [record.get("works", {})]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("kind") == "payloadkit.Payload" and isinstance(item.get("ref"), dict):
                digest = item["ref"].get("digest")
                if isinstance(digest, str):
                    found.add(digest)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _kept(records: list[dict[str, Any]], keep_runs: int, cutoff: datetime) -> list[str]:
    kept = []
    for index, record in enumerate(records):
        if index < keep_runs or _started_after(record, cutoff):
            kept.append(record["run_id"])
    return kept


def _started_after(record: dict[str, Any], cutoff: datetime) -> bool:
    try:
        started = datetime.fromisoformat(str(record.get("started")))
    except ValueError:
        return True  # an unreadable start time: keep the run, to be safe
    return (started if started.tzinfo else started.replace(tzinfo=UTC)) > cutoff


# -- garbage collection -----------------------------------------------------------
@_store_errors
def collect_garbage(
    store: Store,
    *,
    keep_runs: int = 10,
    older_than: timedelta = timedelta(days=30),
    dry_run: bool = True,
    now: datetime | None = None,
) -> GcReport:
    """Remove what no kept run references and what crashed writes left behind.

    A dry run (the default) only reports. See this module's docstring for the rules that
    make it safe against writers running at the same time.
    """
    if keep_runs < 0 or older_than < timedelta(0):
        raise ValueError("keep_runs and older_than must not be negative")
    started = now or datetime.now(UTC)
    cutoff = started - older_than
    report = GcReport(store.url, dry_run, cutoff.isoformat(timespec="seconds"))
    records = run_records(store)
    report.kept_runs = _kept(records, keep_runs, cutoff)
    report.removed_runs = [r["run_id"] for r in records if r["run_id"] not in report.kept_runs]
    seen_runs = {r["run_id"] for r in records}
    # A payload saved again while it is younger than REFRESH_AFTER keeps its manifest time:
    # never remove one that young, so such a save cannot race a collection.
    payload_cutoff = min(cutoff, started - REFRESH_AFTER)
    report.payload_cutoff = payload_cutoff.isoformat(timespec="seconds")
    candidates = _payload_candidates(store, records, report.kept_runs, payload_cutoff)
    # A crash leftover is at least an hour old, whatever the cutoff: younger files may be
    # writes in progress (a large object's temporary file, an object before its manifest).
    leftover_cutoff = min(cutoff, started - IN_PROGRESS_GRACE)
    leftovers = _leftover_candidates(store, leftover_cutoff)
    uploads = [finding for finding, when in _upload_findings(store) if when <= leftover_cutoff]
    if dry_run:
        report.removed = [*candidates, *leftovers, *uploads]
        return report
    for run_id in report.removed_runs:
        store.delete_record(RUNS, run_id)
    protected = _protected_now(store, seen_runs, cutoff, keep_runs)
    seen_runs = set(store.list_records(RUNS))
    for finding in candidates:
        _add_new_runs(store, seen_runs, protected)
        removed = _remove_payload(store, finding, protected, payload_cutoff)
        (report.removed if removed else report.spared).append(finding)
    for finding in leftovers:
        removed = _remove_leftover(store, finding, leftover_cutoff)
        (report.removed if removed else report.spared).append(finding)
    if uploads and isinstance(store, S3Store):
        store._abort_uploads(leftover_cutoff)
        report.removed += uploads
    if isinstance(store, LocalStore) and report.removed:
        _prune_empty_directories(store)
    return report


def _prune_empty_directories(store: LocalStore) -> None:
    """Remove the emptied ``<2 hex>`` directories of a local store (writers recreate them)."""
    for top in ("objects", "manifests"):
        for algorithm in ("blake3", "sha256"):
            base = store._path(f"{top}/{algorithm}")
            with contextlib.suppress(FileNotFoundError):
                for name in os.listdir(base):
                    with contextlib.suppress(OSError):  # not empty, or just refilled
                        os.rmdir(os.path.join(base, name))


def _payload_candidates(
    store: Store, records: list[dict[str, Any]], kept: list[str], cutoff: datetime
) -> list[Finding]:
    referenced: set[str] = set()
    for record in records:
        if record["run_id"] in kept:
            referenced |= referenced_digests(record)
    found = []
    for digest in _manifest_digests(store):
        try:
            manifest = _read_manifest(store, digest)
        except IntegrityError:
            continue  # verify reports it; gc never deletes what it cannot read
        if manifest is None or digest in referenced or manifest.created_at > cutoff:
            continue
        meta = manifest.ref
        msg = f"{meta.type} ({meta.serializer}), created {manifest.created}, referenced by no kept run"
        found.append(Finding("payload", manifest.object_key, msg, digest, meta.size))
    return found


def _leftover_candidates(store: Store, cutoff: datetime) -> list[Finding]:
    """Objects without a manifest file, and files in ``tmp/``, last written before ``cutoff``.

    An object whose manifest exists but cannot be read is not a candidate: gc never
    deletes what it cannot read (``verify`` reports it). Foreign files are left alone.
    """
    orphans, _foreign = _unowned_objects(store, set(_manifest_digests(store)))
    found = []
    for key in [*orphans, *store._list("tmp/")]:
        when = _aside_time(key) if key.startswith(_ASIDE) else _modified(store, key)
        if when is None or when > cutoff:
            continue
        kind = "leftover" if key.startswith("tmp/") else "orphan"
        msg = f"left by an interrupted write, last written {when.isoformat(timespec='seconds')}"
        found.append(Finding(kind, key, msg, _digest_of_key(key), _size(store, key)))
    return found


def _protected_now(store: Store, seen: set[str], cutoff: datetime, keep_runs: int) -> set[str]:
    """Digests referenced by the run records as they are now (new records count as kept)."""
    records = run_records(store)
    kept = set(_kept(records, keep_runs, cutoff)) | {r["run_id"] for r in records} - seen
    protected: set[str] = set()
    for record in records:
        if record["run_id"] in kept:
            protected |= referenced_digests(record)
    return protected


def _add_new_runs(store: Store, seen: set[str], protected: set[str]) -> None:
    """Protect what run records written since ``seen`` reference (one listing per call)."""
    for name in set(store.list_records(RUNS)) - seen:
        seen.add(name)
        with contextlib.suppress(PayloadNotFoundError):
            protected |= referenced_digests(store.get_record(RUNS, name))


def _remove_payload(store: Store, finding: Finding, protected: set[str], cutoff: datetime) -> bool:
    """Delete one candidate unless it was saved or referenced since the snapshot."""
    digest = finding.digest
    assert digest is not None
    try:
        manifest = _read_manifest(store, digest)
    except IntegrityError:
        return False
    if manifest is None or digest in protected or manifest.created_at > cutoff:
        return False
    store._delete(manifest_key(digest))
    aside = _move_aside(store, manifest.object_key)
    if aside is None:
        return True
    if _read_manifest_quietly(store, digest) is not None:
        _move_back(store, aside, manifest.object_key)  # saved again meanwhile
        return False
    store._delete(aside)
    return True


def _move_aside(store: Store, key: str) -> str | None:
    """Move an object under ``tmp/gc-*`` so it can be restored; None when it was gone."""
    # The name carries the time it was moved: a file moved by rename keeps its old mtime.
    aside = f"{_ASIDE}{int(time.time())}-{uuid.uuid4().hex}"
    try:
        if isinstance(store, LocalStore):
            os.makedirs(store._path("tmp"), exist_ok=True)
            os.replace(store._path(key), store._path(aside))
        elif isinstance(store, FsspecStore):
            store.fs.mv(store._path(key), store._path(aside))
            store._invalidate(store._path(key))
        else:
            store._delete(key)
            return None
    except FileNotFoundError:
        return None
    return aside


def _aside_time(key: str) -> datetime | None:
    """When a collection moved this object aside (from its name), or None.

    A collection that crashed leaves it there; a later one removes it once it is old.
    """
    stamp = key[len(_ASIDE) :].split("-", 1)[0]
    if not stamp.isdigit():
        return None
    return datetime.fromtimestamp(int(stamp), UTC)


def _move_back(store: Store, aside: str, key: str) -> None:
    if store._exists(key):
        store._delete(aside)  # the writer's copy is in place: same digest, same bytes
    elif isinstance(store, LocalStore):
        os.makedirs(os.path.dirname(store._path(key)), exist_ok=True)
        os.replace(store._path(aside), store._path(key))
    elif isinstance(store, FsspecStore):
        store.fs.mv(store._path(aside), store._path(key))


def _remove_leftover(store: Store, finding: Finding, cutoff: datetime) -> bool:
    """Delete an orphan or temporary file unless it was written since the snapshot."""
    aside = finding.key.startswith(_ASIDE)
    when = _aside_time(finding.key) if aside else _modified(store, finding.key)
    if when is None or when > cutoff:
        return False
    digest = finding.digest if finding.kind == "orphan" else None
    if digest is not None and _read_manifest_quietly(store, digest) is not None:
        return False  # its manifest has just been written: a write finishing
    store._delete(finding.key)
    return True
