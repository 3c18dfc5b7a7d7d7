"""The S3 store: s3fs's client, with payloadkit's own transfers of large objects.

- Lookups go straight to the server (GET/HEAD/LIST), never through s3fs's per-instance
  listing cache, so an object another process has just written is found.
- A small object's PUT can start at once (`S3Backend.start_write`), while the store
  looks for its manifest: identical bytes overwrite themselves harmlessly, and the
  manifest is still written only once its object is complete.
- Uploads stream the serializer's frames (or a memory-mapped spool file) in one PUT,
  or above 100 MiB in parts, several at once, without a second full copy of the bytes: each request's body is read
  from views of the frames. The object becomes visible only when the single PUT or the
  multipart upload completes; a failed or interrupted upload is aborted.
- Downloads fill one preallocated buffer with parallel ranged GETs; a body cut short is
  resumed from where it stopped, a bounded number of times with backoff.
- Errors say what went wrong: a missing bucket or an unreachable endpoint is a
  `StoreError`, refused or missing credentials or a malformed bucket name a
  `ConfigurationError`; none ever shows a credential.
- A server that cannot list multipart uploads (501 NotImplemented, as some S3-compatible
  servers answer) makes `S3Backend.incomplete_uploads` raise NotImplementedError.
"""

from __future__ import annotations

import asyncio
import bisect
import builtins
import concurrent.futures
import contextlib
import errno
import io
import itertools
import mmap
import os
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from payloadkit._progress import close_callback, transfer_callback
from payloadkit.errors import ConfigurationError, StoreError
from payloadkit.stores._backend import Callback, KeyInfo
from payloadkit.stores._base import Store
from payloadkit.stores._fsspec import FsspecBackend, FsspecStore

__all__ = ["S3Backend", "S3Store"]

T = TypeVar("T")

#: Size of each part of a multipart upload or ranged download (S3's minimum part is 5 MiB).
PART_SIZE = 16 * 1024 * 1024
#: Size of each ranged GET of a download.
RANGE_SIZE = 64 * 1024 * 1024
#: Objects larger than this are uploaded in parts; smaller ones in one PUT. As in s3fs's
#: pipe and AWS's advice (multipart from about 100 MB): below it, one PUT makes fewer
#: requests for about the same time (and on moto, much less).
MULTIPART_FROM = 100 * 1024 * 1024
#: Objects up to this size are uploaded while the store looks for their manifest: on a
#: cloud link, sending them (even again, when they were stored) costs about a round trip.
EARLY_UPLOAD_MAX = 4 * 1024 * 1024
#: Bodies up to this size are sent as one bytes copy: botocore sends bytes about 7% faster
#: than it streams a file-like body, and the copy of a small body costs less than that.
BYTES_BODY_MAX = 4 * 1024 * 1024
_MAX_PARTS = 10_000
#: Attempts at reading one range, or one small object, whose body breaks off (requests
#: themselves are retried by botocore and s3fs).
READ_ATTEMPTS = 5
_AUTH_CODES = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AccessDenied",
        "ExpiredToken",
        "InvalidToken",
        "TokenRefreshRequired",
        "AuthorizationHeaderMalformed",
    }
)


class _ShortBodyError(OSError):
    """A response body ended before its announced length; ``position`` is where."""

    def __init__(self, position: int, reason: str) -> None:
        super().__init__(errno.EIO, reason)
        self.position = position


