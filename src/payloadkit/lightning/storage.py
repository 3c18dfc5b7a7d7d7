"""Lightning's storage API: ``Payload``, ``Path`` and ``Drive``, all moving through the store.

- `Payload` wraps an object (``self.df = L.storage.Payload(df)``).
- `Path` is a file or folder a Work writes and other Works read.
- `Drive` is a named folder shared by every Work (``put``, ``get``, ``list``,
  ``delete``).
"""

from __future__ import annotations

from typing import Any

from payloadkit.lightning._drive import Drive
from payloadkit.lightning._path import Path
from payloadkit.lightning._payload import Payload

__all__ = ["Drive", "Path", "Payload"]


def __getattr__(name: str) -> Any:
    if name == "Mount":
        raise AttributeError(
            "payloadkit.lightning.storage has no Mount: cloud buckets mounted into a Work "
            "are Lightning's cloud. Read the files through a Drive or a Payload instead."
        )
    raise AttributeError(f"module 'payloadkit.lightning.storage' has no attribute {name!r}")
