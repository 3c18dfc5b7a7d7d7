"""Cleaning a store: `collect_garbage`.

Garbage collection keeps, by rule:

1. every payload referenced by a *kept* run record: the ``keep_runs`` most recent runs,
   every run that started after the cutoff (``now - older_than``), and every run record
   that appears while the collection runs;
2. every payload saved (or saved again) after the cutoff, or within the store's grace
   period (ten minutes unless the store was created with another) before the collection
   started: a save of a payload whose manifest is older than four tenths of the grace
   rewrites the manifest, so a payload that is in use is never older than that;
3. objects without a manifest, files in ``tmp/`` and (on S3) multipart uploads never
   completed that are younger than an hour, whatever the cutoff (they may be writes in
   progress), and those whose age cannot be told;
4. every payload a tag points at now and, with ``keep_history=N``, the payloads of the
   N newest changes of every tag's history (the current one among them), tags set while
   the collection runs included;
5. whatever it cannot read (a damaged manifest or run record) and every file payloadkit
   did not write: ``payloadkit verify`` reports those; gc never deletes them.

While it runs, a collection holds a lease (`payloadkit.stores._lease`) that writers
refreshing an old payload look for, and it stops before its next deletion if it cannot
renew the lease. It removes a payload's manifest first (readers then see "not found",
never half a payload); lists the run records again and puts the manifest back if a new
one references it; then moves the object aside, puts it back if a writer saved the same
bytes meanwhile, and only then deletes it. A writer of a new payload checks its object
once more after writing its manifest, so whichever comes last repairs the other.

A payload is protected by its manifest time only while a run uses it: a run that saves
a payload, keeps only its ref for longer than ``older_than`` (and the grace period) and
writes its run record after that may find it collected.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from payloadkit._layout import TAGS_PREFIX, parse_key
from payloadkit._maintenance import (
    IN_PROGRESS_GRACE,
    RUNS,
    Finding,
    Inventory,
    _store_errors,
    inventory,
    read_manifest,
    unowned_objects,
    upload_findings,
)
from payloadkit.errors import IntegrityError, PayloadNotFoundError, StoreError
from payloadkit.stores import IncompleteUploads, LocalBackend, Store
from payloadkit.stores._lease import LEASE_FOR, GcLease
from payloadkit.stores._tags import read_log

__all__ = ["GcReport", "collect_garbage", "referenced_digests", "run_records"]

_ASIDE = "tmp/gc-"


@dataclass
class GcReport:
    """What `collect_garbage` removed (or, on a dry run, would remove)."""

    url: str
    dry_run: bool
    cutoff: str
    #: Payloads saved after this are kept: the cutoff, or the grace period ago when earlier.
    payload_cutoff: str = ""
    kept_runs: list[str] = field(default_factory=list)
    removed_runs: list[str] = field(default_factory=list)
    removed: list[Finding] = field(default_factory=list)
    spared: list[Finding] = field(default_factory=list)
    #: Damaged items left in place, and what could not be done on this store.
    notes: list[str] = field(default_factory=list)

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
            "notes": self.notes,
        }


# -- run records ------------------------------------------------------------------
def run_records(store: Store, damaged: list[str] | None = None) -> list[dict[str, Any]]:
    """Every readable run record in the store, most recent first (by start time, then id).

    A record that is not JSON, not a run record, or has fields of the wrong types is
    skipped; its name is appended to ``damaged`` when a list is given.
    """
    records = []
    for name in store.list_records(RUNS):
        try:
            record = store.get_record(RUNS, name)
        except PayloadNotFoundError:
            continue  # deleted while we looked
        except IntegrityError:
            record = {}
        if record.get("kind") == "payloadkit.run" and isinstance(record.get("run_id"), str):
            records.append(record)
        elif damaged is not None:
            damaged.append(name)
    return sorted(records, key=lambda r: (str(r.get("started", "")), r["run_id"]), reverse=True)


def referenced_digests(record: dict[str, Any]) -> set[str]:
    """Digests a run record references (its owner, `payloadkit.app._record`, reads them)."""
    from payloadkit.app._record import record_digests

    return record_digests(record)


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
@dataclass
class _Plan:
    """What one collection looks at: its times, the records, the candidates."""

    started: datetime
    cutoff: datetime
    payload_cutoff: datetime
    leftover_cutoff: datetime
    keep_runs: int
    keep_history: int = 1
    seen_runs: set[str] = field(default_factory=set)
    seen_tags: set[str] = field(default_factory=set)
    protected: set[str] = field(default_factory=set)


@_store_errors
def collect_garbage(
    store: Store,
    *,
    keep_runs: int = 10,
    keep_history: int = 1,
    older_than: timedelta = timedelta(days=30),
    dry_run: bool = True,
    now: datetime | None = None,
) -> GcReport:
    """Remove what no kept run references and what crashed writes left behind.

    A dry run (the default) only reports. See this module's docstring for the rules that
    make it safe against writers running at the same time. ``keep_history``: how many of
    the newest changes of each tag keep their payloads (at least the current one).
    """
    if keep_runs < 0 or keep_history < 0 or older_than < timedelta(0):
        raise ValueError("keep_runs, keep_history and older_than must not be negative")
    marker = store.require_store()
    started = now or datetime.now(UTC)
    cutoff = started - older_than
    plan = _Plan(
        started,
        cutoff,
        min(cutoff, started - marker.grace),
        min(cutoff, started - IN_PROGRESS_GRACE),
        keep_runs,
        keep_history,
    )
    report = GcReport(store.url, dry_run, cutoff.isoformat(timespec="seconds"))
    report.payload_cutoff = plan.payload_cutoff.isoformat(timespec="seconds")
    if dry_run:
        _survey(store, plan, report)
        return report
    with GcLease(store.backend, store.url) as lease:
        candidates, leftovers = _survey(store, plan, report)
        _collect(store, plan, report, lease, candidates, leftovers)
    return report


def _survey(store: Store, plan: _Plan, report: GcReport) -> tuple[list[Finding], list[Finding]]:
    """Decide what would go; on a dry run that is the report."""
    damaged: list[str] = []
    records = run_records(store, damaged)
    report.notes += [
        f"The run record {name!r} is damaged: it was kept, and since what it references cannot "
        "be told, no payload was collected. Repair or remove it (`payloadkit verify` lists it)."
        for name in damaged
    ]
    report.kept_runs = _kept(records, plan.keep_runs, plan.cutoff)
    report.removed_runs = [r["run_id"] for r in records if r["run_id"] not in report.kept_runs]
    plan.seen_runs = {r["run_id"] for r in records} | set(damaged)
    for record in records:
        if record["run_id"] in report.kept_runs:
            plan.protected |= referenced_digests(record)
    _add_new_tags(store, plan)
    found = inventory(store)
    candidates = [] if damaged else _payload_candidates(store, found, plan, report)
    leftovers = _leftover_candidates(store, found, plan)
    uploads = _stale_uploads(store, plan, report)
    if report.dry_run:
        report.removed = [*candidates, *leftovers, *uploads]
    return candidates, [*leftovers, *uploads]


def _collect(
    store: Store,
    plan: _Plan,
    report: GcReport,
    lease: GcLease,
    candidates: list[Finding],
    leftovers: list[Finding],
) -> None:
    for run_id in report.removed_runs:
        lease.check()
        store.delete_record(RUNS, run_id)
    plan.seen_runs = set(store.list_records(RUNS)) - set(report.removed_runs)
    for finding in candidates:
        lease.check()
        _add_new_runs(store, plan)
        _add_new_tags(store, plan)
        removed = _remove_payload(store, finding, plan)
        (report.removed if removed else report.spared).append(finding)
    uploads = [f for f in leftovers if f.kind == "upload"]
    for finding in [f for f in leftovers if f.kind != "upload"]:
        lease.check()
        removed = _remove_leftover(store, finding, plan)
        (report.removed if removed else report.spared).append(finding)
    backend = store.backend
    if uploads and isinstance(backend, IncompleteUploads):
        backend.abort_incomplete_uploads(plan.leftover_cutoff)
        report.removed += uploads
    _remove_stale_leases(store, plan)
    if isinstance(backend, LocalBackend) and report.removed:
        backend.prune_empty_directories(["objects/", "manifests/"])


def _payload_candidates(
    store: Store, found: Inventory, plan: _Plan, report: GcReport
) -> list[Finding]:
    result = []
    for key in sorted(found.manifests):
        digest = found.digest_of(key)
        assert digest is not None
        try:
            manifest = read_manifest(store, key, digest)
        except (IntegrityError, StoreError):
            report.notes.append(
                f"The manifest {key} is damaged: it was kept (`payloadkit verify`)."
            )
            continue
        if (
            manifest is None
            or digest in plan.protected
            or manifest.created_at > plan.payload_cutoff
        ):
            continue
        meta = manifest.ref
        msg = f"{meta.type} ({meta.serializer}), created {manifest.created}, referenced by no kept run"
        result.append(Finding("payload", key, msg, digest, meta.size))
    return result


def _leftover_candidates(store: Store, found: Inventory, plan: _Plan) -> list[Finding]:
    """Objects no manifest points at, and payloadkit's files in ``tmp/``, older than the cutoff."""
    result = []
    orphans = {k: found.objects[k] for k in unowned_objects(store, found)}
    for key, info in sorted({**orphans, **found.tmp}.items()):
        when = _aside_time(key) if key.startswith(_ASIDE) else info.modified
        if when is None or when > plan.leftover_cutoff or not info.regular:
            continue
        kind = "leftover" if key.startswith("tmp/") else "orphan"
        msg = f"left by an interrupted write, last written {when.isoformat(timespec='seconds')}"
        result.append(Finding(kind, key, msg, found.digest_of(key), info.size))
    return result