class _ViewReader(io.RawIOBase):
    """A seekable, read-only file over buffers laid end to end: botocore reads it without
    a copy, whether the body is one frame or several."""

    def __init__(self, views: memoryview | list[memoryview]) -> None:
        super().__init__()
        listed = [views] if isinstance(views, memoryview) else views
        self._views = [view for view in listed if view.nbytes]
        self._starts = list(itertools.accumulate((v.nbytes for v in self._views), initial=0))
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._starts[-1]}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        # botocore and aiohttp call read(n): one copy here, where RawIOBase would make two.
        end = self._starts[-1] if size is None or size < 0 else self._pos + size
        pieces = self._take(min(end, self._starts[-1]) - self._pos)
        return bytes(pieces[0]) if len(pieces) == 1 else b"".join(pieces)

    def readinto(self, buffer: Any) -> int:
        filled = 0
        for piece in self._take(len(buffer)):
            buffer[filled : filled + piece.nbytes] = piece
            filled += piece.nbytes
        return filled

    def _take(self, n: int) -> list[memoryview]:
        """Views of the next ``n`` bytes (fewer at the end), moving the position past them."""
        pieces = []
        n = max(0, min(n, self._starts[-1] - self._pos))
        while n > 0:
            index = bisect.bisect_right(self._starts, self._pos) - 1
            view, offset = self._views[index], self._pos - self._starts[index]
            piece = view[offset : offset + n]
            pieces.append(piece)
            self._pos += piece.nbytes
            n -= piece.nbytes
        return pieces

    def __len__(self) -> int:
        return max(0, self._starts[-1] - self._pos)


class _Running:
    """A coroutine running on s3fs's loop, started by `S3Store._start`."""

    def __init__(self, future: concurrent.futures.Future[Any], done: threading.Event) -> None:
        self.future = future
        self.done = done

    def wait(self) -> Any:
        """Its result; an interrupt while waiting cancels it and lets it clean up."""
        try:
            while not self.done.wait(1.0):
                pass
            return self.future.result()
        except BaseException:
            self.future.cancel()
            self.done.wait(60)
            raise


class _PendingPut:
    """The PUT of a small object started in the background (see ``start_write``)."""

    def __init__(self, running: _Running, close: Callable[[], None]) -> None:
        self._running = running
        self._close = close

    def wait(self) -> None:
        """Wait for the PUT to complete; its error, if any, is raised here."""
        try:
            self._running.wait()
        finally:
            self._close()


