"""The run graph as inline SVG, laid out on the server in layers.

Layers are bands from top to bottom; a band holding more Works than fit across wraps
onto several lines, so a hundred parallel Works make a tall, scrollable grid rather than
a hairball. Edges are drawn orthogonally through the empty space only: down out of the
producer into the gap below it, along to a gutter between columns, through the gutter
to the channel above the consumer's band, along to the gutter beside the consumer, and
into its top (see `_route`). Edges sharing a stretch overlap, which reads as a bus. Every text is
escaped: Work names and digests come from the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from payloadkit.ui._lineage import Edge, Lineage, WorkNode

__all__ = ["MAX_COLUMNS", "render_graph"]

#: Works side by side in one line of a layer before it wraps.
MAX_COLUMNS = 6
_W, _H = 164, 56  # a node
_GUTTER = 28  # between columns, where edges run down
_GAP = 30  # between the lines of one layer
_CHANNEL = 46  # above each layer, where edges run across
_MARGIN = 10
_NAME_CHARS = 22


@dataclass(frozen=True)
class _Box:
    x: int
    y: int
    column: int
    layer: int
    line: int
    #: True when another node of the same layer sits below this one.
    covered: bool

    @property
    def center(self) -> int:
        return self.x + _W // 2


def render_graph(lineage: Lineage, anchors: dict[str, str]) -> str:
    """The SVG of ``lineage``; ``anchors`` maps each Work name to its id on the page."""
    if not lineage.nodes:
        return ""
    back_to_top = any(e.back for e in lineage.edges)
    boxes, tops, height = _layout(lineage.nodes, back_to_top)
    columns = max(b.column for b in boxes.values()) + 1
    width = 2 * _MARGIN + _GUTTER + columns * (_W + _GUTTER)
    parts = [
        f'<svg class="graph" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{len(lineage.nodes)} Works and the payloads between them">',
        '<defs><marker id="arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L8,4 L0,8 z" '
        'class="arrowhead"/></marker></defs>',
    ]
    parts += [_edge(e, boxes, tops) for e in lineage.edges]
    parts += [_node(n, boxes[n.name], anchors.get(n.name, "")) for n in lineage.nodes]
    parts.append("</svg>")
    return "\n".join(parts)


def _layout(nodes: list[WorkNode], back_edges: bool) -> tuple[dict[str, _Box], dict[int, int], int]:
    """Each node's box, the height of each layer's channel, and the total height.

    The first layer needs a channel above it only for edges going back up.
    """
    layers: dict[int, list[WorkNode]] = {}
    for node in nodes:
        layers.setdefault(node.layer, []).append(node)
    boxes: dict[str, _Box] = {}
    tops: dict[int, int] = {}
    y = _MARGIN if back_edges else _MARGIN - _CHANNEL + _GAP // 2
    for layer in sorted(layers):
        tops[layer] = y
        members = layers[layer]
        for i, node in enumerate(members):
            line, column = divmod(i, MAX_COLUMNS)
            top = y + _CHANNEL + line * (_H + _GAP)
            covered = i + MAX_COLUMNS < len(members)
            boxes[node.name] = _Box(_column_x(column), top, column, layer, line, covered)
        lines = (len(members) + MAX_COLUMNS - 1) // MAX_COLUMNS
        y += _CHANNEL + lines * _H + (lines - 1) * _GAP
    return boxes, tops, y + _CHANNEL // 2 + _MARGIN


def _column_x(column: int) -> int:
    return _MARGIN + _GUTTER + column * (_W + _GUTTER)


def _gutter_x(column: int) -> int:
    """The middle of the gutter left of ``column`` (``column + 1``: right of it)."""
    return _MARGIN + _GUTTER // 2 + column * (_W + _GUTTER)


def _route(source: _Box, target: _Box, tops: dict[int, int]) -> list[tuple[int, int]]:
    """The corner points of the edge from ``source`` to ``target`` (see module docstring).

    Edges leave a node at the right of its bottom, towards the gutter on its right, and
    enter at the left of its top, from the gutter on its left, at different heights of
    the gap between two lines: what leaves one node never looks as if it entered the
    node below. A node right above its target, nothing in between, gets a straight line.
    """
    if (target.layer, target.column, target.line) == (source.layer + 1, source.column, 0) and (
        not source.covered
    ):
        return [(source.center, source.y + _H), (source.center, target.y)]  # straight down
    out_x, in_x = source.x + 3 * _W // 4, target.x + _W // 4
    below = source.y + _H + _GAP // 3
    down = _gutter_x(source.column + 1)
    across = tops[target.layer] + _CHANNEL // 2
    side = _gutter_x(target.column)
    above = target.y - _GAP // 3
    return [
        (out_x, source.y + _H),
        (out_x, below),
        (down, below),
        (down, across),
        (side, across),
        (side, above),
        (in_x, above),
        (in_x, target.y),
    ]


def _edge(edge: Edge, boxes: dict[str, _Box], tops: dict[int, int]) -> str:
    points = _route(boxes[edge.producer], boxes[edge.consumer], tops)
    path = " ".join(f"{x},{y}" for x, y in points)
    what = ", ".join(d[:19] for d in edge.digests[:3]) + (" ..." if len(edge.digests) > 3 else "")
    title = escape(f"{edge.producer} -> {edge.consumer}: {what}")
    kind = "edge back" if edge.back else "edge"
    line = (
        f'<g class="{kind}"><title>{title}</title>'
        f'<polyline points="{path}" marker-end="url(#arrow)"/></g>'
    )
    if len(edge.digests) == 1:
        return f'<a href="/payloads/{escape(edge.digests[0])}">{line}</a>'
    return line


def _node(node: WorkNode, box: _Box, anchor: str) -> str:
    name = node.name.removeprefix("root.")
    shown = name if len(name) <= _NAME_CHARS else name[: _NAME_CHARS - 1] + "\u2026"
    calls = "1 call" if node.calls == 1 else f"{node.calls} calls"
    status = node.status.replace(" ", "-")
    mark = "\u2715 " if node.status != "succeeded" and node.status != "not run" else ""
    return (
        f'<a href="#{escape(anchor)}"><g class="node status-{escape(status)}">'
        f"<title>{escape(node.name)} ({escape(node.status)})</title>"
        f'<rect x="{box.x}" y="{box.y}" width="{_W}" height="{_H}" rx="6"/>'
        f'<text x="{box.x + 10}" y="{box.y + 22}" class="name">{escape(shown)}</text>'
        f'<text x="{box.x + 10}" y="{box.y + 42}" class="meta">'
        f"{escape(mark + node.status)} \u00b7 {calls}</text></g></a>"
    )
