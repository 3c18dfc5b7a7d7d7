"""Partial and lazy reads: only the verified chunks a decoder asks for.

``store.get(ref, columns=..., rows=...)``, ``store.get(ref, mmap=True)`` and
``store.open(ref)`` (``Payload.open()``) come here. The decoder (pyarrow, numpy, a
plugin's reader) is handed a `VerifiedFile`: a read-only, seekable file whose every byte
was checked before it is served. Bytes inside the manifest's chunk table are fetched by
chunk (adjacent chunks in one ranged request, separate runs concurrently) and each chunk
is checked against its recorded digest; any other byte is served only from the whole
object, read once and checked against the payload's own digest. A chunk that does not
match raises `payloadkit.errors.IntegrityError` naming the payload; nothing is decoded.

When the payload has no usable table (saved by an older version, too small to get one,
or, with a signing key configured, a manifest the key does not verify) the whole object
is read and verified, and the partial read is made from it: slower, never unverified.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from payloadkit._chunks import ChunkSource, ChunkTable, build_table
from payloadkit._digest import parse_digest
from payloadkit.errors import (
    DeserializationError,
    IntegrityError,
    PartialReadError,
    PayloadkitError,
)

if TYPE_CHECKING:
    from payloadkit._encode import Encoded
    from payloadkit._manifest import Manifest
    from payloadkit._serializer import Serializer
    from payloadkit.stores._base import Store

__all__ = [
    "CAPABILITIES",
    "LazyReader",
    "PayloadHandle",
    "VerifiedFile",
    "check_columns",
    "resolve_rows",
]

#: The partial reads a serializer can declare in ``Serializer.partial_reads``.
CAPABILITIES = frozenset({"open", "columns", "rows", "mmap"})
#: Separate runs of chunks are fetched concurrently, this many at a time (remote stores).
_CONCURRENCY = 8
#: Adjacent chunks are fetched in one request up to this many bytes (a whole-object read's
#: range size on S3), so that a large read is still several concurrent requests.
_RUN_MAX = 64 * 1024 * 1024


class LazyReader:
    """What a serializer's `Serializer.open_reader` returns: the object's description,
    read from the verified file without loading the object, and `read`.

    Attributes a format does not have are None (an array has no ``columns``).
    """

    #: Column names, in order (tables), else None.
    columns: list[str] | None = None
    #: The format's schema (a ``pyarrow.Schema`` for parquet and Arrow), else None.
    schema: Any = None
    #: Shape of an array, or ``(rows, columns)`` of a table.
    shape: tuple[int, ...] | None = None
    #: Element type of an array, else None.
    dtype: Any = None
    #: Number of rows (first dimension), when known.
    num_rows: int | None = None

    def read(self, columns: Sequence[str] | None = None, rows: slice | None = None) -> Any:
        """The object, or only these columns / rows of it."""
        raise NotImplementedError


class VerifiedFile(io.RawIOBase):
    """A read-only file over a stored object that serves only verified bytes.

    ``prefetch(ranges)`` fetches what a reader knows it will need, concurrently; reads
    fetch whatever else on demand. ``bytes_fetched`` counts the bytes read from the store.
    """

    def __init__(
        self,
        store: Store,
        manifest: Manifest,
        table: ChunkTable | None,
        whole: memoryview | None = None,
    ) -> None:
        super().__init__()
        self._store = store
        self._manifest = manifest
        self._table = table
        self._whole = whole
        self._chunks: dict[int, memoryview] = {}
        self._lock = threading.Lock()
        self._position = 0
        #: The object's size in bytes.
        self.size = manifest.ref.size
        #: Bytes fetched from the store so far (chunks and whole reads).
        self.bytes_fetched = 0
        #: The first error a read met (a decoder may wrap it in its own; it is raised instead).
        self.failure: PayloadkitError | None = None

    # -- io.RawIOBase ------------------------------------------------------------------
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise OSError("negative seek position")
        self._position = base + offset
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        start = self._position
        end = self.size if size is None or size < 0 else min(self.size, start + size)
        data = self.pread(start, end)
        self._position = start + len(data)
        return bytes(data)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.pread(self._position, min(self.size, self._position + view.nbytes))
        view[: len(data)] = data
        self._position += len(data)
        return len(data)

    def readall(self) -> bytes:
        return self.read(-1)

    # -- verified access -------------------------------------------------------------
    def pread(self, start: int, end: int) -> memoryview:
        """Verified bytes ``start`` to ``end`` (clipped to the object)."""
        try:
            return self._pread(start, end)
        except PayloadkitError as exc:
            if self.failure is None:
                self.failure = exc
            raise

    def _pread(self, start: int, end: int) -> memoryview:
        start, end = max(0, start), min(end, self.size)
        if end <= start:
            return memoryview(b"")
        table = self._table
        if self._whole is not None or table is None or end > table.covered:
            return self.whole()[start:end]
        self.prefetch([(start, end)])
        pieces = []
        for index in table.span(start, end):
            lo = table.start(index)
            chunk = self._chunks[index]
            pieces.append(chunk[max(start, lo) - lo : min(end, table.ends[index]) - lo])
        return pieces[0] if len(pieces) == 1 else memoryview(b"".join(pieces))

    def whole(self) -> memoryview:
        """The whole object, read once and verified against the payload's digest."""
        with self._lock:
            if self._whole is None:
                self._whole = self._store._fetch(self._manifest, None)
                self.bytes_fetched += self.size
            return self._whole

    def prefetch(self, ranges: Sequence[tuple[int, int]]) -> None:
        """Fetch and verify the chunks holding these byte ranges, concurrently."""
        table = self._table
        if table is None or self._whole is not None:
            return
        wanted: set[int] = set()
        for start, end in ranges:
            wanted.update(table.span(max(0, start), min(end, self.size)))
        with self._lock:
            missing = sorted(wanted - self._chunks.keys())
        runs: list[list[int]] = []
        for index in missing:
            last = runs[-1] if runs else None
            if (
                last is not None
                and last[-1] == index - 1
                and table.ends[index] - table.start(last[0]) <= _RUN_MAX
            ):
                last.append(index)
            else:
                runs.append([index])
        if not runs:
            return
        if len(runs) == 1 or not self._store.backend.remote:
            for run in runs:
                self._fetch_run(run)
            return
        import concurrent.futures

        with concurrent.futures.ThreadPoolExecutor(min(_CONCURRENCY, len(runs))) as pool:
            for future in [pool.submit(self._fetch_run, run) for run in runs]:
                future.result()

    def _fetch_run(self, run: list[int]) -> None:
        table = self._table
        assert table is not None
        start, end = table.start(run[0]), table.ends[run[-1]]
        store, meta = self._store, self._manifest.ref
        try:
            with store._failing("read", meta.digest):
                data = memoryview(store.backend.read_range(self._manifest.object_key, start, end))
        except FileNotFoundError:
            raise store._bytes_missing(meta) from None
        verified = {}
        for index in run:
            lo = table.start(index) - start
            chunk = data[lo : table.ends[index] - start]
            if not table.check(index, chunk):
                raise IntegrityError(
                    f"Bytes {table.start(index)} to {table.ends[index]} of {meta.digest} "
                    f"({meta.type}) in {store.url} do not match the digest its manifest records "
                    "for them: they were corrupted or altered. Nothing was decoded. Delete the "
                    "payload and save it again; `payloadkit verify` checks the whole store.",
                    digest=meta.digest,
                    type_name=meta.type,
                    store=store.url,
                )
            verified[index] = chunk
        with self._lock:
            self._chunks.update(verified)
            self.bytes_fetched += end - start


