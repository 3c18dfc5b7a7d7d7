"""``L.storage.Payload``: payloadkit's Payload under Lightning's name.

Lightning's ``Path`` and ``Drive`` have no counterpart here; wrap the object in a
Payload instead (files can be read into one, or kept in the store they already live in).
"""

from __future__ import annotations

from typing import Any

from payloadkit._payload import Payload

__all__ = ["Payload"]

_UNSUPPORTED = ("Path", "Drive", "Mount")


def __getattr__(name: str) -> Any:
    if name in _UNSUPPORTED:
        raise AttributeError(
            f"payloadkit.lightning.storage has no {name}: only Lightning's Payload API is "
            "provided. Wrap the object (or the file's contents) in storage.Payload instead."
        )
    raise AttributeError(f"module 'payloadkit.lightning.storage' has no attribute {name!r}")