def _stale_uploads(store: Store, plan: _Plan, report: GcReport) -> list[Finding]:
    try:
        findings = upload_findings(store)
    except NotImplementedError as exc:
        report.notes.append(f"Open multipart uploads could not be checked: {exc}.")
        return []
    return [finding for finding, when in findings if when <= plan.leftover_cutoff]


def _add_new_runs(store: Store, plan: _Plan) -> None:
    """Protect what run records written since the last look reference (one listing)."""
    for name in set(store.list_records(RUNS)) - plan.seen_runs:
        plan.seen_runs.add(name)
        with contextlib.suppress(PayloadNotFoundError, IntegrityError):
            plan.protected |= referenced_digests(store.get_record(RUNS, name))


def _add_new_tags(store: Store, plan: _Plan) -> None:
    """Protect what tags point at (and their kept history), re-reading only tags that changed."""
    keys = {info.key for info in store.backend.list(TAGS_PREFIX)}
    changed = {p.name for k in keys - plan.seen_tags if (p := parse_key(k)) and p.name}
    plan.seen_tags = keys
    for name in sorted(changed):
        chain = read_log(store, name).chain()
        kept = chain[-max(plan.keep_history, 1) :]
        plan.protected |= {e.ref.digest for e in kept if e.ref is not None}