class PayloadHandle:
    """A stored payload opened lazily: `store.open(ref)` or `Payload.open()`.

    ```python
    import pandas as pd
    import payloadkit as pk

    store = pk.open_store("memory://handle-doc")
    ref = store.put(pd.DataFrame({"a": [1, 2, 3], "b": [4.0, 5.0, 6.0]}))
    h = store.open(ref)
    assert h.columns == ["a", "b"] and h.shape == (3, 2)
    assert h.read(columns=["b"], rows=slice(1, 3))["b"].tolist() == [5.0, 6.0]
    ```
    """

    def __init__(self, store: Store, manifest: Manifest, reader: LazyReader, file: VerifiedFile):
        self._store = store
        self._manifest = manifest
        self._reader = reader
        self._file = file
        #: The payload's manifest (its ref, chunk table, versions).
        self.manifest = manifest

    def __repr__(self) -> str:
        meta = self._manifest.ref
        return f"<PayloadHandle {meta.short} {meta.type} in {self._store.url}>"

    @property
    def columns(self) -> list[str] | None:
        """Column names (tables), else None."""
        return self._reader.columns

    @property
    def schema(self) -> Any:
        """The format's schema (``pyarrow.Schema`` for parquet and Arrow), else None."""
        return self._reader.schema

    @property
    def shape(self) -> tuple[int, ...] | None:
        """Shape of an array, ``(rows, columns)`` of a table."""
        return self._reader.shape

    @property
    def dtype(self) -> Any:
        """Element type of an array, else None."""
        return self._reader.dtype

    @property
    def num_rows(self) -> int | None:
        """Rows of a table, first dimension of an array."""
        return self._reader.num_rows

    @property
    def bytes_fetched(self) -> int:
        """Bytes read from the store through this handle so far."""
        return self._file.bytes_fetched

    def read(self, columns: Sequence[str] | None = None, rows: slice | None = None) -> Any:
        """The object, or only ``columns`` and/or ``rows`` of it; only what they need is read."""
        serializer = self._store.policy.serializer_for(self._manifest, self._store.url)
        _require(serializer, self._manifest, self._store, columns=columns, rows=rows)
        with _context(self._store, self._manifest, serializer, self._file):
            return self._reader.read(columns, rows)


