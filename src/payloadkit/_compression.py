"""Compression of stored bytes: which codec a payload gets, and bounded, checked decoding.

Codecs are ``"zstd"`` (the ``zstandard`` library) and ``"lz4"`` (``lz4``, LZ4 frames); both
write standard frames that the ``zstd`` and ``lz4`` command-line tools open. ``None``
stores the serializer's bytes as they are. ``"auto"`` compresses a frame only where it
pays: a frame of at least `AUTO_MIN_BYTES` has a few samples compressed first, and is
compressed whole only when the samples shrink to `AUTO_KEEP_RATIO` of their size or less;
the result is kept only when the whole frame shrinks as much. ``"auto"`` uses zstd, else
lz4, else (neither installed) stores the bytes uncompressed and `explain` says so.

Which codec applies, first match wins: the ``compression=`` argument of ``put`` (or of a
`Payload`); ``configure(compression={...})`` by the most specific class of the object's
MRO, then by serializer name; the serializer's own ``default_compression`` (``"auto"``
for pickle, cloudpickle, dill and json, None for everything else). parquet and Arrow
compress their column chunks themselves and refuse a codec on top.

Where it applies: a payload stored in payloadkit's pickle container is compressed frame
by frame (the container's header records each frame's codec and size, so frames left
uncompressed still load zero-copy); any other payload is compressed whole, into one
standard frame named by the serializer's suffix plus ``.zst`` or ``.lz4``. Frames carry
their codec's checksum of the content, checked when they are decompressed. The manifest
records the codec (`Record`), and a load undoes exactly what it records, writing at most
the recorded size: a frame that decodes to more or less raises `IntegrityError`.
"""

from __future__ import annotations

import enum
import importlib
import importlib.util
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from payloadkit._digest import as_bytes_view
from payloadkit._serializer import Buffer, Serializer, qualified_name
from payloadkit.errors import ConfigurationError, DeserializationError, IntegrityError

__all__ = [
    "AUTO_KEEP_RATIO",
    "AUTO_MIN_BYTES",
    "CODECS",
    "DEFAULT",
    "Choices",
    "Default",
    "Record",
    "available",
    "check_loadable",
    "choose",
    "compress",
    "decompress",
    "resolve_auto",
    "undo",
    "wants",
]

#: The codecs payloadkit writes and reads, with the distribution each needs.
CODECS: dict[str, str] = {"zstd": "zstandard", "lz4": "lz4"}
_MODULES = {"zstd": "zstandard", "lz4": "lz4.frame"}
#: The suffix a payload compressed whole gets after its serializer's own.
SUFFIXES = {"zstd": ".zst", "lz4": ".lz4"}
#: What ``compression=`` accepts.
CHOICES = ("auto", "zstd", "lz4", None)
#: Frames smaller than this stay as they are under ``"auto"``.
AUTO_MIN_BYTES = 16 * 1024
#: ``"auto"`` keeps a compressed frame only when it is at most this fraction of the raw one.
AUTO_KEEP_RATIO = 0.9
_SAMPLES = 5
_SAMPLE_BYTES = 16 * 1024
ZSTD_LEVEL = 3
#: The largest expansion each codec's format allows (zstd: a 128 KiB RLE block in 4
#: bytes; LZ4: 255 bytes of match length per byte), with margin. A record that claims more
#: is refused before anything is allocated.
_MAX_RATIO = {"zstd": 1 << 16, "lz4": 1 << 10}
_SLACK = 1 << 16
_INSTALL = "pip install 'payloadkit[compression]'"
#: Serializers that compress inside their own format and refuse a codec on top.
OWN_COMPRESSION = frozenset({"parquet", "arrow"})


class Default(enum.Enum):
    """The type of `DEFAULT`: ``compression=`` left out."""

    DEFAULT = "default"


#: ``compression=`` left out: the configuration, then the serializer's default, decide.
DEFAULT = Default.DEFAULT


@dataclass(frozen=True)
class Record:
    """How a payload's stored bytes are compressed, as its manifest records it.

    ``scope`` is ``"object"`` (the stored bytes are one codec frame holding the
    serializer's ``size`` bytes) or ``"frames"`` (a pickle container whose header records
    each frame's codec; ``size`` is the sum of its frames' raw sizes).
    """

    codec: str
    scope: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        """The manifest's ``compression`` field."""
        return {"codec": self.codec, "scope": self.scope, "size": self.size}

    @classmethod
    def from_dict(cls, data: object) -> Record:
        """Parse a manifest's field (an unknown codec is kept: loading it says what to do)."""
        if not isinstance(data, dict) or set(data) != {"codec", "scope", "size"}:
            raise ValueError("bad compression field")
        codec, scope, size = data["codec"], data["scope"], data["size"]
        if not (isinstance(codec, str) and 0 < len(codec) <= 32 and codec.isprintable()):
            raise ValueError("bad compression codec")
        if scope not in ("object", "frames") or type(size) is not int or size < 0:
            raise ValueError("bad compression field")
        return cls(codec, scope, size)

    @property
    def signed(self) -> list[object]:
        """What a manifest signature covers of it."""
        return [self.codec, self.scope, self.size]


