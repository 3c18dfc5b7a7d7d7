"""Comparing version strings without a dependency: numeric parts compare as numbers."""

from __future__ import annotations

import re

__all__ = ["newer_than"]

_PART_RE = re.compile(r"\d+|[A-Za-z]+")


def _key(version: str) -> tuple[tuple[int, int | str], ...]:
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in _PART_RE.findall(version))


def newer_than(version: str, installed: str) -> bool:
    """True when ``version`` is strictly newer than ``installed``.

    >>> newer_than("2", "1"), newer_than("1.10", "1.9"), newer_than("1", "1.0")
    (True, True, False)
    """
    a, b = _key(version), _key(installed)
    width = max(len(a), len(b))
    pad: tuple[int, int | str] = (0, 0)
    return a + (pad,) * (width - len(a)) > b + (pad,) * (width - len(b))
