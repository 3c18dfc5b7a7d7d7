"""Reading plugin entry points, and the environment variables that control them.

``PAYLOADKIT_PLUGIN_AUTOLOAD=0`` (or ``false``/``no``/``off``) turns discovery off;
``PAYLOADKIT_DISABLE_PLUGINS=a,b`` blocks plugins by entry-point name or by distribution
name (compared the way package indexes compare names: case, ``-``, ``_`` and ``.`` do not
matter). Both groups, ``payloadkit.serializers`` and ``payloadkit.stores``, obey them.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import threading

__all__ = [
    "PluginWarning",
    "autoload_enabled",
    "blocked_plugins",
    "distribution_of",
    "entry_points",
    "forget_entry_points",
    "is_blocked",
    "normalize_name",
]

AUTOLOAD_VARIABLE = "PAYLOADKIT_PLUGIN_AUTOLOAD"
DISABLE_VARIABLE = "PAYLOADKIT_DISABLE_PLUGINS"
_OFF = frozenset({"0", "false", "no", "off"})
_lock = threading.Lock()
_scanned: dict[str, tuple[list[importlib.metadata.EntryPoint], str | None]] = {}


class PluginWarning(UserWarning):
    """A plugin could not be loaded, is blocked, or conflicts with another one."""


def normalize_name(name: str) -> str:
    """``"Payloadkit_Polars"`` -> ``"payloadkit-polars"`` (PEP 503 normalization)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def autoload_enabled() -> bool:
    """False when ``PAYLOADKIT_PLUGIN_AUTOLOAD`` turns plugin discovery off."""
    return os.environ.get(AUTOLOAD_VARIABLE, "1").strip().lower() not in _OFF


def blocked_plugins() -> frozenset[str]:
    """Normalized names listed in ``PAYLOADKIT_DISABLE_PLUGINS``."""
    raw = os.environ.get(DISABLE_VARIABLE, "")
    return frozenset(normalize_name(n.strip()) for n in raw.split(",") if n.strip())


def distribution_of(ep: importlib.metadata.EntryPoint) -> str | None:
    """The name of the distribution that declares ``ep`` (None when unknown)."""
    dist = ep.dist
    return dist.name if dist is not None else None


def is_blocked(ep: importlib.metadata.EntryPoint, blocked: frozenset[str]) -> bool:
    """True when the entry point or its distribution is named in ``blocked``."""
    dist = distribution_of(ep)
    return normalize_name(ep.name) in blocked or (
        dist is not None and normalize_name(dist) in blocked
    )


def entry_points(group: str) -> tuple[list[importlib.metadata.EntryPoint], str | None]:
    """The entry points of ``group``, and an error text when the metadata could not be read.

    The installed distributions are scanned once per group and process (see
    `forget_entry_points`). Broken metadata somewhere on ``sys.path`` must not break
    payloadkit, so the error is returned for the caller to report instead of raised.
    """
    with _lock:
        if group not in _scanned:
            _scanned[group] = _scan(group)
        found, error = _scanned[group]
        return list(found), error


def forget_entry_points() -> None:
    """Scan the installed distributions again on next use (after installing one, in tests)."""
    with _lock:
        _scanned.clear()


def _scan(group: str) -> tuple[list[importlib.metadata.EntryPoint], str | None]:
    try:
        return list(importlib.metadata.entry_points(group=group)), None
    except Exception as exc:  # any broken dist-info on sys.path
        return [], f"could not read the {group!r} entry points: {type(exc).__name__}: {exc}"