# -- choosing -------------------------------------------------------------------------
class Choices:
    """``configure(compression={...})``: codecs by type (MRO, dotted names) or serializer name."""

    def __init__(self, choices: Mapping[type | str, str | None] | None = None) -> None:
        from payloadkit._registry import _TypeTable

        self.given: dict[type | str, str | None] = dict(choices or {})
        self._types = _TypeTable()
        self._by_serializer: dict[str, str | None] = {}
        for key, codec in self.given.items():
            check_choice(codec, f"configure(compression={{{key!r}: ...}})")
            if isinstance(key, str) and "." not in key.strip("."):
                self._by_serializer[key] = codec
            else:
                self._types.add(_TypeTable.check(key), _encode_codec(codec), 2)

    def lookup(self, cls: type, serializer: str) -> tuple[str | None, str] | None:
        """``(codec, reason)`` configured for an object of ``cls`` saved with ``serializer``."""
        hit = self._types.lookup(cls)
        if hit is not None:
            return _decode_codec(hit[0]), f"configured for {qualified_name(hit[1])}"
        if serializer in self._by_serializer:
            return self._by_serializer[serializer], f"configured for the {serializer} serializer"
        return None


def _encode_codec(codec: str | None) -> str:
    return "none" if codec is None else codec


def _decode_codec(name: str) -> str | None:
    return None if name == "none" else name


def check_choice(codec: object, where: str) -> None:
    """ConfigurationError unless ``codec`` is one of `CHOICES`."""
    if codec not in CHOICES:
        raise ConfigurationError(
            f"{where} takes one of 'auto', 'zstd', 'lz4' or None, not {codec!r:.60}."
        )


def choose(
    obj: Any, serializer: Serializer, requested: str | Default | None
) -> tuple[str | None, str]:
    """The compression asked for ``obj`` saved with ``serializer``, and why."""
    if requested is not DEFAULT:
        check_choice(requested, "compression=")
        codec, reason = requested, "given as the compression= argument"
    else:
        from payloadkit._config import settings

        found = settings().compression.lookup(type(obj), serializer.name)
        if found is not None:
            codec, reason = found[0], f"{found[1]} by configure(compression=...)"
        else:
            codec = getattr(serializer, "default_compression", None)
            check_choice(codec, f"{serializer.name}.default_compression")
            reason = f"the {serializer.name} serializer's default"
    if codec is not None and (serializer.name in OWN_COMPRESSION or serializer.writes_files):
        if requested is DEFAULT and codec == "auto":
            return None, f"{serializer.name} writes its own file format, which stays plain"
        raise ConfigurationError(
            f"The {serializer.name} serializer writes its own file format "
            f"({serializer.extension or 'a file'}), which "
            + (
                "compresses its column chunks itself (pass its own options instead)"
                if serializer.name in OWN_COMPRESSION
                else "payloadkit does not compress"
            )
            + f"; compression={codec!r} does not apply. Use compression=None for it."
        )
    if codec in CODECS:
        _require(codec, f"store this {serializer.name} payload ({reason})")
    return codec, reason


def available(codec: str) -> bool:
    """True when the library of ``codec`` can be imported here."""
    try:
        return importlib.util.find_spec(_MODULES[codec].split(".")[0]) is not None
    except (ImportError, ValueError):
        return False


def resolve_auto() -> str | None:
    """The codec ``"auto"`` uses here: zstd, else lz4, else None (neither is installed)."""
    for codec in ("zstd", "lz4"):
        if available(codec):
            return codec
    return None


def _require(codec: str, action: str) -> Any:
    try:
        if not available(codec):
            raise ImportError(codec)
        return importlib.import_module(_MODULES[codec])
    except ImportError:
        raise ConfigurationError(
            f"Cannot {action} with {codec}: its library {CODECS[codec]!r} is not installed. "
            f"Install it ({_INSTALL}) or choose compression='auto' or None."
        ) from None


# -- compressing ----------------------------------------------------------------------
def wants(codec: str, frame: memoryview) -> bool:
    """``"auto"``'s rule for one frame: large enough, and samples of it shrink enough."""
    size = frame.nbytes
    if size < AUTO_MIN_BYTES:
        return False
    if size <= 2 * _SAMPLES * _SAMPLE_BYTES:
        return True  # small enough to compress whole as its own sample
    step = (size - _SAMPLE_BYTES) // (_SAMPLES - 1)
    sample = b"".join(
        frame[i * step : i * step + _SAMPLE_BYTES] for i in range(_SAMPLES)
    )  # 80 KiB: negligible next to the frame
    return len(_compress_one(codec, sample)) <= AUTO_KEEP_RATIO * len(sample)


