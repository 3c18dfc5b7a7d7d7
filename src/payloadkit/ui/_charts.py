"""Small SVG charts drawn on the server (no script, numbers only)."""

from __future__ import annotations

from html import escape

__all__ = ["histogram_svg"]

_WIDTH, _HEIGHT, _PAD = 480, 160, 24


def histogram_svg(counts: list[int], edges: list[float]) -> str:
    """Bars of ``counts`` between ``edges`` (one more edge than counts), axis ends labelled."""
    if not counts or len(edges) != len(counts) + 1:
        return ""
    tallest = max(counts) or 1
    inner_w, inner_h = _WIDTH - 2 * _PAD, _HEIGHT - 2 * _PAD
    bar = inner_w / len(counts)
    parts = [
        f'<svg class="histogram" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_WIDTH} {_HEIGHT}" '
        f'role="img" aria-label="histogram of {sum(counts)} values">'
    ]
    for i, count in enumerate(counts):
        h = inner_h * count / tallest
        x, y = _PAD + i * bar, _PAD + inner_h - h
        tip = escape(f"{edges[i]:.4g} to {edges[i + 1]:.4g}: {count}")
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(bar - 1, 1):.1f}" height="{h:.1f}">'
            f"<title>{tip}</title></rect>"
        )
    baseline = _PAD + inner_h
    parts += [
        f'<line x1="{_PAD}" y1="{baseline}" x2="{_WIDTH - _PAD}" y2="{baseline}"/>',
        f'<text x="{_PAD}" y="{_HEIGHT - 6}">{escape(f"{edges[0]:.4g}")}</text>',
        f'<text x="{_WIDTH - _PAD}" y="{_HEIGHT - 6}" text-anchor="end">'
        f"{escape(f'{edges[-1]:.4g}')}</text>",
        f'<text x="{_PAD}" y="{_PAD - 8}">max {tallest}</text>',
        "</svg>",
    ]
    return "".join(parts)
