"""The Serializer base class: what a serializer declares and the methods payloadkit calls.

The minimal serializer names itself and implements ``dumps``/``loads``. Richer ones
override ``dump_frames`` (zero-copy: a list of buffers whose concatenation is the stored
bytes), ``dump_file`` (native writers that want a local file path, such as parquet; set
``writes_files = True``) and ``load`` (handed the recorded type name). payloadkit always
uses the richest method declared, and the minimal pair alone is always enough.
"""

from __future__ import annotations

import functools
import importlib.metadata
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from payloadkit._chunks import ChunkSource
    from payloadkit._partial import LazyReader, VerifiedFile

__all__ = ["Buffer", "Serializer", "qualified_name"]

#: Anything exposing the buffer protocol as bytes: bytes, bytearray, memoryview, ndarray...
Buffer = bytes | bytearray | memoryview


class Serializer:
    """Base class of every serializer, built-in or plugin.

    ```python
    import decimal
    import payloadkit as pk

    class DecimalText(pk.Serializer):
        name = "decimal-text"
        version = "1"
        types = (decimal.Decimal,)

        def dumps(self, obj):
            return str(obj).encode()

        def loads(self, data):
            return decimal.Decimal(bytes(data).decode())

    pk.register_serializer(DecimalText())
    ref = pk.open_store("memory://serializer-doc").put(decimal.Decimal("1.5"))
    assert ref.serializer == "decimal-text"
    ```
    """

    #: Unique name, recorded in every ref this serializer writes.
    name: ClassVar[str] = ""
    #: Format version; a payload written by a newer version is refused with a clear error.
    version: ClassVar[str] = "1"
    #: Classes (or dotted names such as ``"pandas.DataFrame"``) this serializer is the default for.
    types: ClassVar[tuple[type | str, ...]] = ()
    #: File suffix of the stored object, e.g. ``".parquet"`` for a standard format.
    extension: ClassVar[str] = ""
    #: True when loading can run arbitrary code (pickle-like): signed payloads only, with a key.
    runs_code_on_load: ClassVar[bool] = False
    #: Distributions whose versions are recorded in each manifest, e.g. ``("pyarrow",)``.
    libraries: ClassVar[tuple[str, ...]] = ()
    #: True when the serializer implements `dump_file` (a native writer to a path).
    writes_files: ClassVar[bool] = False
    #: True when `dump_file` writes its file front to back and never rewrites bytes it
    #: has written (pyarrow's parquet and IPC writers): payloadkit then hashes the file in
    #: another thread while it is being written instead of reading it again afterwards.
    writes_sequentially: ClassVar[bool] = False
    #: The partial reads this serializer offers, any of ``"open"`` (`open_reader`: the
    #: object's description without loading it), ``"columns"`` and ``"rows"`` (its reader's
    #: ``read`` takes them) and ``"mmap"`` (`load_view`). A serializer that offers
    #: ``"columns"`` or ``"rows"`` cuts its stored objects into chunks with `chunk_ends`,
    #: so that a partial read fetches and verifies only the chunks it needs. The
    #: conformance suite checks every capability declared here.
    partial_reads: ClassVar[frozenset[str]] = frozenset()

    def extension_for(self, frames: Sequence[Buffer]) -> str:
        """The suffix of a stored object made of these frames (by default `extension`);
        a serializer that writes two kinds of object names each its own way."""
        return self.extension

    def dumps(self, obj: Any) -> Buffer:
        """Return the bytes of ``obj``."""
        raise NotImplementedError(
            f"serializer {self.name!r} implements neither dumps nor dump_frames"
        )

    def loads(self, data: memoryview) -> Any:
        """Rebuild the object from ``data`` (a verified, read-only or copy-on-write view)."""
        raise NotImplementedError(f"serializer {self.name!r} implements neither loads nor load")

    def dump_frames(self, obj: Any) -> Sequence[Buffer]:
        """Buffers whose concatenation is the stored bytes; override to avoid copies."""
        return [self.dumps(obj)]

    def dump_file(self, obj: Any, path: str) -> None:
        """Write ``obj`` to the local file ``path`` (only when ``writes_files`` is true)."""
        raise NotImplementedError(f"serializer {self.name!r} does not write files")

    def load(self, data: memoryview, type_name: str) -> Any:
        """Rebuild the object, knowing the qualified name of the type that was saved."""
        return self.loads(data)

    def chunk_ends(self, source: ChunkSource) -> Sequence[int]:
        """Offsets in the stored bytes where chunks should end (format boundaries, such as
        each parquet column chunk and the footer); called at save time with the written
        object. Chunks are verified one by one on partial reads; bytes after the last end
        are verified only as part of the whole object. ``[]`` (the default): no chunks."""
        return []

    def open_reader(self, file: VerifiedFile, type_name: str) -> LazyReader:
        """A `payloadkit._partial.LazyReader` over ``file`` (a seekable file serving only
        verified bytes), reading no more than the object's description (only when
        ``"open"`` is in `partial_reads`)."""
        raise NotImplementedError(f"serializer {self.name!r} has no lazy reader")

    def load_view(self, data: memoryview, type_name: str) -> Any:
        """A read-only, zero-copy object over ``data`` (a read-only view of the verified
        bytes, often a memory mapping); only when ``"mmap"`` is in `partial_reads`."""
        raise NotImplementedError(f"serializer {self.name!r} has no zero-copy view")

    def warm_up(self) -> None:
        """Do now what the first save or load would otherwise do on first use.

        Worker processes call this at their start, in the background, for the
        serializers they are likely to use, so that their first hand-over runs as fast as
        the next. The base class reads the library versions recorded in manifests;
        override it to also import what the methods import lazily. Keep it cheap, and
        free of effects beyond the process's caches.
        """
        self.library_versions()

    def library_versions(self) -> dict[str, str]:
        """Versions of the libraries this serializer depends on, for the manifest."""
        return _versions(self.libraries)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} v{self.version}>"


@functools.cache
def _versions(names: tuple[str, ...]) -> dict[str, str]:
    found = {}
    for name in names:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


@functools.cache
def python_version() -> str:
    """``"3.11.7"``: recorded in manifests."""
    return ".".join(str(part) for part in sys.version_info[:3])


def qualified_name(cls: type) -> str:
    """``module.QualName`` of a class, as recorded in refs."""
    return f"{cls.__module__}.{cls.__qualname__}"
