"""The abstract Store: content-addressed, verified, atomic payload storage.

Backends implement a handful of primitives on keys relative to the store's root
(``_read_small``, ``_write_small``, ``_write_object``, ``_read_object``, ``_exists``,
``_delete``, ``_list``); everything users call — choosing a serializer, hashing, dedup,
manifests, signatures, verification before decoding, clear errors — lives here once.

On-store layout::

    objects/<algorithm>/<2 hex>/<hex><extension>     the bytes, e.g. a plain .parquet file
    manifests/<algorithm>/<2 hex>/<hex>.json         what they are; written after the object
    records/<kind>/<name>.json                       run records and other small JSON
    tmp/                                             temporary files of writes in progress

A payload exists once its manifest exists; the manifest is written only after the whole
object, and deleted before it, so no manifest ever points at missing or partial bytes.
"""

from __future__ import annotations

import dataclasses
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from payloadkit._config import settings
from payloadkit._digest import hash_buffers, parse_digest
from payloadkit._encode import Encoded, encode
from payloadkit._manifest import Manifest, manifest_key, now
from payloadkit._ref import PayloadRef
from payloadkit._registry import registry
from payloadkit._serializer import Serializer, python_version
from payloadkit._signing import Keyring
from payloadkit._versions import newer_than
from payloadkit.errors import (
    ConfigurationError,
    DeserializationError,
    IntegrityError,
    PayloadkitError,
    PayloadNotFoundError,
    SignatureError,
    StoreError,
    UnknownSerializerError,
)

__all__ = ["REFRESH_AFTER", "Callback", "Store"]

_RECORD_NAME_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,199}\Z")
_MANIFEST_NAME_RE = re.compile(r"\Amanifests/(blake3|sha256)/[0-9a-f]{2}/([0-9a-f]{64})\.json\Z")
MAX_RECORD_BYTES = 64 * 1024 * 1024
#: Saving a stored payload whose manifest is older than this rewrites the manifest with the
#: current time (a younger one is left alone: a dedup hit then writes nothing). Garbage
#: collection never removes a payload younger than this, whatever its cutoff.
REFRESH_AFTER = timedelta(minutes=10)
#: Errors a serializer raises without naming the payload; get() adds the payload's context.
_REWRAPPED = (DeserializationError, IntegrityError, ConfigurationError)

Callback = Any  # an fsspec.callbacks.Callback, or anything with set_size/relative_update