class S3Backend(FsspecBackend):
    """Values under ``s3://bucket/prefix`` (AWS or any S3-compatible endpoint)."""

    #: Small objects are PUT in the background while the Store looks up their manifest.
    early_write_max = EARLY_UPLOAD_MAX

    def __init__(self, fs: Any, root: str, url: str) -> None:
        super().__init__(fs, root, url)
        bucket, _, prefix = self.root.strip("/").partition("/")
        self.bucket = bucket
        self.prefix = f"{prefix}/" if prefix else ""

    # -- running s3fs coroutines --------------------------------------------------
    def _start(self, make: Callable[[], Awaitable[T]]) -> _Running:
        """Start a coroutine on s3fs's loop without waiting for it."""
        done = threading.Event()

        async def wrapped() -> T:
            try:
                return await make()
            finally:
                done.set()

        return _Running(asyncio.run_coroutine_threadsafe(wrapped(), self.fs.loop), done)

    def _run(self, make: Callable[[], Awaitable[T]]) -> T:
        """Run a coroutine on s3fs's loop; an interrupt here cancels it and lets it clean up."""
        result: T = self._start(make).wait()
        return result

    async def _call(self, method: str, **kwargs: Any) -> Any:
        try:
            return await self.fs._call_s3(method, Bucket=self.bucket, **kwargs)
        except Exception as exc:
            translated = self._translate(exc)
            if translated is exc:
                raise  # keeps the server's error (its code) as the cause
            raise translated from exc if isinstance(translated, OSError) else None

    def _where(self) -> str:
        endpoint = self.fs.endpoint_url or getattr(self.fs, "client_kwargs", {}).get("endpoint_url")
        return f"the S3 endpoint {endpoint}" if endpoint else "AWS S3"

    def _translate(self, exc: BaseException) -> BaseException:
        """A clear payloadkit error for what the user can fix; OSError for the rest."""
        code = _error_code(exc)
        where = self._where()
        if isinstance(exc, FileNotFoundError) and code != "NoSuchBucket":
            return exc
        if code == "NoSuchBucket":
            return StoreError(
                f"The bucket {self.bucket!r} of {self.url} does not exist at {where}. Create it, "
                "or check the store URL and endpoint_url.",
                store=self.url,
            )
        if code in _AUTH_CODES or isinstance(exc, PermissionError):
            return ConfigurationError(
                f"{where} refused the credentials used for {self.url} ({code or 'access denied'}). "
                "Check the key and secret given as storage options, in the AWS_* environment "
                "variables or in ~/.aws, and that they may use this bucket."
            )
        if code == "NoCredentials":
            return ConfigurationError(
                f"No S3 credentials were found for {self.url}. Pass key= and secret= as storage "
                "options, set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or use ~/.aws; for a "
                "public bucket pass anon=True."
            )
        if code in ("InvalidBucketName", "ParamValidation"):
            return ConfigurationError(
                f"{self.bucket!r} is not a valid S3 bucket name (in {self.url}): bucket names are "
                "3 to 63 lowercase letters, digits, dots and hyphens. Check the store URL."
            )
        if code == "EndpointConnection" or _is_connection_error(exc):
            return StoreError(
                f"Cannot reach {where} for {self.url}: {type(exc).__name__}. Check the "
                "endpoint_url and that the server is running and reachable.",
                store=self.url,
            )
        if isinstance(exc, OSError | StoreError | ConfigurationError):
            return exc
        return OSError(errno.EIO, f"{type(exc).__name__}: {str(exc)[:300]}")

    def _key(self, key: str) -> str:
        return f"{self.prefix}{key}"

    # -- small values and lookups ---------------------------------------------------
    def read(self, key: str, limit: int) -> bytes:
        async def go() -> bytes:
            failures = 0
            while True:
                response = await self._call("get_object", Key=self._key(key))
                try:
                    if int(response.get("ContentLength", 0)) > limit:
                        raise OSError(errno.EFBIG, f"{key} is over the {limit}-byte limit")
                    return bytes(await response["Body"].read())
                except OSError:
                    raise
                except Exception as exc:
                    if not _transient(exc) or failures + 1 >= READ_ATTEMPTS:
                        raise _ShortBodyError(0, f"the response body broke off: {exc}") from exc
                finally:
                    response["Body"].close()
                failures += 1
                await asyncio.sleep(_backoff(failures))

        return self._run(go)

    def write(self, key: str, data: bytes) -> None:
        self._run(lambda: self._call("put_object", Key=self._key(key), Body=data))

    def stat(self, key: str) -> KeyInfo:
        head = self._run(lambda: self._call("head_object", Key=self._key(key)))
        return KeyInfo(key, int(head.get("ContentLength", 0)), _aware(head.get("LastModified")))

    def delete(self, key: str) -> None:
        self._run(lambda: self._call("delete_object", Key=self._key(key)))

    def list(self, prefix: str) -> Iterator[KeyInfo]:
        token: dict[str, str] = {}
        while True:
            page = self._run(
                lambda token=token: self._call(  # type: ignore[misc]
                    "list_objects_v2", Prefix=self._key(prefix), **token
                )
            )
            for item in page.get("Contents", []):
                key = item["Key"][len(self.prefix) :]
                yield KeyInfo(key, int(item.get("Size", 0)), _aware(item.get("LastModified")))
            if not page.get("IsTruncated") or not page.get("NextContinuationToken"):
                return
            token = {"ContinuationToken": page["NextContinuationToken"]}

    def copy(self, source: str, target: str) -> None:
        size = self.stat(source).size
        if size > MULTIPART_FROM * 40:  # over 4 GB: CopyObject's limit is 5 GB
            super().copy(source, target)
            return
        copy_source = {"Bucket": self.bucket, "Key": self._key(source)}
        self._run(lambda: self._call("copy_object", Key=self._key(target), CopySource=copy_source))

    def move(self, source: str, target: str) -> None:
        self.copy(source, target)
        self.delete(source)

    # -- small objects uploaded early ---------------------------------------------------
    def start_write(
        self, key: str, frames: Sequence[memoryview], callback: Callback | None = None
    ) -> _PendingPut:
        """Start the PUT of a small object; wait for it with ``.wait()``."""
        size = sum(frame.nbytes for frame in frames)
        progress = transfer_callback(callback, size, "payloadkit upload")
        progress.set_size(size)
        listed = list(frames)
        running = self._start(lambda: self._put_whole(key, listed, progress))
        return _PendingPut(running, lambda: close_callback(progress, callback))

    # -- large objects --------------------------------------------------------------
    def write_frames(
        self, key: str, frames: Sequence[memoryview], callback: Callback | None = None
    ) -> None:
        self._upload(key, list(frames), sum(f.nbytes for f in frames), callback)

    def write_file(
        self, key: str, path: str, callback: Callback | None = None, *, consume: bool = False
    ) -> None:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                self._upload(key, [], 0, callback)
                return
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                view = memoryview(mapped)
                try:
                    self._upload(key, [view], size, callback)
                finally:
                    view.release()

    def _upload(
        self, key: str, frames: builtins.list[memoryview], size: int, given: Callback | None
    ) -> None:
        callback = transfer_callback(given, size, "payloadkit upload")
        callback.set_size(size)
        try:
            if size <= MULTIPART_FROM:
                self._run(lambda: self._put_whole(key, frames, callback))
            else:
                self._run(lambda: self._put_multipart(key, frames, size, callback))
        finally:
            close_callback(callback, given)

    async def _put_whole(
        self, key: str, frames: builtins.list[memoryview], callback: Callback
    ) -> None:
        size = sum(frame.nbytes for frame in frames)
        payload = b"".join(frames) if size <= BYTES_BODY_MAX else _ViewReader(frames)
        await self._call("put_object", Key=self._key(key), Body=payload)
        callback.relative_update(size)

    async def _put_multipart(
        self, key: str, frames: builtins.list[memoryview], size: int, callback: Callback
    ) -> None:
        part_size = max(PART_SIZE, -(-size // _MAX_PARTS))
        started = await self._call("create_multipart_upload", Key=self._key(key))
        upload_id = started["UploadId"]
        limit = asyncio.Semaphore(max(1, int(getattr(self.fs, "max_concurrency", 8))))

        async def send(number: int, pieces: builtins.list[memoryview]) -> dict[str, Any]:
            async with limit:
                out = await self._call(
                    "upload_part",
                    Key=self._key(key),
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=_ViewReader(pieces),  # a part across frames is sent without a copy
                )
                callback.relative_update(sum(piece.nbytes for piece in pieces))
                return {"PartNumber": number, "ETag": out["ETag"]}

        tasks = [
            asyncio.ensure_future(send(n, pieces))
            for n, pieces in enumerate(_parts(frames, part_size), 1)
        ]
        try:
            parts = await asyncio.gather(*tasks)
            await self._complete(key, upload_id, list(parts), size)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.shield(self._abort(key, upload_id))
            raise

    async def _complete(
        self, key: str, upload_id: str, parts: builtins.list[Any], size: int
    ) -> None:
        """Complete the upload; a completion retried after it had already succeeded (the
        server then no longer knows the upload) is a success when the object is there."""
        try:
            await self._call(
                "complete_multipart_upload",
                Key=self._key(key),
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except OSError as exc:
            if _error_code(exc) != "NoSuchUpload":
                raise
            head = await self._call("head_object", Key=self._key(key))
            if int(head.get("ContentLength", -1)) != size:
                raise

    async def _abort(self, key: str, upload_id: str) -> None:
        with contextlib.suppress(Exception):
            await self._call("abort_multipart_upload", Key=self._key(key), UploadId=upload_id)

    def read_object(self, key: str, size: int, callback: Callback | None = None) -> memoryview:
        progress = transfer_callback(callback, size, "payloadkit download")
        progress.set_size(size)
        try:
            return self._run(lambda: self._download(key, size, progress))
        finally:
            close_callback(progress, callback)

    def read_range(self, key: str, start: int, end: int) -> bytes:
        async def go() -> bytes:
            if end <= start:
                return b""
            response = await self._call(
                "get_object", Key=self._key(key), Range=f"bytes={start}-{end - 1}"
            )
            try:
                return bytes(await response["Body"].read())
            finally:
                response["Body"].close()

        return self._run(go)

    async def _download(self, key: str, size: int, callback: Callback) -> memoryview:
        first = min(size, RANGE_SIZE)
        # The first range is read into its own buffer: the object's real size is known
        # only from its answer, and nothing is allocated from the declared size before.
        head = memoryview(bytearray(first))
        try:
            total = await self._read_range(key, head, 0, first, callback)
        except OSError as exc:
            if _error_code(exc) != "InvalidRange":
                raise
            total = -1  # an empty object where bytes were expected
        if total != size:
            # The stored object is not the manifest's size: the digest check refuses it.
            return memoryview(b"")
        if size <= first:
            return head
        view = memoryview(bytearray(size))
        view[:first] = head
        limit = asyncio.Semaphore(max(1, int(getattr(self.fs, "max_concurrency", 8))))

        async def fetch(start: int) -> None:
            async with limit:
                await self._read_range(key, view, start, min(size, start + RANGE_SIZE), callback)

        tasks = [asyncio.ensure_future(fetch(s)) for s in range(first, size, RANGE_SIZE)]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return view

    async def _read_range(
        self, key: str, view: memoryview, start: int, end: int, callback: Callback
    ) -> int:
        """Fill ``view[start:end]`` from the object; return the object's total size."""
        position, failures = start, 0
        while True:
            ranged = {"Range": f"bytes={position}-{end - 1}"} if end > position else {}
            try:
                response = await self._call("get_object", Key=self._key(key), **ranged)
                total = _total_size(response, ranged)
                if not ranged or total < end:
                    response["Body"].close()
                    return total
                await _drain(response["Body"], view, position, end, callback)
                return total
            except Exception as exc:
                if not _transient(exc) or failures + 1 >= READ_ATTEMPTS:
                    raise
                failures += 1
                if isinstance(exc, _ShortBodyError):
                    position = exc.position
                await asyncio.sleep(_backoff(failures))

    # -- housekeeping -----------------------------------------------------------------
    def incomplete_uploads(self) -> builtins.list[tuple[str, datetime]]:
        """Multipart uploads under this store never completed nor aborted (key, start time).

        NotImplementedError when the server cannot list them.
        """
        uploads = self._run(self._uploads)
        return [(upload["Key"][len(self.prefix) :], upload["Initiated"]) for upload in uploads]

    def abort_incomplete_uploads(self, cutoff: datetime) -> int:
        """Abort the multipart uploads under this store started at or before ``cutoff``.

        A writer that was killed cannot abort its own upload; its parts stay billed and
        invisible until this (``payloadkit gc``) or a bucket lifecycle rule removes them.
        Returns how many were aborted.
        """

        async def go() -> int:
            stale = [u for u in await self._uploads() if u["Initiated"] <= cutoff]
            for upload in stale:
                await self._call(
                    "abort_multipart_upload", Key=upload["Key"], UploadId=upload["UploadId"]
                )
            return len(stale)

        return self._run(go)

    async def _uploads(self) -> builtins.list[dict[str, Any]]:
        """Every multipart upload in progress under this store's prefix, page after page."""
        found: builtins.list[dict[str, Any]] = []
        marker: dict[str, str] = {}
        while True:
            try:
                page = await self._call("list_multipart_uploads", Prefix=self.prefix, **marker)
            except OSError as exc:
                if _error_code(exc) in _NOT_IMPLEMENTED:
                    raise NotImplementedError(
                        f"{self._where()} cannot list multipart uploads"
                    ) from None
                raise
            found += page.get("Uploads", [])
            if not page.get("IsTruncated"):
                return found
            marker = {
                "KeyMarker": page["NextKeyMarker"],
                "UploadIdMarker": page["NextUploadIdMarker"],
            }


class S3Store(FsspecStore):
    """A store under ``s3://bucket/prefix``: a `Store` on an `S3Backend`."""

    def __init__(self, fs: Any, root: str, url: str, **kwargs: Any) -> None:
        Store.__init__(self, S3Backend(fs, root, url), **kwargs)

    @property
    def bucket(self) -> str:
        """The bucket."""
        return self._s3.bucket

    @property
    def _s3(self) -> S3Backend:
        backend = self.backend
        assert isinstance(backend, S3Backend)
        return backend

    def incomplete_uploads(self) -> builtins.list[tuple[str, datetime]]:
        """Multipart uploads under this store never completed nor aborted (key, start time)."""
        return self._s3.incomplete_uploads()

    def abort_incomplete_uploads(self, older_than: timedelta = timedelta(hours=1)) -> int:
        """Abort the multipart uploads under this store started before ``older_than`` ago."""
        return self._s3.abort_incomplete_uploads(datetime.now(UTC) - older_than)


def _parts(frames: list[memoryview], part_size: int) -> Iterator[list[memoryview]]:
    """The frames cut into parts of ``part_size`` bytes (the last may be smaller), as views."""
    pieces: list[memoryview] = []
    filled = 0
    for frame in frames:
        offset = 0
        while offset < frame.nbytes:
            take = min(part_size - filled, frame.nbytes - offset)
            pieces.append(frame[offset : offset + take])
            filled += take
            offset += take
            if filled == part_size:
                yield pieces
                pieces, filled = [], 0
    if pieces:
        yield pieces


async def _drain(body: Any, view: memoryview, position: int, end: int, callback: Callback) -> int:
    """Copy a response body into ``view[position:end]``; a short body raises with the offset."""
    try:
        while position < end:
            chunk = await body.read(min(4 << 20, end - position))
            if not chunk:
                raise _ShortBodyError(position, "the response body ended early")
            view[position : position + len(chunk)] = chunk
            position += len(chunk)
            callback.relative_update(len(chunk))
    except _ShortBodyError:
        raise
    except Exception as exc:
        raise _ShortBodyError(position, f"the response body broke off: {exc}") from exc
    finally:
        body.close()
    return position


def _total_size(response: dict[str, Any], ranged: dict[str, str]) -> int:
    if ranged and "ContentRange" in response:
        return int(str(response["ContentRange"]).rsplit("/", 1)[1])
    return int(response.get("ContentLength", 0))


def _backoff(failures: int) -> float:
    """Seconds to wait before the next attempt after ``failures`` failed reads."""
    return min(0.1 * 2.0**failures, 5.0)


def _transient(exc: BaseException) -> bool:
    from s3fs.core import S3_RETRYABLE_ERRORS

    return isinstance(exc, (_ShortBodyError, ConnectionError, TimeoutError, *S3_RETRYABLE_ERRORS))


_NOT_IMPLEMENTED = frozenset({"NotImplemented", "501"})


def _aware(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _is_connection_error(exc: BaseException) -> bool:
    """True for botocore's and aiohttp's "could not connect" errors, however wrapped."""
    current: BaseException | None = exc
    for _ in range(6):
        if current is None:
            return False
        name = type(current).__name__
        if ("Connect" in name and "Error" in name) or name in (
            "ConnectTimeoutError",
            "EndpointConnectionError",
        ):
            return True
        current = current.__cause__ or current.__context__
    return False


def _error_code(exc: BaseException) -> str | None:
    """The S3 error code behind an error translated by s3fs (``NoSuchBucket``), if any."""
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 5:
        response = getattr(current, "response", None)
        if isinstance(response, dict):
            code = response.get("Error", {}).get("Code")
            if code:
                return str(code)
        name = type(current).__name__
        if name == "NoCredentialsError":
            return "NoCredentials"
        if name == "ParamValidationError":
            return "ParamValidation"
        if name == "EndpointConnectionError":
            return "EndpointConnection"
        current = current.__cause__ or current.__context__
        seen += 1
    return None
