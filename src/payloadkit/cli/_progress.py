"""Progress bars for long transfers, kept behind one function so the bar can change."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

__all__ = ["PROGRESS_FROM", "progress_callback"]

#: Transfers at least this large show a bar (when stderr is a terminal and tqdm is installed).
PROGRESS_FROM = 16 * 1024 * 1024


@contextlib.contextmanager
def progress_callback(size: int, label: str, *, force: bool = False) -> Iterator[Any]:
    """An fsspec callback drawing a tqdm bar on stderr, or None when no bar is wanted.

    A bar is drawn for transfers of at least :data:`PROGRESS_FROM` bytes written to a
    terminal (``force`` draws it anyway); without tqdm installed there is no bar.
    """
    wanted = force or (size >= PROGRESS_FROM and sys.stderr.isatty())
    if not wanted:
        yield None
        return
    try:
        import tqdm  # noqa: F401  (checked here so a missing tqdm means no bar, not an error)
        from fsspec.callbacks import TqdmCallback
    except ImportError:
        yield None
        return
    callback = TqdmCallback(
        tqdm_kwargs={
            "desc": label,
            "unit": "B",
            "unit_scale": True,
            "unit_divisor": 1024,
            "file": sys.stderr,
        }
    )
    callback.set_size(size)
    try:
        yield callback
        if callback.value < size:  # a write moved into place whole reports no progress
            callback.relative_update(size - callback.value)
    finally:
        callback.close()