def _remove_payload(store: Store, finding: Finding, plan: _Plan) -> bool:
    """Delete one candidate unless it was saved or referenced since the survey."""
    digest, key, backend = finding.digest, finding.key, store.backend
    assert digest is not None
    try:
        manifest = read_manifest(store, key, digest)
        raw = backend.read(key, 1 << 20) if manifest is not None else b""
    except (IntegrityError, StoreError, FileNotFoundError):
        return False
    if manifest is None or digest in plan.protected or manifest.created_at > plan.payload_cutoff:
        return False
    backend.delete(key)
    _add_new_runs(store, plan)
    _add_new_tags(store, plan)
    if digest in plan.protected:
        backend.write(key, raw)  # a run that appeared meanwhile uses it: put it back
        return False
    if manifest.object_key in _objects_in_use(store, digest):
        return True  # another payload (another type or serializer) shares the bytes
    return _remove_object(store, manifest.object_key, digest)


def _objects_in_use(store: Store, digest: str) -> set[str]:
    """The object keys the manifests of ``digest`` now point at (all of them if one is damaged)."""
    try:
        return {m.object_key for m in store.manifests_of(digest)}
    except (IntegrityError, StoreError):
        return set(store._object_keys(digest))


def _remove_object(store: Store, key: str, digest: str) -> bool:
    """Move an object aside, put it back if a manifest points at it meanwhile, else delete it;
    False when it was put back (or was gone already)."""
    backend = store.backend
    # The name carries the time it was moved: a file moved by rename keeps its old mtime.
    aside = f"{_ASIDE}{int(time.time())}-{uuid.uuid4().hex}"
    try:
        backend.move(key, aside)
    except FileNotFoundError:
        return False
    if key in _objects_in_use(store, digest):
        if backend.exists(key):
            backend.delete(aside)  # the writer's copy is in place: same digest, same bytes
        else:
            backend.move(aside, key)
        return False
    backend.delete(aside)
    return True


def _aside_time(key: str) -> datetime | None:
    """When a collection moved this object aside (from its name), or None.

    A collection that crashed leaves it there; a later one removes it once it is old.
    """
    stamp = key[len(_ASIDE) :].split("-", 1)[0]
    if not stamp.isdigit():
        return None
    return datetime.fromtimestamp(int(stamp), UTC)


def _remove_leftover(store: Store, finding: Finding, plan: _Plan) -> bool:
    """Delete an orphan, a temporary file or an upload unless it was written since the survey."""
    backend, key = store.backend, finding.key
    if key.startswith(_ASIDE):
        backend.delete(key)
        return True
    try:
        info = backend.stat(key)
    except FileNotFoundError:
        return False
    if info.modified is None or info.modified > plan.leftover_cutoff or not info.regular:
        return False
    if finding.kind == "orphan" and finding.digest is not None:
        if key in _objects_in_use(store, finding.digest):
            return False  # its manifest has just been written: a write finishing
        return _remove_object(store, key, finding.digest)
    backend.delete(key)
    return True


def _remove_stale_leases(store: Store, plan: _Plan) -> None:
    """Remove the leases of collections that died long ago (expired for ten lease periods)."""
    backend = store.backend
    for info in list(backend.list("gc/")):
        parsed = parse_key(info.key)
        if parsed is None or parsed.kind != "gc-lease" or info.modified is None:
            continue
        if info.modified < plan.started - 10 * LEASE_FOR:
            backend.delete(info.key)
