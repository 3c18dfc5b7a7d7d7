"""The Store: content-addressed, verified, atomic payload storage on any `Backend`.

Everything users call (choosing a serializer, hashing, dedup, manifests, signatures,
verification before decoding, clear errors) lives here once; a backend only moves bytes.
The on-store layout is `payloadkit._layout`'s.

A payload exists once its manifest exists. A new payload's object is written before its
manifest, so no manifest ever points at partial bytes, and checked again after it, so a
garbage collection that removed the bytes of an old orphan at that moment cannot leave the
manifest without them. Saving a payload that is already stored writes nothing while its
manifest is younger than half the store's grace period, and otherwise rewrites the manifest
with the current time and checks for a running collection (`payloadkit.stores._lease`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import warnings
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from payloadkit import _compression
from payloadkit._compression import DEFAULT, Default
from payloadkit._config import settings
from payloadkit._digest import hash_buffers, parse_digest
from payloadkit._encode import Encoded, encode
from payloadkit._layout import (
    digest_prefix,
    legacy_manifest_key,
    manifest_key,
    object_key,
    parse_key,
    record_key,
)
from payloadkit._manifest import MAX_MANIFEST_BYTES, Manifest, now
from payloadkit._ref import PayloadRef
from payloadkit._registry import registry
from payloadkit._serializer import Serializer, python_version
from payloadkit.errors import (
    AmbiguousPayloadError,
    ConfigurationError,
    DeserializationError,
    IntegrityError,
    PayloadkitError,
    PayloadNotFoundError,
    StoreError,
)
from payloadkit.stores._backend import Backend, Callback, PendingWrite, StartsWrites
from payloadkit.stores._cache import cache_from_environment
from payloadkit.stores._lease import active_leases, wait_for_leases
from payloadkit.stores._marker import (
    StoreMarker,
    create_marker,
    not_a_store,
    read_marker,
    unmarked_store,
)
from payloadkit.stores._policy import LoadPolicy, signed_by_signer, signed_enough
from payloadkit.stores._tags import (
    UNSET,
    TagEntry,
    check_name,
    missing_tag,
    read_log,
    set_tag,
    tag_names,
)

if TYPE_CHECKING:
    from payloadkit._chunks import ChunkTable
    from payloadkit._partial import PayloadHandle

__all__ = ["MAX_RECORD_BYTES", "Callback", "Store"]

MAX_RECORD_BYTES = 64 * 1024 * 1024
#: On a remote backend, a stored object this large or larger is taken as intact when its
#: size matches (reading it back to hash it would cost a download); smaller ones are hashed.
VERIFY_REMOTE_MAX = 4 * 1024 * 1024
_REPUBLISH_ATTEMPTS = 5
#: Errors a serializer raises without naming the payload; get() adds the payload's context.
_REWRAPPED = (DeserializationError, IntegrityError, ConfigurationError)


class Store:
    """A place payloads are put and got, named by a URL. Open one with `open_store`.

    ```python
    import payloadkit as pk

    store = pk.open_store("memory://store-doc")
    ref = store.put([1, 2, 3])
    assert store.get(ref) == [1, 2, 3] and store.exists(ref)
    assert [r.digest for r in store] == [ref.digest]
    store.delete(ref)
    ```
    """

    def __init__(
        self,
        backend: Backend,
        *,
        trusted_serializers: frozenset[str] | None = None,
        policy: LoadPolicy | None = None,
    ) -> None:
        #: The byte-level backend this store writes through.
        self.backend = backend
        #: The store's URL, without credentials; recorded in the refs it returns.
        self.url = backend.url
        #: Serializers allowed to load from this store (None: the configuration decides).
        self.trusted_serializers = trusted_serializers
        self._policy = policy
        self._marker: StoreMarker | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    def __getstate__(self) -> dict[str, Any]:
        # A backend may hold credentials: a store never travels pickled.
        raise TypeError(f"{self!r} cannot be pickled; send its URL and open it on the other side.")

    # -- capabilities ----------------------------------------------------------------
    @property
    def supports_writes(self) -> bool:
        """The backend can write (put, delete, records)."""
        return self.backend.supports_writes

    @property
    def supports_deletes(self) -> bool:
        """The backend can delete."""
        return self.backend.supports_deletes

    @property
    def supports_mmap(self) -> bool:
        """Objects load as copy-on-write memory mappings (zero-copy loads)."""
        return self.backend.supports_mmap

    @property
    def policy(self) -> LoadPolicy:
        """The load policy in force for this store (see `LoadPolicy`)."""
        if self._policy is not None:
            return self._policy
        current = LoadPolicy.current()
        if self.trusted_serializers is None:
            return current
        return dataclasses.replace(current, trusted_serializers=self.trusted_serializers)

    # -- being a store ------------------------------------------------------------------
    def marker(self) -> StoreMarker | None:
        """The store's marker (format 1 for a 0.1.0 store), or None where there is no store.

        A location holding anything payloadkit did not write, and no marker, raises
        `payloadkit.errors.NotAStoreError`; an empty or missing location gives None.
        """
        if self._marker is not None:
            return self._marker
        with self._failing("read", subject="the store marker"):
            found = read_marker(self.backend, self.url)
            if found is None:
                found = unmarked_store(self.backend)
            if found is None and self._holds_foreign_files():
                raise not_a_store(self.url)
        if found is not None and found.created:
            self._marker = found
        return found

    def require_store(self) -> StoreMarker:
        """The marker; NotAStoreError when the location is not (yet) a store."""
        found = self.marker()
        if found is None:
            raise not_a_store(self.url)
        return found

    def initialize(self, *, grace: timedelta | None = None) -> StoreMarker:
        """Make the location a store now (the first save does it otherwise).

        ``grace``: garbage collection never removes a payload saved this recently (default
        ten minutes); it is recorded in the marker, so every writer and collection agrees.
        """
        self._require_writes("create a store")
        found = self.marker()
        if found is not None and found.created:
            return found
        with self._failing("create", subject="the store marker"):
            self._marker = create_marker(self.backend, self.url, grace)
        return self._marker

    def _holds_foreign_files(self) -> bool:
        return any(parse_key(info.key) is None for info in self.backend.list(""))

    def _writable_marker(self) -> StoreMarker:
        found = self.marker()
        return found if found is not None and found.created else self.initialize()

    # -- put ----------------------------------------------------------------------------
    def put(
        self,
        obj: Any,
        serializer: str | Serializer | None = None,
        *,
        compression: str | Default | None = DEFAULT,
        callback: Callback | None = None,
    ) -> PayloadRef:
        """Store ``obj`` and return its ref; identical bytes are stored once.

        ``compression``: ``"auto"``, ``"zstd"``, ``"lz4"`` or None; left out, the
        configuration and then the serializer decide (see the compression guide).
        """
        self._require_writes("put")
        marker = self._writable_marker()
        with self._failing("write a spool file for", subject="a payload"):
            encoded = encode(obj, serializer, self.backend.spool_dir(), compression)
        try:
            return self._put_encoded(encoded, marker, callback)
        finally:
            encoded.release()

    def _put_encoded(
        self, encoded: Encoded, marker: StoreMarker, callback: Callback | None
    ) -> PayloadRef:
        serializer = encoded.serializer
        ref = PayloadRef(
            encoded.digest,
            serializer.name,
            serializer.version,
            encoded.size,
            encoded.type_name,
            self.url,
        )
        key = object_key(ref.digest, encoded.suffix)
        early = self._start_early(key, encoded, callback)
        try:
            with self._failing("write", ref.digest):
                self._store_encoded(ref, key, encoded, marker, callback, early)
        except FileNotFoundError as exc:
            raise self._store_error("write", ref.digest, exc) from exc
        finally:
            if early is not None:
                early.finish()
        return ref

    def _store_encoded(
        self,
        ref: PayloadRef,
        key: str,
        encoded: Encoded,
        marker: StoreMarker,
        callback: Callback | None,
        early: _Early | None,
    ) -> None:
        keyring = settings().keyring
        existing = self._existing_manifest(ref, encoded.suffix)
        if existing is not None and not signed_enough(existing, keyring):
            existing = None  # unsigned or foreign: rewrite both the bytes and the manifest
        intact = existing is not None and self._intact(key, encoded, early)
        fresh = existing is not None and existing.format >= 2 and intact
        if fresh and existing is not None and signed_by_signer(existing, keyring):
            age = datetime.now(UTC) - existing.created_at
            if age < marker.refresh_after:
                return
        manifest = Manifest(
            ref.with_store(None),
            encoded.suffix,
            now(),
            python_version(),
            encoded.serializer.library_versions(),
            registry.distribution_of(encoded.serializer.name),
            compression=encoded.compression,
            chunks=_chunk_table(encoded),
        )
        if keyring is not None:
            manifest = dataclasses.replace(manifest, signature=keyring.sign(manifest.signed_fields))
        if intact:
            self._refresh(manifest, encoded, callback)
        else:
            self._write_new(manifest, encoded, callback, early)

    def _existing_manifest(self, ref: PayloadRef, suffix: str) -> Manifest | None:
        try:
            existing = self._manifest_for_ref(ref)
        except IntegrityError:
            return None  # a corrupt manifest is replaced by the one written now
        if existing is None or existing.extension != suffix:
            return None
        return existing

    def _intact(self, key: str, encoded: Encoded, early: _Early | None) -> bool:
        """True when the stored object at ``key`` holds exactly the encoded bytes."""
        if early is not None and early.succeeded():
            return True  # just written
        try:
            info = self.backend.stat(key)
        except FileNotFoundError:
            return False
        if not info.regular or info.size != encoded.size:
            return False
        if self.backend.remote and info.size >= VERIFY_REMOTE_MAX:
            return True
        data = self.backend.read_object(key, info.size)
        algorithm, _ = parse_digest(encoded.digest)
        return (
            data.nbytes == info.size
            and hash_buffers([data], algorithm, info.size) == encoded.digest
        )

    def _write_new(
        self,
        manifest: Manifest,
        encoded: Encoded,
        callback: Callback | None,
        early: _Early | None,
    ) -> None:
        """Object, then manifest, then the object once more: a gc that moved the object of an
        old orphan aside meanwhile either sees the manifest and restores it, or we rewrite it."""
        key = manifest.object_key
        if early is None or not early.succeeded():
            self._write_object(key, encoded, callback)
        self.backend.write(manifest.key, manifest.to_bytes())
        for _attempt in range(_REPUBLISH_ATTEMPTS):
            if self.backend.exists(key):
                return
            self._write_object(key, encoded, callback)
        raise StoreError(
            f"The bytes of {manifest.ref.digest} ({manifest.ref.type}) kept disappearing from "
            f"{self.url} while they were saved: something other than payloadkit deletes them.",
            digest=manifest.ref.digest,
            store=self.url,
        )

    def _refresh(self, manifest: Manifest, encoded: Encoded, callback: Callback | None) -> None:
        """Rewrite an old payload's manifest with the current time, then make sure that no
        collection that judged the old one removed it: wait for those running, check, repair."""
        self.backend.write(manifest.key, manifest.to_bytes())
        leases = active_leases(self.backend)
        if leases:
            wait_for_leases(self.backend, leases)
        if not (self.backend.exists(manifest.key) and self.backend.exists(manifest.object_key)):
            self._write_new(manifest, encoded, callback, None)

    def _write_object(self, key: str, encoded: Encoded, callback: Callback | None) -> None:
        if encoded.path is not None:
            self.backend.write_file(key, encoded.path, callback)
        else:
            self.backend.write_frames(key, encoded.frames or [], callback)

    def _start_early(self, key: str, encoded: Encoded, callback: Callback | None) -> _Early | None:
        backend = self.backend
        if not isinstance(backend, StartsWrites) or encoded.size > backend.early_write_max:
            return None
        frames = encoded.frames or []
        if encoded.path is not None:
            with open(encoded.path, "rb") as f:
                frames = [memoryview(f.read())]
        return _Early(backend.start_write(key, frames, callback))

    # -- get ----------------------------------------------------------------------------
    def get(
        self,
        ref: PayloadRef | str,
        *,
        callback: Callback | None = None,
        columns: Sequence[str] | None = None,
        rows: slice | None = None,
        mmap: bool = False,
    ) -> Any:
        """Load the object: the manifest is checked, then the bytes are verified, then decoded.

        ``columns=[...]`` and ``rows=slice(a, b)`` read only those columns and rows of a
        table (parquet, Arrow): only the chunks they need are fetched, each verified against
        the digest the manifest records for it. ``mmap=True`` returns a read-only zero-copy
        view (``.npy``, Arrow) of the whole verified object. See the partial reads guide.
        """
        if columns is not None or rows is not None or mmap:
            from payloadkit._partial import get_partial

            return get_partial(self, self.info(ref), columns, rows, mmap)
        manifest = self.info(ref)
        meta = manifest.ref
        serializer = self.policy.serializer_for(manifest, self.url)
        record = manifest.compression
        if record is not None:  # before any byte is read
            _compression.check_loadable(
                record.codec,
                f"{meta.digest} ({meta.type}) in {self.url}",
                digest=meta.digest,
                type_name=meta.type,
                store=self.url,
            )
        data = self._fetch(manifest, callback)
        try:
            return serializer.load(_compression.undo(record, data), meta.type)
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

    def open(self, ref: PayloadRef | str) -> PayloadHandle:
        """A lazy handle on a payload: ``.columns``, ``.schema``, ``.shape``, ``.dtype`` and
        ``.read(columns=..., rows=...)``, reading only what each needs (verified)."""
        from payloadkit._partial import open_handle

        return open_handle(self, self.info(ref))

    def _fetch(self, manifest: Manifest, callback: Callback | None) -> memoryview:
        """The verified bytes of a payload, from the local cache for a remote backend."""
        cache = cache_from_environment() if self.backend.remote else None
        meta = manifest.ref
        if cache is not None:
            hit = cache.get(meta.digest, meta.size)
            if hit is not None:
                if callback is not None:
                    callback.set_size(meta.size)
                    callback.relative_update(meta.size)
                return hit
        data = self.read_verified(manifest, callback)
        if cache is not None:
            cache.put(meta.digest, data)
        return data

    def read_verified(self, manifest: Manifest, callback: Callback | None = None) -> memoryview:
        """A payload's stored bytes, read from the backend itself (never a cache) and checked
        against their digest; nothing is decoded."""
        meta = manifest.ref
        try:
            with self._failing("read", meta.digest):
                data = self.backend.read_object(manifest.object_key, meta.size, callback)
        except FileNotFoundError:
            raise self._bytes_missing(meta) from None
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
        return data

    # -- info, exists, delete, listing -----------------------------------------------------
    def _bytes_missing(self, meta: PayloadRef) -> PayloadNotFoundError:
        """The error of a payload whose manifest is here but whose bytes are not."""
        return PayloadNotFoundError(
            f"The manifest of {meta.digest} ({meta.type}) is in {self.url} but its bytes are "
            "missing. Run `payloadkit verify` and save the payload again.",
            digest=meta.digest,
            type_name=meta.type,
            store=self.url,
        )

    def info(self, ref: PayloadRef | str) -> Manifest:
        """The manifest of a payload; PayloadNotFoundError when it is not in this store.

        A bare digest names the payload with those bytes; when several payloads share them
        (saved as several types or with several serializers) it raises
        `payloadkit.errors.AmbiguousPayloadError`: give the ref.
        """
        manifest = self._lookup(ref)
        if manifest is None:
            digest = ref.digest if isinstance(ref, PayloadRef) else ref
            what = (
                f"{digest} ({ref.type} with {ref.serializer})"
                if isinstance(ref, PayloadRef)
                else digest
            )
            raise PayloadNotFoundError(
                f"No payload {what} in {self.url}. Check the store URL (and storage options), "
                "or list what the store holds with `payloadkit ls`.",
                digest=digest,
                type_name=ref.type if isinstance(ref, PayloadRef) else None,
                store=self.url,
            )
        return manifest

    def exists(self, ref: PayloadRef | str) -> bool:
        """True when the payload is in this store (for a bare digest: any payload with those bytes)."""
        if isinstance(ref, PayloadRef):
            return self._lookup(ref) is not None
        return bool(self.manifests_of(ref))

    def _lookup(self, ref: PayloadRef | str) -> Manifest | None:
        if self.marker() is None:
            parse_digest(ref.digest if isinstance(ref, PayloadRef) else ref)
            return None
        if isinstance(ref, PayloadRef):
            return self._manifest_for_ref(ref)
        found = self.manifests_of(ref)
        if len(found) > 1:
            kinds = ", ".join(f"{m.ref.type} ({m.ref.serializer})" for m in found[:5])
            raise AmbiguousPayloadError(
                f"{ref} names {len(found)} payloads in {self.url} with the same bytes: {kinds}. "
                "Load it through its ref, which says which one.",
                digest=ref,
                store=self.url,
            )
        return found[0] if found else None

    def _manifest_for_ref(self, ref: PayloadRef) -> Manifest | None:
        found = self._read_manifest(manifest_key(ref.digest, ref.serializer, ref.type), ref.digest)
        if found is None and self._may_have_legacy():
            found = self._read_manifest(legacy_manifest_key(ref.digest), ref.digest)
            if found is not None and (found.ref.serializer, found.ref.type) != (
                ref.serializer,
                ref.type,
            ):
                return None
        return found

    def manifests_of(self, digest: str) -> list[Manifest]:
        """Every payload stored with the bytes ``digest`` names (one per type and serializer).

        A damaged manifest raises `payloadkit.errors.IntegrityError`.
        """
        parse_digest(digest)
        if self.marker() is None:
            return []
        with self._failing("list the manifests of", digest):
            keys = sorted(i.key for i in self.backend.list(digest_prefix(digest)))
        found = [m for k in keys if _is_manifest(k) for m in [self._read_manifest(k, digest)] if m]
        if self._may_have_legacy():
            legacy = self._read_manifest(legacy_manifest_key(digest), digest)
            seen = {(m.ref.serializer, m.ref.type) for m in found}
            if legacy is not None and (legacy.ref.serializer, legacy.ref.type) not in seen:
                found.append(legacy)
        return found

    def _read_manifest(self, key: str, digest: str) -> Manifest | None:
        try:
            with self._failing("read the manifest of", digest):
                raw = self.backend.read(key, MAX_MANIFEST_BYTES)
        except FileNotFoundError:
            return None
        except StoreError as exc:
            if not isinstance(exc.__cause__, OSError) or exc.__cause__.errno not in _BAD_FILE:
                raise
            raise IntegrityError(
                f"The manifest of {digest} in {self.url} is unreadable ({exc.__cause__.strerror}): "
                "it is damaged. Run `payloadkit verify`; delete the payload and save it again.",
                digest=digest,
                store=self.url,
            ) from None
        return Manifest.parse(raw, self.url, digest, key)

    def _may_have_legacy(self) -> bool:
        found = self.marker()
        return found is not None and found.legacy

    def delete(self, ref: PayloadRef | str) -> None:
        """Remove a payload: its manifest first, then its bytes unless another payload shares them.

        A bare digest removes every payload with those bytes. A payload whose manifest is
        damaged can be deleted too: its bytes are found by their name, whatever their extension.
        """
        self._require_writes("delete")
        digest = ref.digest if isinstance(ref, PayloadRef) else ref
        parse_digest(digest)
        if self.marker() is None:
            return
        with self._failing("delete", digest):
            for key in self._manifest_keys(ref):
                self.backend.delete(key)
            kept = self._object_keys_in_use(digest)
            for key in self._object_keys(digest):
                if key not in kept:
                    self.backend.delete(key)

    def _manifest_keys(self, ref: PayloadRef | str) -> list[str]:
        if isinstance(ref, PayloadRef):
            keys = [manifest_key(ref.digest, ref.serializer, ref.type)]
            with contextlib.suppress(PayloadkitError):
                legacy = self._read_manifest(legacy_manifest_key(ref.digest), ref.digest)
                if legacy is not None and (legacy.ref.serializer, legacy.ref.type) == (
                    ref.serializer,
                    ref.type,
                ):
                    keys.append(legacy.key)
            return keys
        listed = [i.key for i in self.backend.list(digest_prefix(ref)) if _is_manifest(i.key)]
        return [*listed, legacy_manifest_key(ref)]

    def _object_keys_in_use(self, digest: str) -> set[str]:
        """Object keys the remaining manifests of ``digest`` point at (all, if one is damaged)."""
        try:
            return {m.object_key for m in self.manifests_of(digest)}
        except IntegrityError:
            return set(self._object_keys(digest))

    def _object_keys(self, digest: str) -> list[str]:
        """The keys of stored objects named by ``digest``, whatever their extension."""
        algorithm, hexdigest = parse_digest(digest)
        prefix = f"objects/{algorithm}/{hexdigest[:2]}/{hexdigest}"
        keys = []
        for info in self.backend.list(prefix):
            parsed = parse_key(info.key)
            if parsed is not None and parsed.kind == "object" and parsed.digest == digest:
                keys.append(info.key)
        return keys

    def __iter__(self) -> Iterator[PayloadRef]:
        """The refs of every payload in the store, in digest order (see `manifests`)."""
        for manifest in self.manifests():
            yield manifest.ref

    def manifests(self) -> Iterator[Manifest]:
        """The manifests of every payload in the store, in digest order.

        One damaged manifest does not hide the rest of the store: it is skipped with a
        ``UserWarning`` naming its digest (``payloadkit verify`` reports it too; saving
        the payload again or deleting it repairs the store). A store that cannot be
        listed or read at all raises `StoreError`.
        """
        if self.marker() is None:
            return
        with self._failing("list", subject="the manifests"):
            parsed = [p for p in map(parse_key, self._keys("manifests/")) if p is not None]
        seen: set[tuple[str, str, str]] = set()
        for item in sorted(parsed, key=lambda p: (p.digest or "", p.kind, p.key)):
            if item.kind not in ("manifest", "legacy-manifest") or item.digest is None:
                continue
            try:
                manifest = self._read_manifest(item.key, item.digest)
            except IntegrityError as exc:
                warnings.warn(
                    f"Skipping {item.digest} while listing: {exc}", UserWarning, stacklevel=2
                )
                continue
            if manifest is None:
                continue
            identity = (item.digest, manifest.ref.serializer, manifest.ref.type)
            if identity not in seen:
                seen.add(identity)
                yield manifest

    def _keys(self, prefix: str) -> list[str]:
        return [info.key for info in self.backend.list(prefix)]

    # -- names (tags) -------------------------------------------------------------
    def tag(
        self, name: str, ref: PayloadRef | str, *, expect: Any = UNSET, retries: int = 0
    ) -> TagEntry:
        """Point ``name`` at a payload; the change is added to the name's history.

        With ``expect`` (a ref, a digest, or None for "not tagged yet") the name moves only
        if it points there now. A writer that loses a race raises
        `payloadkit.errors.TagConflictError`; without ``expect`` it first tries again
        up to ``retries`` times.
        """
        self._require_writes("tag a payload")
        name = check_name(name, self.url)
        target = self.info(ref).ref
        self._writable_marker()
        return set_tag(self, name, target, expect, retries)

    def untag(self, name: str, *, expect: Any = UNSET) -> TagEntry:
        """Remove ``name`` (its history is kept); PayloadNotFoundError when it is not set."""
        self._require_writes("remove a tag")
        current = self._tag_current(name)
        if current is None or current.ref is None:
            raise missing_tag(self, name, None)
        return set_tag(self, name, None, expect, 0)

    def resolve(self, name: str) -> PayloadRef:
        """The ref ``name`` points at; PayloadNotFoundError (naming the tag) when it points
        at nothing or at a payload that is no longer in the store."""
        current = self._tag_current(name)
        if current is None or current.ref is None or not self.exists(current.ref):
            raise missing_tag(self, name, current)
        return current.ref

    def tags(self) -> dict[str, PayloadRef]:
        """Every name set in the store and the ref it points at, by name."""
        if self.marker() is None:
            return {}
        found = {}
        for name in tag_names(self):
            current = read_log(self, name).current()
            if current is not None and current.ref is not None:
                found[name] = current.ref
        return found

    def history(self, name: str) -> list[TagEntry]:
        """Every change of ``name``, oldest first (``ref`` None: it was removed then)."""
        name = check_name(name, self.url)
        changes = read_log(self, name).chain() if self.marker() is not None else []
        if not changes:
            raise missing_tag(self, name, None)
        return changes

    def _tag_current(self, name: str) -> TagEntry | None:
        name = check_name(name, self.url)
        return read_log(self, name).current() if self.marker() is not None else None

    # -- records (run records and other small JSON documents) ---------------------
    def put_record(self, kind: str, name: str, record: dict[str, Any]) -> None:
        """Write a small JSON document under ``records/<kind>/<name>.json`` atomically."""
        self._require_writes("write records")
        key = _record_key(kind, name)
        self._writable_marker()
        try:
            data = json.dumps(record, sort_keys=True, indent=1).encode()
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"The {kind} record {name!r} is not JSON: {exc}.") from None
        with self._failing("write", subject=f"the {kind} record {name!r}"):
            self.backend.write(key, data)

    def get_record(self, kind: str, name: str) -> dict[str, Any]:
        """Read a record; PayloadNotFoundError when it does not exist, IntegrityError when damaged."""
        key = _record_key(kind, name)
        try:
            if self.marker() is None:
                raise FileNotFoundError(key)
            with self._failing("read", subject=f"the {kind} record {name!r}"):
                raw = self.backend.read(key, MAX_RECORD_BYTES)
        except FileNotFoundError:
            raise PayloadNotFoundError(
                f"No {kind} record {name!r} in {self.url}.", store=self.url
            ) from None
        except StoreError as exc:
            if isinstance(exc.__cause__, OSError) and exc.__cause__.errno in _BAD_FILE:
                raise IntegrityError(
                    f"The {kind} record {name!r} in {self.url} is unreadable: {exc.__cause__.strerror}.",
                    store=self.url,
                ) from None
            raise
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise IntegrityError(
                f"The {kind} record {name!r} in {self.url} is not JSON: {str(exc)[:200]}."
            ) from None
        if not isinstance(data, dict):
            raise IntegrityError(f"The {kind} record {name!r} in {self.url} is not a JSON object.")
        return data

    def list_records(self, kind: str) -> list[str]:
        """Names of the records of ``kind``, sorted."""
        _record_key(kind, "x")
        if self.marker() is None:
            return []
        prefix = f"records/{kind}/"
        with self._failing("list", subject=f"the {kind} records"):
            keys = self._keys(prefix)
        return sorted(
            k[len(prefix) : -5]
            for k in keys
            if (p := parse_key(k)) is not None and p.kind == "record"
        )

    def delete_record(self, kind: str, name: str) -> None:
        """Remove a record; no error when it is already gone."""
        self._require_writes("delete records")
        key = _record_key(kind, name)
        if self.marker() is None:
            return
        with self._failing("delete", subject=f"the {kind} record {name!r}"):
            self.backend.delete(key)

    # -- helpers ------------------------------------------------------------------
    @contextlib.contextmanager
    def _failing(
        self, action: str, digest: str | None = None, subject: str | None = None
    ) -> Iterator[None]:
        """Backend failures (other than a missing key) as StoreError naming what was done."""
        try:
            yield
        except (PayloadkitError, FileNotFoundError):
            raise
        except OSError as exc:
            raise self._store_error(action, digest, exc, subject) from exc

    def _require_writes(self, what: str) -> None:
        if not self.supports_writes:
            raise StoreError(f"The store {self.url} is read-only; cannot {what}.", store=self.url)

    def _store_error(
        self, action: str, digest: str | None, exc: OSError, subject: str | None = None
    ) -> StoreError:
        reason = _os_reason(exc)
        advice = _ADVICE.get(
            exc.errno or 0, "Check that the store is reachable and writable, and its free space."
        )
        return StoreError(
            f"Could not {action} {subject or digest or 'a payload'} in {self.url}: {reason}. {advice}",
            digest=digest,
            store=self.url,
        )


class _Early:
    """An object write started before the store knew whether it holds the object."""

    def __init__(self, pending: PendingWrite) -> None:
        self._pending = pending
        self._outcome: bool | None = None

    def succeeded(self) -> bool:
        """Wait for the write; True when it completed (its error is kept, not raised)."""
        if self._outcome is None:
            try:
                self._pending.wait()
                self._outcome = True
            except Exception:
                self._outcome = False
        return self._outcome

    def finish(self) -> None:
        """Make sure no request outlives the put."""
        self.succeeded()


_BAD_FILE = frozenset({errno.EINVAL, errno.EFBIG, errno.EISDIR, errno.ELOOP})
_ADVICE = {
    errno.ENOSPC: "The disk is full: free space, or choose another store; nothing half-written is visible.",
    errno.EDQUOT: "The disk quota is exhausted: free space, or choose another store.",
    errno.EROFS: "The store is on a read-only filesystem: choose a writable location.",
    errno.EACCES: "Permission denied: check the store's permissions.",
    errno.EPERM: "Permission denied: check the store's permissions.",
}


def _chunk_table(encoded: Encoded) -> ChunkTable | None:
    """The per-chunk digests partial reads verify against (serializers that offer them)."""
    if not encoded.serializer.partial_reads:
        return None
    from payloadkit._partial import chunk_table_for

    return chunk_table_for(encoded)


def _is_manifest(key: str) -> bool:
    parsed = parse_key(key)
    return parsed is not None and parsed.kind == "manifest"


def _os_reason(exc: OSError) -> str:
    # The filename may hold a temporary path; strerror is what the user needs.
    return exc.strerror or (str(exc)[:200] if str(exc) else type(exc).__name__)


def _record_key(kind: str, name: str) -> str:
    key = record_key(kind, name)
    if key is None:
        shown = kind if record_key(kind, "x") is None else name
        raise ConfigurationError(
            f"{str(shown)[:60]!r} is not a valid record name (letters, digits, '._-')."
        )
    return key
