"""One warning per set of Lightning arguments that payloadkit accepts and ignores."""

from __future__ import annotations

import threading
import warnings
from typing import Any

__all__ = ["LightningCompatWarning", "ignore"]

_warned: set[tuple[str, frozenset[str]]] = set()
_lock = threading.Lock()


class LightningCompatWarning(UserWarning):
    """Lightning arguments that have no meaning in payloadkit were given and are ignored."""


def ignore(owner: str, arguments: dict[str, Any]) -> None:
    """Warn once per process about each set of ignored arguments of ``owner``."""
    if not arguments:
        return
    key = (owner, frozenset(arguments))
    with _lock:
        if key in _warned:
            return
        _warned.add(key)
    warnings.warn(
        f"{owner} ignores these Lightning arguments, which have no meaning in payloadkit: "
        f"{', '.join(sorted(arguments))}. Remove them to silence this warning.",
        LightningCompatWarning,
        stacklevel=4,
    )
