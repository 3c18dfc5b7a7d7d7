"""The run graph stays legible with 100 parallel Works: a grid of lines, edges in the gaps."""

from __future__ import annotations

import itertools
import re
from typing import Any

from tests.ui._flows import FanOut, run_app

import payloadkit as pk
from payloadkit.ui._graph import MAX_COLUMNS, render_graph
from payloadkit.ui._lineage import lineage_of

_RECT = re.compile(r'<rect x="(\d+)" y="(\d+)" width="(\d+)" height="(\d+)"')
_LINE = re.compile(r'<polyline points="([^"]+)"')


def _crosses(segment: tuple[tuple[int, int], tuple[int, int]], box: tuple[int, ...]) -> bool:
    """True when an axis-parallel segment passes through the inside of a box."""
    (x1, y1), (x2, y2) = segment
    x, y, w, h = box
    if x1 == x2:
        return x < x1 < x + w and min(y1, y2) < y + h and max(y1, y2) > y
    return y < y1 < y + h and min(x1, x2) < x + w and max(x1, x2) > x


def test_hundred_parallel_works_make_a_grid(local_store: pk.Store) -> None:
    """100 Works between a split and a total wrap into lines; no edge passes through a node."""
    record = run_app(FanOut(100), local_store)
    svg = render_graph(lineage_of(record), {})
    boxes = [tuple(int(v) for v in m.groups()) for m in _RECT.finditer(svg)]
    assert len(boxes) == 102
    columns = {b[0] for b in boxes}
    assert len(columns) == MAX_COLUMNS
    assert len({b[1] for b in boxes}) == 2 + -(-100 // MAX_COLUMNS)  # split, 17 lines, total
    lines = [
        [tuple(int(v) for v in point.split(",")) for point in m.group(1).split()]
        for m in _LINE.finditer(svg)
    ]
    assert len(lines) == 200
    for points in lines:
        for segment in itertools.pairwise(points):
            assert segment[0][0] == segment[1][0] or segment[0][1] == segment[1][1]
            assert not any(_crosses(segment, box) for box in boxes)  # type: ignore[arg-type]
    width = int(re.search(r'width="(\d+)"', svg).group(1))  # type: ignore[union-attr]
    assert width < 1300


def test_loops_draw_back_edges(local_store: pk.Store) -> None:
    """A payload going back to a Work called earlier is drawn as a back edge, not a new layer."""
    record: dict[str, Any] = {
        "works": {
            "root.a": {
                "status": "succeeded",
                "history": [
                    {"call": 1, "outputs": {"x": "blake3:" + "1" * 64}},
                    {"call": 3, "inputs": {"y": "blake3:" + "2" * 64}},
                ],
            },
            "root.b": {
                "status": "succeeded",
                "history": [
                    {
                        "call": 2,
                        "inputs": {"x": "blake3:" + "1" * 64},
                        "outputs": {"y": "blake3:" + "2" * 64},
                    },
                ],
            },
        }
    }
    lineage = lineage_of(record)
    assert [(n.name, n.layer) for n in lineage.nodes] == [("root.a", 0), ("root.b", 1)]
    assert [(e.producer, e.consumer, e.back) for e in lineage.edges] == [
        ("root.a", "root.b", False),
        ("root.b", "root.a", True),
    ]
    assert 'class="edge back"' in render_graph(lineage, {})