# -- the store's side --------------------------------------------------------------------


def chunk_table_for(encoded: Encoded) -> ChunkTable | None:
    """The chunk table of an object about to be saved (None: its serializer cuts none)."""
    serializer = encoded.serializer
    if not serializer.partial_reads or encoded.size < _min_table_size():
        return None
    if getattr(encoded, "compression", None):
        return None  # the stored bytes are not the format's: nothing to cut
    source = ChunkSource(encoded.frames, encoded.path)
    try:
        try:
            ends = list(serializer.chunk_ends(source))
        except Exception:
            # A table only saves transfers: an object its serializer cannot cut is saved
            # without one, and its partial reads read it whole (verified).
            return None
        if not ends:
            return None
        algorithm, _ = parse_digest(encoded.digest)
        return build_table(source, ends, algorithm)
    finally:
        source.close()


def _min_table_size() -> int:
    from payloadkit import _chunks

    return _chunks.MIN_TABLE_SIZE


def get_partial(
    store: Store,
    manifest: Manifest,
    columns: Sequence[str] | None,
    rows: slice | None,
    mmap: bool,
) -> Any:
    """``store.get`` with ``columns=``, ``rows=`` or ``mmap=True``."""
    serializer = store.policy.serializer_for(manifest, store.url)
    if mmap:
        if columns is not None or rows is not None:
            raise PartialReadError(
                "mmap=True returns a view of the whole payload; leave out columns= and rows=, "
                "or read them without mmap.",
                digest=manifest.ref.digest,
                store=store.url,
            )
        _require(serializer, manifest, store, mmap=True)
        view = _mapped(store, manifest)
        with _context(store, manifest, serializer):
            return serializer.load_view(view, manifest.ref.type)
    _require(serializer, manifest, store, columns=columns, rows=rows)
    file = _verified_file(store, manifest)
    with _context(store, manifest, serializer, file):
        return serializer.open_reader(file, manifest.ref.type).read(columns, rows)


