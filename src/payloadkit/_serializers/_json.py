"""JSON: plain ``.json`` files any tool can read. Chosen by name only (tuples become lists)."""

from __future__ import annotations

import json
from typing import Any

from payloadkit._serializer import Serializer
from payloadkit.errors import DeserializationError

__all__ = ["JsonSerializer"]


class JsonSerializer(Serializer):
    """UTF-8 JSON; refuses NaN/Infinity, which are not JSON."""

    name = "json"
    version = "1"
    extension = ".json"
    #: Large documents that shrink are stored as ``.json.zst`` (a standard zstd frame).
    default_compression = "auto"

    def dumps(self, obj: Any) -> bytes:
        return json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()

    def loads(self, data: memoryview) -> Any:
        try:
            return json.loads(bytes(data))
        except (ValueError, RecursionError) as exc:
            raise DeserializationError(f"not a readable JSON document: {exc}") from None