class Store(ABC):
    """A place payloads are put and got, named by a URL. Open one with :func:`open_store`.

    ```python
    import payloadkit as pk

    store = pk.open_store("memory://store-doc")
    ref = store.put([1, 2, 3])
    assert store.get(ref) == [1, 2, 3] and store.exists(ref)
    assert [r.digest for r in store] == [ref.digest]
    store.delete(ref)
    ```
    """

    #: The backend can write (put, delete, records).
    supports_writes: ClassVar[bool] = True
    #: The backend can delete.
    supports_deletes: ClassVar[bool] = True
    #: The backend reads objects as copy-on-write memory mappings (zero-copy loads).
    supports_mmap: ClassVar[bool] = False

    def __init__(self, url: str, *, trusted_serializers: frozenset[str] | None = None) -> None:
        #: The store's URL, without credentials; recorded in the refs it returns.
        self.url = url
        self.trusted_serializers = trusted_serializers

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    # -- primitives ---------------------------------------------------------------
    @abstractmethod
    def _read_small(self, key: str) -> bytes:
        """The bytes at ``key``; FileNotFoundError when missing."""

    @abstractmethod
    def _write_small(self, key: str, data: bytes) -> None:
        """Write ``data`` at ``key`` atomically, replacing what is there."""

    @abstractmethod
    def _write_object(self, key: str, encoded: Encoded, callback: Callback | None) -> None:
        """Write the encoded frames or spool file at ``key`` atomically."""

    @abstractmethod
    def _read_object(self, key: str, size: int, callback: Callback | None) -> memoryview:
        """A writable (or copy-on-write) view of the bytes at ``key``; FileNotFoundError."""

    @abstractmethod
    def _exists(self, key: str) -> bool:
        """True when ``key`` holds an object (never from a stale listing)."""

    @abstractmethod
    def _delete(self, key: str) -> None:
        """Remove ``key``; no error when it is already gone."""

    @abstractmethod
    def _list(self, prefix: str) -> Iterator[str]:
        """Keys under ``prefix`` (relative to the root), freshly listed."""

    def _spool_dir(self) -> str | None:
        """A local directory for serializers that write files (None: the system's temp)."""
        return None

    # -- public API ---------------------------------------------------------------
    def put(
        self,
        obj: Any,
        serializer: str | Serializer | None = None,
        *,
        callback: Callback | None = None,
    ) -> PayloadRef:
        """Store ``obj`` and return its ref; identical bytes are stored once."""
        self._require_writes("put")
        encoded = encode(obj, serializer, self._spool_dir())
        try:
            return self._put_encoded(encoded, callback)
        finally:
            encoded.release()

    def _put_encoded(self, encoded: Encoded, callback: Callback | None) -> PayloadRef:
        serializer = encoded.serializer
        ref = PayloadRef(
            encoded.digest,
            serializer.name,
            serializer.version,
            encoded.size,
            encoded.type_name,
            self.url,
        )
        try:
            existing = self._find_manifest(ref.digest)
        except IntegrityError:
            existing = None  # a corrupt manifest is replaced by the one written below
        keyring = settings().keyring
        if existing is not None and not _signed_enough(existing, keyring):
            existing = None  # unsigned or foreign: rewrite both the bytes and the manifest
        if existing is not None and existing.ref.serializer != ref.serializer:
            raise StoreError(
                f"The bytes of this {ref.type} are already stored as {ref.digest} under serializer "
                f"{existing.ref.serializer!r}, not {ref.serializer!r}, in {self.url}. Use that "
                "serializer for this object, or another store.",
                digest=ref.digest,
                store=self.url,
            )
        try:
            stored = existing is not None and self._exists(existing.object_key)
        except OSError as exc:
            raise self._store_error("check", ref.digest, exc) from exc
        # An old payload saved again gets its manifest rewritten with a fresh time, so a
        # collection running now sees it as new (see payloadkit._maintenance).
        if (
            existing is not None
            and stored
            and _signed_by_signer(existing, keyring)
            and datetime.now(UTC) - existing.created_at < REFRESH_AFTER
        ):
            return existing.ref
        manifest = Manifest(
            ref.with_store(None),
            serializer.extension,
            now(),
            python_version(),
            serializer.library_versions(),
            registry.distribution_of(serializer.name),
        )
        if keyring is not None:
            manifest = dataclasses.replace(manifest, signature=keyring.sign(manifest.signed_fields))
        try:
            if not stored:
                self._write_object(manifest.object_key, encoded, callback)
            self._write_small(manifest_key(ref.digest), manifest.to_bytes())
            if stored and not self._exists(manifest.object_key):
                # A collection removed the bytes between the check and the new manifest.
                self._write_object(manifest.object_key, encoded, callback)
                self._write_small(manifest_key(ref.digest), manifest.to_bytes())
        except PayloadkitError:
            raise
        except OSError as exc:
            raise self._store_error("write", ref.digest, exc) from exc
        return ref

    def get(self, ref: PayloadRef | str, *, callback: Callback | None = None) -> Any:
        """Load the object: the manifest is checked, then the bytes are verified, then decoded."""
        manifest = self.info(ref)
        meta = manifest.ref
        serializer = self._loadable(manifest, ref)
        data = self._fetch(manifest, callback)
        try:
            return serializer.load(data, meta.type)
        except PayloadkitError as exc:
            if exc.digest is not None or type(exc) not in _REWRAPPED:
                raise
            # A serializer's own error: say which payload, and which Python wrote it.
            raise type(exc)(
                f"Cannot load {meta.digest} ({meta.type}) from {self.url} with "
                f"{meta.serializer}: {exc} It was written by Python {manifest.python}; "
                f"this is Python {python_version()}.",
                digest=meta.digest,
                type_name=meta.type,
                store=self.url,
            ) from None
        except Exception as exc:
            raise DeserializationError(
                f"The {serializer.name} serializer failed to load {meta.digest} ({meta.type}) from "
                f"{self.url}: {type(exc).__name__}: {exc}. The bytes are intact (digest verified); "
                f"it was written by Python {manifest.python} with {manifest.libraries or 'no recorded libraries'}; "
                f"this is Python {python_version()}: install matching versions.",
                digest=meta.digest,
                type_name=meta.type,
                store=self.url,
            ) from exc

    def _fetch(self, manifest: Manifest, callback: Callback | None) -> memoryview:
        """The verified bytes of a payload (a backend may serve them from a local cache)."""
        return self._fetch_uncached(manifest, callback)

    def _fetch_uncached(self, manifest: Manifest, callback: Callback | None) -> memoryview:
        """The verified bytes of a payload, read from the store itself (never a cache)."""
        meta = manifest.ref
        try:
            data = self._read_object(manifest.object_key, meta.size, callback)
        except FileNotFoundError:
            raise PayloadNotFoundError(
                f"The manifest of {meta.digest} ({meta.type}) is in {self.url} but its bytes are "
                "missing. Run `payloadkit verify` and save the payload again.",
                digest=meta.digest,
                type_name=meta.type,
                store=self.url,
            ) from None
        except OSError as exc:
            raise self._store_error("read", meta.digest, exc) from exc
        self._verify(data, manifest)
        return data

    def info(self, ref: PayloadRef | str) -> Manifest:
        """The manifest of a payload; PayloadNotFoundError when it is not in this store."""
        digest = ref.digest if isinstance(ref, PayloadRef) else ref
        manifest = self._find_manifest(digest)
        if manifest is None:
            raise PayloadNotFoundError(
                f"No payload {digest} in {self.url}. Check the store URL (and storage options), "
                "or list what the store holds with `payloadkit ls`.",
                digest=digest,
                store=self.url,
            )
        return manifest

    def exists(self, ref: PayloadRef | str) -> bool:
        """True when the payload is in this store."""
        digest = ref.digest if isinstance(ref, PayloadRef) else ref
        return self._find_manifest(digest) is not None

    def delete(self, ref: PayloadRef | str) -> None:
        """Remove a payload: its manifest first, then its bytes."""
        self._require_writes("delete")
        manifest = self.info(ref)
        try:
            self._delete(manifest_key(manifest.ref.digest))
            self._delete(manifest.object_key)
        except OSError as exc:
            raise self._store_error("delete", manifest.ref.digest, exc) from exc

    def __iter__(self) -> Iterator[PayloadRef]:
        """The refs of every payload in the store, in digest order."""
        for manifest in self.manifests():
            yield manifest.ref

    def manifests(self) -> Iterator[Manifest]:
        """The manifests of every payload in the store, in digest order."""
        keys = sorted(k for k in self._listed("manifests/") if _MANIFEST_NAME_RE.match(k))
        for key in keys:
            match = _MANIFEST_NAME_RE.match(key)
            assert match is not None
            manifest = self._find_manifest(f"{match.group(1)}:{match.group(2)}")
            if manifest is not None:
                yield manifest

    # -- records (run records and other small JSON documents) ---------------------
    def put_record(self, kind: str, name: str, record: dict[str, Any]) -> None:
        """Write a small JSON document under ``records/<kind>/<name>.json`` atomically."""
        self._require_writes("write records")
        key = _record_key(kind, name)
        try:
            self._write_small(key, json.dumps(record, sort_keys=True, indent=1).encode())
        except OSError as exc:
            raise self._store_error("write", None, exc, f"the {kind} record {name!r}") from exc

    def get_record(self, kind: str, name: str) -> dict[str, Any]:
        """Read a record; PayloadNotFoundError when it does not exist."""
        try:
            raw = self._read_small(_record_key(kind, name))
        except FileNotFoundError:
            raise PayloadNotFoundError(
                f"No {kind} record {name!r} in {self.url}.", store=self.url
            ) from None
        except OSError as exc:
            raise self._store_error("read", None, exc, f"the {kind} record {name!r}") from exc
        if len(raw) > MAX_RECORD_BYTES:
            raise IntegrityError(
                f"The {kind} record {name!r} in {self.url} is too large to be one."
            )
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise IntegrityError(
                f"The {kind} record {name!r} in {self.url} is not JSON: {exc}."
            ) from None
        if not isinstance(data, dict):
            raise IntegrityError(f"The {kind} record {name!r} in {self.url} is not a JSON object.")
        return data

    def list_records(self, kind: str) -> list[str]:
        """Names of the records of ``kind``, sorted."""
        _record_key(kind, "x")
        prefix = f"records/{kind}/"
        return sorted(k[len(prefix) : -5] for k in self._listed(prefix) if k.endswith(".json"))

    def delete_record(self, kind: str, name: str) -> None:
        """Remove a record; no error when it is already gone."""
        self._require_writes("delete records")
        key = _record_key(kind, name)
        try:
            self._delete(key)
        except OSError as exc:
            raise self._store_error("delete", None, exc, f"the {kind} record {name!r}") from exc

    # -- helpers ------------------------------------------------------------------
    def _listed(self, prefix: str) -> list[str]:
        """``_list(prefix)`` read to the end, backend failures as StoreError."""
        try:
            return list(self._list(prefix))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise self._store_error("list", None, exc, f"the keys under {prefix}") from exc

    def _find_manifest(self, digest: str) -> Manifest | None:
        parse_digest(digest)
        try:
            raw = self._read_small(manifest_key(digest))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._store_error("read the manifest of", digest, exc) from exc
        return Manifest.parse(raw, self.url, digest)

    def _loadable(self, manifest: Manifest, asked: PayloadRef | str) -> Serializer:
        """The serializer to load with, after every check that needs no payload byte."""
        meta = manifest.ref
        if isinstance(asked, PayloadRef) and asked.serializer != meta.serializer:
            raise IntegrityError(
                f"The ref says {meta.digest} was written by {asked.serializer!r}; the store's "
                f"manifest says {meta.serializer!r}. The ref or the store was altered.",
                digest=meta.digest,
                type_name=meta.type,
                store=self.url,
            )
        policy = (
            self.trusted_serializers
            if self.trusted_serializers is not None
            else settings().trusted_serializers
        )
        if policy is not None and meta.serializer not in policy:
            raise SignatureError(
                f"Refusing to load {meta.digest} ({meta.type}) from {self.url}: its serializer "
                f"{meta.serializer!r} is not in the load policy trusted_serializers={sorted(policy)}. "
                "Add it to the policy if this store's writers are trusted.",
                digest=meta.digest,
                type_name=meta.type,
                store=self.url,
            )
        keyring = settings().keyring
        serializer = self._serializer_of(manifest, keyring)
        self._check_signature(manifest, serializer, keyring)
        if newer_than(meta.serializer_version, serializer.version):
            dist = registry.distribution_of(serializer.name)
            upgrade = (
                f"pip install --upgrade {dist}" if dist else "upgrade the code that registers it"
            )
            raise DeserializationError(
                f"{meta.digest} ({meta.type}) was written by {meta.serializer} version "
                f"{meta.serializer_version}; this installation has version {serializer.version}. "
                f"Install a release that reads version {meta.serializer_version}: {upgrade}.",
                digest=meta.digest,
                type_name=meta.type,
                store=self.url,
            )
        return serializer

    def _check_signature(
        self, manifest: Manifest, serializer: Serializer, keyring: Keyring | None
    ) -> None:
        """With a key: code-running serializers need a valid signature, and a signature
        made with one of our keys must match whatever the serializer."""
        if keyring is None:
            return
        meta = manifest.ref
        if serializer.runs_code_on_load:
            why = keyring.verify(manifest.signed_fields, manifest.signature)
            what = f"with {meta.serializer}, which can run code on load"
        elif keyring.knows(manifest.signature):
            why = keyring.verify(manifest.signed_fields, manifest.signature)
            what = f"with {meta.serializer}"
        else:
            return  # a format that runs no code loads unsigned (the digest still holds)
        if why is not None:
            raise SignatureError(
                f"Refusing to load {meta.digest} ({meta.type}) from {self.url} {what}: {why}. "
                "Save it again with the signing key configured, or add the key that signed it.",
                digest=meta.digest,
                type_name=meta.type,
                store=self.url,
            )

    def _serializer_of(self, manifest: Manifest, keyring: Keyring | None) -> Serializer:
        meta = manifest.ref
        try:
            return registry.get(meta.serializer)
        except UnknownSerializerError:
            # The distribution a manifest names is advice to install something. With a key
            # configured (the store is not trusted as such), give it only from a signed one.
            signed = _signed_enough(manifest, keyring)
            why = registry.missing(meta.serializer, manifest.distribution if signed else None)
            if manifest.distribution and not signed:
                why += (
                    f" Its manifest names the distribution {manifest.distribution!r}, but is not "
                    "signed with a configured key: check that this is the package you "
                    "expect before installing it."
                )
            raise UnknownSerializerError(
                f"{meta.digest} ({meta.type}) in {self.url} was written by serializer "
                f"{meta.serializer!r}, which is not available here. {why}",
                digest=meta.digest,
                type_name=meta.type,
                store=self.url,
            ) from None

    def _verify(self, data: memoryview, manifest: Manifest) -> None:
        meta = manifest.ref
        algorithm, _ = parse_digest(meta.digest)
        if data.nbytes != meta.size or hash_buffers([data], algorithm, data.nbytes) != meta.digest:
            raise IntegrityError(
                f"The bytes of {meta.digest} ({meta.type}) in {self.url} do not match their digest: "
                "they were corrupted or altered. Nothing was decoded. Delete the payload and save "
                "it again; `payloadkit verify` checks the whole store.",
                digest=meta.digest,
                type_name=meta.type,
                store=self.url,
            )

    def _require_writes(self, what: str) -> None:
        if not self.supports_writes:
            raise StoreError(f"The store {self.url} is read-only; cannot {what}.", store=self.url)

    def _store_error(
        self, action: str, digest: str | None, exc: BaseException, subject: str | None = None
    ) -> StoreError:
        reason = f"{type(exc).__name__}: {exc}" if not isinstance(exc, OSError) else _os_reason(exc)
        return StoreError(
            f"Could not {action} {subject or digest or 'a payload'} in {self.url}: {reason}. Check that the "
            "store is reachable and writable, and its free space.",
            digest=digest,
            store=self.url,
        )


def _signed_enough(manifest: Manifest, keyring: Keyring | None) -> bool:
    """True when a stored manifest is trusted: no key is configured, or it verifies."""
    return keyring is None or keyring.verify(manifest.signed_fields, manifest.signature) is None


def _signed_by_signer(manifest: Manifest, keyring: Keyring | None) -> bool:
    """True when a verified manifest is signed with the current signing key (no re-signing)."""
    signature = manifest.signature or ""
    return keyring is None or signature.split(":")[1:2] == keyring.key_ids[:1]


def _os_reason(exc: OSError) -> str:
    # The filename may hold a temporary path; strerror is what the user needs.
    return exc.strerror or type(exc).__name__


def _record_key(kind: str, name: str) -> str:
    for part in (kind, name):
        if not isinstance(part, str) or not _RECORD_NAME_RE.match(part):
            raise ConfigurationError(
                f"{str(part)[:60]!r} is not a valid record name (letters, digits, '._-')."
            )
    return f"records/{kind}/{name}.json"