def open_handle(store: Store, manifest: Manifest) -> PayloadHandle:
    """``store.open(ref)``: the payload's reader, over a verified file."""
    serializer = store.policy.serializer_for(manifest, store.url)
    _require(serializer, manifest, store, opening=True)
    file = _verified_file(store, manifest)
    with _context(store, manifest, serializer, file):
        reader = serializer.open_reader(file, manifest.ref.type)
    return PayloadHandle(store, manifest, reader, file)


def _verified_file(store: Store, manifest: Manifest) -> VerifiedFile:
    from payloadkit._config import settings
    from payloadkit.stores._cache import cache_from_environment
    from payloadkit.stores._policy import signed_enough

    meta = manifest.ref
    if store.backend.remote:
        cache = cache_from_environment()
        hit = cache.get(meta.digest, meta.size) if cache is not None else None
        if hit is not None:  # already local and verified whole: no transfer at all
            return VerifiedFile(store, manifest, None, hit)
    table = manifest.chunks
    if table is not None and not signed_enough(manifest, settings().keyring):
        table = None  # a key is configured and does not verify this table: read it whole
    return VerifiedFile(store, manifest, table)


def _mapped(store: Store, manifest: Manifest) -> memoryview:
    """The whole verified object as a read-only view: a mapping of the local file, or of
    the verified cache's copy for a remote store (bytes in memory where neither exists)."""
    from payloadkit.stores._cache import cache_from_environment
    from payloadkit.stores._local import LocalBackend

    meta = manifest.ref
    if isinstance(store.backend, LocalBackend) and meta.size:
        return _map_local(store, manifest, store.backend)
    data = store._fetch(manifest, None)
    if store.backend.remote:
        cache = cache_from_environment()
        mapped = cache.get(meta.digest, meta.size) if cache is not None else None
        if mapped is not None:
            data = mapped
    return data.toreadonly()


def _map_local(store: Store, manifest: Manifest, backend: Any) -> memoryview:
    """A shared read-only mapping of a local store's file, verified whole first."""
    import mmap as _mmap
    import os

    from payloadkit._digest import hash_buffers
    from payloadkit.stores._local import _open_regular

    meta = manifest.ref
    try:
        with store._failing("read", meta.digest):
            fd = _open_regular(backend.path(manifest.object_key))
            try:
                size = os.fstat(fd).st_size
                mapped = _mmap.mmap(fd, 0, access=_mmap.ACCESS_READ) if size else None
            finally:
                os.close(fd)
    except FileNotFoundError:
        return store._fetch(manifest, None).toreadonly()  # raises the store's own error
    view = memoryview(mapped) if mapped is not None else memoryview(b"")
    algorithm, _ = parse_digest(meta.digest)
    if view.nbytes != meta.size or hash_buffers([view], algorithm, view.nbytes) != meta.digest:
        raise IntegrityError(
            f"The bytes of {meta.digest} ({meta.type}) in {store.url} do not match their digest: "
            "they were corrupted or altered. Nothing was decoded. Delete the payload and save "
            "it again; `payloadkit verify` checks the whole store.",
            digest=meta.digest,
            type_name=meta.type,
            store=store.url,
        )
    return view


