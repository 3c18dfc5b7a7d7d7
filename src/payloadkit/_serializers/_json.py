"""JSON: plain ``.json`` files any tool can read. Chosen by name only (tuples become lists)."""

from __future__ import annotations

import json
from typing import Any

from payloadkit._serializer import Serializer

__all__ = ["JsonSerializer"]


class JsonSerializer(Serializer):
    """UTF-8 JSON; refuses NaN/Infinity, which are not JSON."""

    name = "json"
    version = "1"
    extension = ".json"

    def dumps(self, obj: Any) -> bytes:
        return json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()

    def loads(self, data: memoryview) -> Any:
        return json.loads(bytes(data))
