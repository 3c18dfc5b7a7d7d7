"""Previews of stored payloads, chosen by serializer and type, never running stored code.

Every preview starts from the verified bytes (``Store.read_verified``) and decodes only
what it shows: the schema and first rows of the first batch of a parquet or Arrow file,
the header of a ``.npy`` array and a view of its data, a JSON document (the head of a
large one as text), or the bytes of an image. Payloads of serializers that can run code
on load (pickle, cloudpickle, dill, plugins that say so) show only their manifest unless
the store's load policy trusts them; a pickled ``bytes`` value is read with
`pickletools`, which parses and never executes, to show an image it holds.
"""

from __future__ import annotations

import io
import json
import pickletools
from dataclasses import dataclass, field
from typing import Any

from payloadkit import _compression
from payloadkit._manifest import Manifest
from payloadkit._registry import registry
from payloadkit.errors import PayloadkitError
from payloadkit.stores import Store
from payloadkit.ui._charts import histogram_svg

__all__ = ["IMAGE_TYPES", "Preview", "image_bytes", "preview_payload", "trust_problem"]

#: Image formats shown, by their first bytes (never SVG: it can carry script).
IMAGE_TYPES = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}
#: Larger payloads are not read for a preview (their bytes must all be read to verify).
MAX_PREVIEW_BYTES = 256 * 1024 * 1024
_ROWS = 20
_CELL = 200
_JSON_CHARS = 100_000
_JSON_PARSED = 4 * 1024 * 1024
_STATS_SAMPLE = 2_000_000
_PICKLE_FORMATS = frozenset({"pickle", "cloudpickle"})
_BYTES_TYPES = frozenset({"builtins.bytes", "builtins.bytearray"})


@dataclass
class Preview:
    """What a payload looks like: ``kind`` says which fields are filled."""

    kind: str  # table, array, json, image, text, none
    message: str = ""
    columns: list[dict[str, str]] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    text: str = ""
    svg: str = ""
    image_type: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON form (without the SVG chart)."""
        data = {k: v for k, v in self.__dict__.items() if k != "svg" and v not in ("", [], {})}
        data["kind"] = self.kind
        return data


def trust_problem(store: Store, manifest: Manifest) -> str | None:
    """None when the payload's serializer runs no code on load or the load policy trusts it."""
    name = manifest.ref.serializer
    try:
        runs_code = registry.get(name).runs_code_on_load
    except PayloadkitError:
        return f"serializer {name!r} is not installed here"
    if not runs_code:
        return None
    policy = store.policy
    signed = policy.keyring is not None and (
        policy.keyring.verify(manifest.signed_fields, manifest.signature) is None
    )
    listed = policy.trusted_serializers is not None and name in policy.trusted_serializers
    if signed or (listed and policy.keyring is None):
        return None
    return (
        f"{name} can run code on load and the store's load policy does not trust it: "
        "open the store with trusted_serializers including it, or configure the signing key "
        "(PAYLOADKIT_SECRET) it was signed with"
    )


def preview_payload(store: Store, manifest: Manifest) -> Preview:
    """The preview of one payload (kind ``none`` with a reason when there is none)."""
    meta = manifest.ref
    if meta.size > MAX_PREVIEW_BYTES:
        return Preview("none", f"{meta.size:,} bytes: larger than previews read")
    untrusted = trust_problem(store, manifest)
    if untrusted is not None and not _pickled_bytes(manifest):
        return Preview("none", f"only the manifest is shown: {untrusted}")
    try:
        data = _compression.undo(manifest.compression, store.read_verified(manifest))
        return _decode(store, manifest, data, trusted=untrusted is None)
    except PayloadkitError as exc:
        return Preview("none", str(exc))
    except Exception as exc:  # any decoder failing on hostile bytes: say so, show the rest
        return Preview("none", f"cannot preview: {type(exc).__name__}: {str(exc)[:300]}")


def image_bytes(store: Store, manifest: Manifest) -> tuple[bytes, str] | None:
    """The image a payload holds and its media type, or None when it holds none."""
    if manifest.ref.size > MAX_PREVIEW_BYTES:
        return None
    if trust_problem(store, manifest) is not None and not _pickled_bytes(manifest):
        return None
    data = _compression.undo(manifest.compression, store.read_verified(manifest))
    raw = _raw_image(store, manifest, data)
    if raw is None:
        return None
    return raw, _image_type(raw) or "application/octet-stream"


def _pickled_bytes(manifest: Manifest) -> bool:
    return manifest.ref.serializer in _PICKLE_FORMATS and manifest.ref.type in _BYTES_TYPES


def _decode(store: Store, manifest: Manifest, data: memoryview, *, trusted: bool) -> Preview:
    serializer = manifest.ref.serializer
    image = _raw_image(store, manifest, data)
    if image is not None:
        return Preview("image", image_type=_image_type(image) or "")
    if serializer == "parquet":
        return _parquet(data)
    if serializer == "arrow":
        return _arrow(data)
    if serializer == "frame":
        return _frame(data)
    if serializer == "numpy":
        return _array(data)
    if serializer == "json":
        return _json(data)
    if not trusted:
        return Preview("none", "only the manifest is shown: the value was not loaded")
    return _loaded(store.get(manifest.ref))


def _raw_image(store: Store, manifest: Manifest, data: memoryview) -> bytes | None:
    """The image bytes of a payload: its stored bytes, or a pickled bytes value's content."""
    if _image_type(bytes(data[:16])) is not None and manifest.ref.serializer not in _PICKLE_FORMATS:
        return bytes(data)
    if not _pickled_bytes(manifest):
        return None
    content = _unpickled_bytes(data)
    return content if content is not None and _image_type(content[:16]) else None


