"""Small helpers for readable command output."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["format_size", "print_table", "safe"]

_ESCAPES = {i: f"\\x{i:02x}" for i in [*range(0x20), 0x7F]} | {0x0A: "\\n", 0x09: "\\t"}


def safe(text: object) -> str:
    """``text`` with control characters escaped, fit for a terminal: stored strings are untrusted."""
    shown = str(text)
    if shown.isprintable():
        return shown
    return "".join(
        ch.translate(_ESCAPES) if ch.isprintable() or ord(ch) in _ESCAPES else f"\\u{ord(ch):04x}"
        for ch in shown
    )


def print_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print rows as left-aligned columns under a header."""
    cells = [[safe(c) for c in header], *[[safe(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def format_size(size: int) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
