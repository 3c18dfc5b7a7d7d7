"""Checking a store: :func:`verify_store`, and what checking and cleaning share.

This and garbage collection (:mod:`payloadkit._gc`) work from the store alone
(manifests, objects, run records, ``tmp/``), so they run on any store a URL names,
whoever wrote it.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, TypeVar

from payloadkit._config import settings
from payloadkit._digest import hash_buffers, parse_digest
from payloadkit._manifest import Manifest, manifest_key
from payloadkit._registry import registry
from payloadkit.errors import IntegrityError, PayloadkitError, PayloadNotFoundError, StoreError
from payloadkit.stores import FsspecStore, LocalStore, Store
from payloadkit.stores._s3 import S3Store

__all__ = [
    "Finding",
    "VerifyReport",
    "parse_age",
    "read_verified",
    "resolve_digest",
    "verify_store",
]

P = ParamSpec("P")
R = TypeVar("R")

#: Orphans and temporary files younger than this are writes in progress, not problems.
IN_PROGRESS_GRACE = timedelta(hours=1)
RUNS = "runs"
_HEX = frozenset("0123456789abcdef")


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
    """What :func:`verify_store` checked and found; ``ok`` when there is no problem."""

    url: str
    payloads: int = 0
    bytes: int = 0
    problems: list[Finding] = field(default_factory=list)
    in_progress: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every payload verified and nothing is left over."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """JSON form, for ``payloadkit verify --json``."""
        return {
            "url": self.url,
            "ok": self.ok,
            "payloads": self.payloads,
            "bytes": self.bytes,
            "problems": [f.__dict__ for f in self.problems],
            "in_progress": [f.__dict__ for f in self.in_progress],
        }


def _store_errors(function: Callable[P, R]) -> Callable[P, R]:
    """Report a store failing during ``function(store, ...)`` as StoreError, not OSError."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except OSError as exc:
            url = getattr(args[0], "url", None)
            raise StoreError(
                f"{function.__name__} on {url} stopped: the store failed "
                f"({exc.strerror or type(exc).__name__}). Each step leaves the store "
                "consistent: run it again once the store is reachable.",
                store=url,
            ) from exc

    return wrapper


def read_verified(store: Store, manifest: Manifest, callback: Any = None) -> memoryview:
    """A payload's stored bytes, checked against their digest (nothing is decoded).

    Reads the store itself, never the local cache, so that verification sees what is stored.
    """
    return store._fetch_uncached(manifest, callback)


