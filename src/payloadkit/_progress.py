"""Progress of long transfers, reported through fsspec-style callbacks.

A callback is any object with ``set_size(n)`` and ``relative_update(n)`` — an
`fsspec.callbacks.Callback` is one. Pass your own as ``callback=`` to
``store.put``/``store.get``. Without one, transfers of at least `PROGRESS_FROM`
bytes show a tqdm bar on standard error when tqdm is installed and progress is on:
``PAYLOADKIT_PROGRESS=1`` turns it on, ``0`` off; by default it is on when standard error
is a terminal. `show_progress` changes that for this process. The command line's
``get`` and ``put`` draw their bars by the same rules.

```python
import fsspec.callbacks
import payloadkit as pk

class Count(fsspec.callbacks.Callback):
    pass

counter = Count()
store = pk.open_store("memory://progress-doc")
store.get(store.put(b"x" * 1000), callback=counter)
```
"""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = [
    "PROGRESS_FROM",
    "close_callback",
    "progress_bar",
    "progress_wanted",
    "show_progress",
    "transfer_callback",
]

#: Transfers at least this large get a progress bar when none is given.
PROGRESS_FROM = 32 * 1024 * 1024

_forced: bool | None = None


def show_progress(enabled: bool | None) -> None:
    """Turn default progress bars on or off for this process (None: back to the default)."""
    global _forced
    _forced = enabled


def _enabled() -> bool:
    if _forced is not None:
        return _forced
    env = os.environ.get("PAYLOADKIT_PROGRESS", "").strip().lower()
    if env:
        return env not in ("0", "false", "no", "off")
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def transfer_callback(callback: Any, size: int, description: str) -> Any:
    """The callback to report a transfer of ``size`` bytes through.

    The user's callback when given; else a tqdm bar for a large transfer when progress
    is on and tqdm is installed; else a callback that does nothing. Close the result
    with ``close()`` (fsspec callbacks and the bar support it) when the transfer ends.
    """
    from fsspec.callbacks import DEFAULT_CALLBACK

    if callback is not None:
        return callback
    bar = progress_bar(size, description) if progress_wanted(size) else None
    return DEFAULT_CALLBACK if bar is None else bar


def progress_wanted(size: int) -> bool:
    """True when a transfer of ``size`` bytes without a callback of its own gets a bar."""
    return size >= PROGRESS_FROM and _enabled()


def progress_bar(size: int, description: str) -> Any:
    """A tqdm bar on standard error as an fsspec callback, or None without tqdm."""
    try:
        import tqdm  # noqa: F401  (only to learn whether tqdm is installed)
        from fsspec.callbacks import TqdmCallback
    except ImportError:
        return None
    return TqdmCallback(
        tqdm_kwargs={
            "desc": description,
            "unit": "B",
            "unit_scale": True,
            "unit_divisor": 1024,
            "leave": False,
            "file": sys.stderr,
            # Redraw on every update (each is a chunk of megabytes, so few): a short
            # transfer shows its progress too, not only the bar at 0 %.
            "mininterval": 0,
        },
        size=size,
    )


def close_callback(callback: Any, given: Any) -> None:
    """Close a callback this module made (never one the user passed)."""
    if callback is not given:
        close = getattr(callback, "close", None)
        if close is not None:
            close()
