"""A short, safe preview of a stored value for ``payloadkit show``."""

from __future__ import annotations

import sys
from typing import Any

from payloadkit._config import settings
from payloadkit._manifest import Manifest
from payloadkit._registry import registry
from payloadkit.errors import PayloadkitError, UnknownSerializerError

__all__ = ["preview", "preview_allowed"]

_MAX_CHARS = 600


def preview_allowed(manifest: Manifest) -> str | None:
    """None when the value may be loaded for a preview, else why not.

    Loading runs the serializer: only serializers that cannot run code on load qualify,
    or any serializer when a signing key is configured and the manifest's signature
    verifies with it.
    """
    try:
        serializer = registry.get(manifest.ref.serializer)
    except UnknownSerializerError:
        return f"serializer {manifest.ref.serializer!r} is not installed here"
    if not serializer.runs_code_on_load:
        return None
    keyring = settings().keyring
    if keyring is None:
        return (
            f"{serializer.name} can run code on load; configure a signing key "
            "(PAYLOADKIT_SECRET) to preview payloads signed with it"
        )
    return keyring.verify(manifest.signed_fields, manifest.signature)


def preview(store: Any, manifest: Manifest) -> str:
    """A few lines describing the value, or why it was not loaded."""
    why = preview_allowed(manifest)
    if why is not None:
        return f"(no preview: {why})"
    try:
        value = store.get(manifest.ref.digest)
    except PayloadkitError as exc:
        return f"(no preview: {exc})"
    return describe(value)


def describe(value: Any) -> str:
    """The head of a DataFrame, the shape and dtype of an array, else a shortened repr."""
    if _is(value, "pandas", "DataFrame"):
        return f"{value.shape[0]} rows x {value.shape[1]} columns\n{value.head(5).to_string()}"
    if _is(value, "pyarrow", "Table"):
        return f"{value.num_rows} rows\n{value.schema}"
    if _is(value, "numpy", "ndarray"):
        numpy = sys.modules["numpy"]
        values = numpy.array2string(value, threshold=24, edgeitems=3)
        return f"array shape={value.shape} dtype={value.dtype}\n{values}"
    text = repr(value)
    return text if len(text) <= _MAX_CHARS else text[:_MAX_CHARS] + " ..."


def _is(value: Any, module: str, name: str) -> bool:
    """isinstance against a class of an optional library, without importing it."""
    loaded = sys.modules.get(module)
    cls = getattr(loaded, name, None)
    return isinstance(cls, type) and isinstance(value, cls)
