"""Files in and out of a store in bounded memory: what ``payloadkit put`` and ``get`` use.

`put_file` stores a local file's bytes as they are (the ``file`` serializer, under the
file's own suffix); its digest is the digest of the file. `read_chunks` yields a
payload's stored bytes piece by piece and checks the digest of the whole before it ends;
`write_file_verified` writes them to a local file that appears, whole and verified,
only at the end. Memory stays a few chunks, whatever the size of the file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from typing import BinaryIO

from payloadkit._digest import DEFAULT_ALGORITHM, new_hasher, parse_digest
from payloadkit._encode import Encoded
from payloadkit._manifest import Manifest
from payloadkit._ref import PayloadRef
from payloadkit._serializer import qualified_name
from payloadkit._serializers._file import File, file_serializer, suffix_of
from payloadkit.errors import IntegrityError, StoreError
from payloadkit.stores._backend import Callback
from payloadkit.stores._base import Store

__all__ = [
    "CHUNK",
    "copy_chunks",
    "put_file",
    "read_chunks",
    "readable_by_others",
    "write_beside",
    "write_file_verified",
]

#: Bytes read or written at a time.
CHUNK = 4 << 20
_FILE_TYPE = qualified_name(File)


def put_file(
    store: Store, path: str, callback: Callback | None = None, upload: Callback | None = None
) -> PayloadRef:
    """Store the bytes of the local file ``path`` unchanged; return the payload's ref.

    The file is copied once into the store's spool directory while it is hashed (the
    callback sees those bytes), then saved as any payload is (dedup, the grace rules, the
    re-check after the manifest): a local store links the spool file into place, a remote
    one uploads it (``upload`` sees the upload).
    """
    serializer = file_serializer(suffix_of(path))
    marker = store._writable_marker()
    spool, digest, size = _spool_copy(store, path, callback)
    encoded = Encoded(
        serializer, "a file's bytes, as they are", _FILE_TYPE, digest, size, path=spool
    )
    try:
        return store._put_encoded(encoded, marker, upload)
    finally:
        encoded.release()


def _spool_copy(store: Store, path: str, callback: Callback | None) -> tuple[str, str, int]:
    """Copy ``path`` into the spool directory, hashing; (spool path, digest, size)."""
    try:
        source = open(path, "rb")  # noqa: SIM115  (closed below, after the spool is made)
    except OSError as exc:
        raise StoreError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    with source:
        size = os.fstat(source.fileno()).st_size
        if callback is not None:
            callback.set_size(size)
        fd, spool = tempfile.mkstemp(prefix="spool-", dir=store.backend.spool_dir())
        hasher = new_hasher(DEFAULT_ALGORITHM, size)
        written = 0
        try:
            with open(fd, "wb") as out:
                while chunk := source.read(CHUNK):
                    hasher.update(chunk)
                    out.write(chunk)
                    written += len(chunk)
                    if callback is not None:
                        callback.relative_update(len(chunk))
        except BaseException:
            os.unlink(spool)
            raise
    return spool, f"{DEFAULT_ALGORITHM}:{hasher.hexdigest()}", written


def read_chunks(
    store: Store, manifest: Manifest, callback: Callback | None = None
) -> Iterator[bytes]:
    """The payload's stored bytes in chunks; IntegrityError after the last one if they do not
    match the digest (so whatever consumed them must be discarded)."""
    meta = manifest.ref
    algorithm, _ = parse_digest(meta.digest)
    hasher = new_hasher(algorithm, meta.size)
    if callback is not None:
        callback.set_size(meta.size)
    done = 0
    while done < meta.size:
        chunk = _read_range(store, manifest, done, min(meta.size, done + CHUNK))
        if not chunk:
            break
        hasher.update(chunk)
        done += len(chunk)
        if callback is not None:
            callback.relative_update(len(chunk))
        yield chunk
    if done != meta.size or f"{algorithm}:{hasher.hexdigest()}" != meta.digest:
        raise IntegrityError(
            f"The bytes of {meta.digest} ({meta.type}) in {store.url} do not match their digest: "
            "they were corrupted or altered. Delete the payload and save it again; "
            "`payloadkit verify` checks the whole store.",
            digest=meta.digest,
            type_name=meta.type,
            store=store.url,
        )


def _read_range(store: Store, manifest: Manifest, start: int, end: int) -> bytes:
    try:
        return store.backend.read_range(manifest.object_key, start, end)
    except FileNotFoundError:
        raise IntegrityError(
            f"The manifest of {manifest.ref.digest} is in {store.url} but its bytes are missing. "
            "Run `payloadkit verify` and save the payload again.",
            digest=manifest.ref.digest,
            store=store.url,
        ) from None
    except OSError as exc:
        raise StoreError(
            f"Could not read {manifest.ref.digest} from {store.url}: {exc.strerror or exc}.",
            digest=manifest.ref.digest,
            store=store.url,
        ) from None


def write_file_verified(
    store: Store, manifest: Manifest, target: str, callback: Callback | None = None
) -> None:
    """Write the payload's bytes to ``target``: through a temporary file beside it, renamed
    into place once the digest is checked; on any failure nothing is left at ``target``."""
    write_beside(target, lambda out: copy_chunks(store, manifest, out, callback))


def write_beside(target: str, write: Callable[[BinaryIO], object]) -> None:
    """Call ``write`` on a temporary file beside ``target``, then rename it into place,
    readable by others; on any failure nothing is left at ``target``."""
    directory = os.path.dirname(os.path.abspath(target))
    fd, tmp = tempfile.mkstemp(
        prefix=f".{os.path.basename(target)}.", suffix=".part", dir=directory
    )
    try:
        with open(fd, "wb") as out:
            write(out)
        readable_by_others(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def copy_chunks(
    store: Store, manifest: Manifest, out: BinaryIO, callback: Callback | None = None
) -> None:
    """Write the payload's bytes to the open binary stream ``out`` (verified at the end)."""
    for chunk in read_chunks(store, manifest, callback):
        out.write(chunk)


def readable_by_others(path: str) -> None:
    """Give a temporary file the permissions a new file gets (the umask's), not mkstemp's."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)
