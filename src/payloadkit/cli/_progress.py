"""Progress bars of the store commands, by the rules of `payloadkit._progress`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from payloadkit._progress import progress_bar, progress_wanted

__all__ = ["progress_callback"]


@contextlib.contextmanager
def progress_callback(size: int, label: str, *, force: bool = False) -> Iterator[Any]:
    """An fsspec callback drawing a bar on stderr for this transfer, or None when none is wanted.

    A bar is drawn when `payloadkit._progress.progress_wanted` says so (a large
    transfer, progress on) or when ``force`` is true; without tqdm installed there is none.
    The bar ends full even when a write moved into place whole reported no progress.
    """
    callback = progress_bar(size, label) if force or progress_wanted(size) else None
    if callback is None:
        yield None
        return
    try:
        yield callback
        if callback.value < size:
            callback.relative_update(size - callback.value)
    finally:
        callback.close()