def _require(
    serializer: Serializer,
    manifest: Manifest,
    store: Store,
    *,
    columns: Sequence[str] | None = None,
    rows: slice | None = None,
    mmap: bool = False,
    opening: bool = False,
) -> None:
    if getattr(manifest, "compression", None):
        meta = manifest.ref
        raise PartialReadError(
            f"{meta.digest} ({meta.type}) in {store.url} is stored compressed: its bytes are "
            "not the format's, so it cannot be read in part or mapped. Read it whole with "
            "store.get(ref).",
            digest=meta.digest,
            type_name=meta.type,
            store=store.url,
        )
    wanted = {
        "columns": columns is not None,
        "rows": rows is not None,
        "mmap": mmap,
        "open": opening or columns is not None or rows is not None,
    }
    missing = [
        name for name, asked in wanted.items() if asked and name not in serializer.partial_reads
    ]
    if missing:
        meta = manifest.ref
        offered = ", ".join(sorted(serializer.partial_reads)) or "none"
        raise PartialReadError(
            f"{meta.digest} ({meta.type}) in {store.url} was saved with the {serializer.name} "
            f"serializer, which offers these partial reads: {offered}; not "
            f"{' or '.join(missing)}. Read it whole with store.get(ref), or save it with a "
            "serializer that offers them (parquet, arrow).",
            digest=meta.digest,
            type_name=meta.type,
            store=store.url,
        )


class _context:
    """Errors of a serializer's reader get the payload's digest, type and store; an error
    the verified file met (a chunk that does not match) is raised as itself, whatever the
    decoder made of it."""

    def __init__(
        self,
        store: Store,
        manifest: Manifest,
        serializer: Serializer,
        file: VerifiedFile | None = None,
    ) -> None:
        self._store, self._manifest, self._serializer = store, manifest, serializer
        self._file = file

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None:
            return
        if self._file is not None and self._file.failure is not None:
            raise self._file.failure from None
        meta, url = self._manifest.ref, self._store.url
        if isinstance(exc, PayloadkitError):
            if exc.digest is not None:
                return
            rewrapped = type(exc)(
                f"{meta.digest} ({meta.type}) in {url}: {exc}",
                digest=meta.digest,
                type_name=meta.type,
                store=url,
            )
            raise rewrapped from None
        if isinstance(exc, Exception):
            raise DeserializationError(
                f"The {self._serializer.name} serializer failed to read part of {meta.digest} "
                f"({meta.type}) from {url}: {type(exc).__name__}: {exc}. Every byte it was "
                "given was verified.",
                digest=meta.digest,
                type_name=meta.type,
                store=url,
            ) from exc


# -- helpers for readers ---------------------------------------------------------------


def check_columns(columns: Sequence[str] | None, available: Sequence[str]) -> list[str] | None:
    """``columns`` as a list, after checking that each exists (PartialReadError otherwise)."""
    if columns is None:
        return None
    if isinstance(columns, str | bytes) or not all(isinstance(c, str) for c in columns):
        raise PartialReadError(
            f"columns= takes a list of column names, not {columns!r:.80}; "
            f"the payload has {_listed(available)}."
        )
    unknown = [c for c in columns if c not in available]
    if unknown:
        raise PartialReadError(
            f"no column {', '.join(map(repr, unknown[:5]))}; the payload has {_listed(available)}."
        )
    return list(columns)


def resolve_rows(rows: slice | None, num_rows: int) -> tuple[int, int]:
    """``rows`` as ``(start, stop)`` within ``num_rows`` (PartialReadError for a step or a
    value that is not a slice)."""
    if rows is None:
        return 0, num_rows
    if not isinstance(rows, slice) or rows.step not in (None, 1):
        raise PartialReadError(
            f"rows= takes a slice without a step, such as slice(0, 100), not {rows!r:.80}; "
            f"the payload has {num_rows} rows."
        )
    for bound in (rows.start, rows.stop):
        if bound is not None and (type(bound) is not int and not hasattr(bound, "__index__")):
            raise PartialReadError(f"rows= bounds are integers, not {bound!r:.40}.")
    start, stop, _ = rows.indices(num_rows)
    return start, max(start, stop)


def _listed(names: Sequence[str]) -> str:
    shown = ", ".join(map(repr, list(names)[:20]))
    more = f" and {len(names) - 20} more" if len(names) > 20 else ""
    return f"{len(names)} columns: {shown}{more}" if names else "no columns"