def _unpickled_bytes(data: memoryview) -> bytes | None:
    """The bytes a pickle of one bytes object holds, read without running it."""
    found: bytes | None = None
    try:
        for opcode, arg, _ in pickletools.genops(bytes(data)):
            if opcode.name in ("PROTO", "FRAME", "MEMOIZE", "STOP"):
                continue
            if isinstance(arg, bytes | bytearray) and found is None:
                found = bytes(arg)
                continue
            return None  # anything else: not a plain bytes value
    except (ValueError, EOFError):  # not a pickle pickletools can follow
        return None
    return found


def _image_type(head: bytes) -> str | None:
    return next((kind for magic, kind in IMAGE_TYPES.items() if head.startswith(magic)), None)


def _cell(value: Any) -> str:
    text = str(value)
    return text if len(text) <= _CELL else text[: _CELL - 1] + "\u2026"


def _parquet(data: memoryview) -> Preview:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from payloadkit._serializers._arrow import _check_pyarrow_safe

    _check_pyarrow_safe()
    parquet = pq.ParquetFile(pa.BufferReader(pa.py_buffer(data)))
    meta = parquet.metadata
    first = (
        next(parquet.iter_batches(batch_size=_ROWS, row_groups=[0]), None)
        if meta.num_row_groups
        else None
    )
    facts = {"rows": meta.num_rows, "columns": meta.num_columns, "row groups": meta.num_row_groups}
    return _table(parquet.schema_arrow, first, facts)


def _arrow(data: memoryview) -> Preview:
    import pyarrow as pa
    import pyarrow.ipc as ipc

    from payloadkit._serializers._arrow import _check_pyarrow_safe

    _check_pyarrow_safe()
    reader = ipc.open_file(pa.BufferReader(pa.py_buffer(data)))
    first = reader.get_batch(0).slice(0, _ROWS) if reader.num_record_batches else None
    if first is not None:
        first.validate(full=True)
    facts = {"columns": len(reader.schema), "batches": reader.num_record_batches}
    return _table(reader.schema, first, facts)


def _frame(data: memoryview) -> Preview:
    """The hand-over format: JSON and raw blocks, decoded as views (no code runs)."""
    import pyarrow as pa

    from payloadkit._serializers._frame import FrameSerializer

    frame = FrameSerializer().loads(data)
    facts = {"rows": len(frame.index), "columns": frame.shape[1]}
    head = frame.head(_ROWS)
    head.columns = [str(c) for c in head.columns]
    batch = pa.Table.from_pandas(head, preserve_index=False)
    return _table(batch.schema, batch, facts)


def _table(schema: Any, batch: Any, facts: dict[str, Any]) -> Preview:
    columns = [{"name": _cell(f.name), "type": _cell(f.type)} for f in schema]
    rows: list[list[str]] = []
    if batch is not None:
        names = batch.schema.names
        rows = [[_cell(row.get(n)) for n in names] for row in batch.to_pylist()]
    return Preview("table", f"first {len(rows)} rows", columns=columns, rows=rows, facts=facts)


def _array(data: memoryview) -> Preview:
    import numpy as np

    head = io.BytesIO(bytes(data[: 1 << 16]))
    major, _ = np.lib.format.read_magic(head)
    reader = (
        np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
    )
    shape, fortran, dtype = reader(head)
    if dtype.hasobject:
        return Preview("none", "an array of Python objects is not previewed")
    count = int(np.prod(shape)) if shape else 1
    flat = np.frombuffer(data, dtype=dtype, count=count, offset=head.tell())
    array = flat.reshape(shape, order="F" if fortran else "C")
    facts: dict[str, Any] = {"shape": list(shape), "dtype": str(dtype), "size": count}
    preview = Preview("array", facts=facts)
    preview.text = np.array2string(array, threshold=60, edgeitems=3)
    if dtype.kind in "biuf" and count:
        _add_statistics(preview, flat)
    return preview


def _add_statistics(preview: Preview, flat: Any) -> None:
    import numpy as np

    sample = flat[:: max(1, flat.size // _STATS_SAMPLE)].astype(np.float64)
    finite = sample[np.isfinite(sample)]
    stats = preview.facts
    if flat.size > _STATS_SAMPLE:
        stats["statistics of"] = f"a sample of {sample.size:,} values"
    if not finite.size:
        stats["finite values"] = 0
        return
    stats.update(
        min=float(finite.min()),
        max=float(finite.max()),
        mean=float(finite.mean()),
        std=float(finite.std()),
        nonfinite=int(sample.size - finite.size),
    )
    counts, edges = np.histogram(finite, bins=30)
    preview.svg = histogram_svg([int(c) for c in counts], [float(e) for e in edges])


def _json(data: memoryview) -> Preview:
    if data.nbytes > _JSON_PARSED:
        head = bytes(data[:_JSON_CHARS]).decode("utf-8", "replace")
        return Preview("text", f"the first {_JSON_CHARS:,} bytes of {data.nbytes:,}", text=head)
    value = json.loads(bytes(data))
    text = json.dumps(value, indent=2, ensure_ascii=False)
    if len(text) > _JSON_CHARS:
        return Preview("json", f"the first {_JSON_CHARS:,} characters", text=text[:_JSON_CHARS])
    return Preview("json", text=text)


def _loaded(value: Any) -> Preview:
    """A trusted payload, loaded: its type and a shortened repr."""
    from payloadkit.cli._preview import describe

    return Preview(
        "text", f"loaded: {type(value).__module__}.{type(value).__qualname__}", text=describe(value)
    )