def compress(codec: str, pieces: Sequence[Buffer]) -> bytes:
    """One standard ``codec`` frame holding the concatenation of ``pieces`` (size recorded)."""
    views = [as_bytes_view(piece) for piece in pieces]
    if len(views) == 1:
        return _compress_one(codec, views[0])
    total = sum(view.nbytes for view in views)
    module = _require(codec, "compress")
    if codec == "zstd":
        zobj = _zstd_compressor(module).compressobj(size=total)
        out = [zobj.compress(view) for view in views]
        out.append(zobj.flush())
    else:
        lobj = module.LZ4FrameCompressor(content_checksum=True)
        out = [lobj.begin(source_size=total)]
        out += [lobj.compress(view) for view in views]
        out.append(lobj.flush())
    return b"".join(out)


_local = threading.local()


def _zstd_compressor(module: Any) -> Any:
    """This thread's zstd compressor: making one costs more than compressing a sample."""
    compressor = getattr(_local, "zstd", None)
    if compressor is None:
        compressor = _local.zstd = module.ZstdCompressor(level=ZSTD_LEVEL, write_checksum=True)
    return compressor


def _compress_one(codec: str, data: Buffer) -> bytes:
    module = _require(codec, "compress")
    if codec == "zstd":
        return _zstd_compressor(module).compress(data)  # type: ignore[no-any-return]
    return module.compress(data, store_size=True, content_checksum=True)  # type: ignore[no-any-return]


# -- loading --------------------------------------------------------------------------
def check_loadable(codec: str, what: str, **context: str | None) -> None:
    """Before any byte is read: DeserializationError unless ``codec`` is known and installed.

    ``context`` (``digest``, ``type_name``, ``store``) is given to the error.
    """
    if codec not in CODECS:
        raise DeserializationError(
            f"{what} is compressed with {codec!r:.40}, a codec this payloadkit does not know "
            f"(it reads {', '.join(sorted(CODECS))}). It was written by a newer payloadkit, "
            "or the manifest is damaged: upgrade payloadkit (pip install --upgrade payloadkit).",
            **context,
        )
    if not available(codec):
        raise DeserializationError(
            f"{what} is compressed with {codec}, whose library {CODECS[codec]!r} is not "
            f"installed here. Install it: {_INSTALL} (or pip install {CODECS[codec]}).",
            **context,
        )


def undo(record: Record | None, data: memoryview) -> memoryview:
    """The serializer's bytes from a payload's verified stored bytes, as ``record`` says.

    A container compressed frame by frame is returned as it is: its serializer reads it.
    """
    if record is None or record.scope != "object":
        return data
    return decompress(record.codec, data, record.size, "The payload")


def decompress(codec: str, data: memoryview, size: int, what: str = "A frame") -> memoryview:
    """The ``size`` bytes the ``codec`` frame ``data`` holds, as a writable view.

    Never writes more than ``size`` bytes nor allocates more than the codec could
    produce from ``data``: a frame that decodes to another size, or is not a valid frame,
    raises IntegrityError.
    """
    check_loadable(codec, what)
    limit = data.nbytes * _MAX_RATIO[codec] + _SLACK
    if size > limit:
        raise IntegrityError(
            f"{what} claims {size} bytes from {data.nbytes} compressed with {codec}, more than "
            "the codec can produce: the record is damaged or forged. Nothing was decoded."
        )
    module = importlib.import_module(_MODULES[codec])
    try:
        out = _zstd(module, data, size) if codec == "zstd" else _lz4(module, data, size)
    except IntegrityError:
        raise
    except Exception as exc:  # the codec's own error on bytes that are not its frames
        raise IntegrityError(
            f"{what} is not a valid {codec} frame ({type(exc).__name__}: {str(exc)[:120]}); "
            "the stored bytes were written damaged. Nothing was decoded."
        ) from None
    if out is None:
        raise IntegrityError(
            f"{what} does not decompress to the {size} bytes recorded for it: the bytes or "
            "the record are damaged or forged (a decompression bomb stops here). Nothing was "
            "decoded; delete the payload and save it again."
        )
    return out


def _zstd(module: Any, data: memoryview, size: int) -> memoryview | None:
    declared = module.frame_content_size(data)
    if declared not in (-1, size):
        return None
    out = bytearray(size)
    view = memoryview(out)
    filled = 0
    reader = module.ZstdDecompressor().stream_reader(data, read_across_frames=True)
    with reader:
        while filled < size:
            got = reader.readinto(view[filled:])
            if not got:
                return None
            filled += got
        if reader.read(1):
            return None
    return view


def _lz4(module: Any, data: memoryview, size: int) -> memoryview | None:
    declared = module.get_frame_info(data).get("content_size", 0)
    if declared not in (0, size):
        return None
    decompressor = module.LZ4FrameDecompressor()
    raw = decompressor.decompress(data, max_length=size + 1)
    if len(raw) != size or not decompressor.eof or decompressor.unused_data:
        return None
    return memoryview(bytearray(raw))