def resolve_digest(store: Store, text: str) -> str:
    """The full digest ``text`` names: a full digest, or a unique prefix of one.

    ``"blake3:6efb7a"`` and ``"6efb7a"`` both name the one payload whose digest starts
    so; no match or several matches raise PayloadNotFoundError saying which.
    """
    text = text.strip().lower()
    with contextlib.suppress(PayloadkitError):
        parse_digest(text)
        return text
    matches = [
        d
        for d in _manifest_digests(store)
        if d.startswith(text) or d.split(":")[1].startswith(text)
    ]
    if len(matches) == 1:
        return matches[0]
    found = (
        "no payload" if not matches else f"{len(matches)} payloads ({', '.join(matches[:3])}...)"
    )
    raise PayloadNotFoundError(
        f"{text!r} matches {found} in {store.url}. Give more of the digest; "
        "`payloadkit ls` lists them.",
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


def _modified(store: Store, key: str) -> datetime | None:
    """When ``key`` was last written, or None when the backend cannot tell."""
    try:
        if isinstance(store, LocalStore):
            return datetime.fromtimestamp(os.stat(store._path(key)).st_mtime, UTC)
        if isinstance(store, FsspecStore):
            stamp: datetime = store.fs.modified(store._path(key))
            return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    except (OSError, NotImplementedError, AttributeError):
        return None
    return None


def _size(store: Store, key: str) -> int:
    with contextlib.suppress(OSError, NotImplementedError):
        if isinstance(store, LocalStore):
            return os.stat(store._path(key)).st_size
        if isinstance(store, FsspecStore):
            return int(store.fs.size(store._path(key)))
    return 0


# -- walking the store ------------------------------------------------------------
def _digest_of_key(key: str) -> str | None:
    """``objects/blake3/ab/<hex>.parquet`` -> ``blake3:<hex>``; None for a foreign key."""
    parts = key.split("/")
    if len(parts) != 4 or parts[1] not in ("blake3", "sha256"):
        return None
    hexdigest = parts[3].split(".", 1)[0]
    if len(hexdigest) != 64 or not set(hexdigest) <= _HEX or parts[2] != hexdigest[:2]:
        return None
    return f"{parts[1]}:{hexdigest}"


def _manifest_digests(store: Store) -> list[str]:
    return sorted(d for d in map(_digest_of_key, store._list("manifests/")) if d is not None)


def _read_manifest(store: Store, digest: str) -> Manifest | None:
    try:
        raw = store._read_small(manifest_key(digest))
    except FileNotFoundError:
        return None
    return Manifest.parse(raw, store.url, digest)


def _read_manifest_quietly(store: Store, digest: str) -> Manifest | None:
    """The manifest, or None when it is missing or cannot be read."""
    try:
        return _read_manifest(store, digest)
    except IntegrityError:
        return None


def _unowned_objects(store: Store, digests: set[str]) -> tuple[list[str], list[str]]:
    """Object keys without a manifest file: (named by a digest, foreign files)."""
    orphans, foreign = [], []
    for key in store._list("objects/"):
        digest = _digest_of_key(key)
        if digest is None:
            foreign.append(key)
        elif digest not in digests:
            orphans.append(key)
    return orphans, foreign


def _check_payload(store: Store, digest: str, report: VerifyReport) -> str | None:
    """Verify one payload; returns its object key when its manifest is readable."""
    try:
        manifest = _read_manifest(store, digest)
    except IntegrityError as exc:
        report.problems.append(Finding("bad-manifest", manifest_key(digest), str(exc), digest))
        return None
    if manifest is None:
        return None  # deleted while we looked
    meta = manifest.ref
    report.payloads += 1
    report.bytes += meta.size
    try:
        data = store._read_object(manifest.object_key, meta.size, None)
    except FileNotFoundError:
        if _read_manifest_quietly(store, digest) is None:
            report.payloads -= 1
            report.bytes -= meta.size
            return None  # deleted (by gc) while we looked: not a problem
        msg = f"The manifest of {digest} ({meta.type}) has no object; save the payload again."
        report.problems.append(Finding("missing-object", manifest.object_key, msg, digest))
        return manifest.object_key
    algorithm, _ = parse_digest(digest)
    if data.nbytes != meta.size or hash_buffers([data], algorithm, data.nbytes) != digest:
        msg = (
            f"The bytes of {digest} ({meta.type}) do not match their digest: corrupted or altered."
        )
        report.problems.append(Finding("corrupt", manifest.object_key, msg, digest, meta.size))
    why = _signature_problem(manifest)
    if why is not None:
        msg = f"The signature of {digest} ({meta.type}) does not verify: {why}."
        report.problems.append(Finding("signature", manifest_key(digest), msg, digest))
    return manifest.object_key


def _signature_problem(manifest: Manifest) -> str | None:
    """Why the manifest's signature is a problem under the configured key, or None.

    A signature that is present but does not verify is always a problem (the manifest
    was altered, or signed with a key this process lacks). A missing signature is one
    only when the serializer can run code on load, since such a payload will not load.
    """
    keyring = settings().keyring
    if keyring is None:
        return None
    why = keyring.verify(manifest.signed_fields, manifest.signature)
    if why is None or manifest.signature:
        return why
    try:
        runs_code = registry.get(manifest.ref.serializer).runs_code_on_load
    except PayloadkitError:
        runs_code = True  # unknown here: it cannot be shown to be safe
    return f"{why}, and {manifest.ref.serializer} can run code on load" if runs_code else None


def _aged(store: Store, keys: Iterable[str]) -> Iterator[tuple[str, datetime | None]]:
    """Each key with its modification time."""
    for key in keys:
        yield key, _modified(store, key)


@_store_errors
def verify_store(store: Store, *, now: datetime | None = None) -> VerifyReport:
    """Re-hash every object and check every manifest (and signature, with a key configured).

    Also reports objects without a manifest and leftovers in ``tmp/``: as problems when
    older than an hour (a crashed write; ``payloadkit gc`` removes them), as writes in
    progress when younger.
    """
    report = VerifyReport(store.url)
    digests = _manifest_digests(store)
    for digest in digests:
        _check_payload(store, digest, report)
    cutoff = (now or datetime.now(UTC)) - IN_PROGRESS_GRACE
    orphans, foreign = _unowned_objects(store, set(digests))
    for key in foreign:
        msg = "A file payloadkit did not write (its name is no digest); remove it by hand."
        report.problems.append(Finding("foreign", key, msg, None, _size(store, key)))
    for key, when in _aged(store, [*orphans, *store._list("tmp/")]):
        kind = "leftover" if key.startswith("tmp/") else "orphan"
        what = "A temporary file" if kind == "leftover" else "An object without a manifest"
        finding = Finding(
            kind,
            key,
            f"{what}, left by an interrupted write; `payloadkit gc` removes it.",
            _digest_of_key(key),
            _size(store, key),
        )
        young = when is None or when > cutoff
        (report.in_progress if young else report.problems).append(finding)
    for finding, when in _upload_findings(store):
        (report.in_progress if when > cutoff else report.problems).append(finding)
    return report


def _upload_findings(store: Store) -> list[tuple[Finding, datetime]]:
    """Multipart uploads never completed (S3 only), each with the time it started."""
    if not isinstance(store, S3Store):
        return []
    found = []
    for key, when in store.incomplete_uploads():
        msg = (
            f"A multipart upload started {when.isoformat(timespec='seconds')} and never "
            "completed: its parts are stored (and billed) but invisible; `payloadkit gc` "
            "aborts it."
        )
        found.append((Finding("upload", key, msg, _digest_of_key(key)), when))
    return found
