"""A run's lineage: its Works as nodes and the payloads between them as edges.

Built from a run record through the readers of `payloadkit.app._record` only. A
payload goes from the Work whose call first held it (in its ``outputs``) to every other
Work whose call received it (in its ``inputs``). Records are untrusted stored data: any
field of the wrong type reads as absent. Format 1 records have no call history, so their
Works are nodes without edges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from payloadkit.app._record import work_entries, work_history, work_status

__all__ = ["Edge", "Lineage", "WorkNode", "lineage_of"]

#: A call number that sorts after every real one (a Work that no call reached).
_NEVER = 1 << 62


@dataclass
class WorkNode:
    """One Work: its name, final status, calls, first call number and the layer it is drawn in."""

    name: str
    status: str
    calls: int
    first_call: int
    errors: list[str] = field(default_factory=list)
    layer: int = 0


@dataclass
class Edge:
    """Payloads handed from ``producer`` to ``consumer`` (names of Works)."""

    producer: str
    consumer: str
    digests: list[str]
    #: True when the consumer was called before the producer (a loop in the Flow).
    back: bool = False


@dataclass
class Lineage:
    """The nodes (in call order), the edges, and where each payload came from and went."""

    nodes: list[WorkNode]
    edges: list[Edge]
    producers: dict[str, str]
    consumers: dict[str, list[str]]


def lineage_of(record: dict[str, Any]) -> Lineage:
    """The lineage of one run record (see the module docstring)."""
    nodes = [_node(record, name) for name in work_entries(record) if isinstance(name, str)]
    nodes.sort(key=lambda n: (n.first_call, n.name))
    producers, consumers = _flows(record, [n.name for n in nodes])
    order = {n.name: i for i, n in enumerate(nodes)}
    pairs: dict[tuple[str, str], list[str]] = {}
    for digest, producer in sorted(producers.items()):
        for consumer in consumers.get(digest, []):
            if consumer != producer:
                pairs.setdefault((producer, consumer), []).append(digest)
    edges = [
        Edge(p, c, digests, back=order[c] < order[p]) for (p, c), digests in sorted(pairs.items())
    ]
    _assign_layers(nodes, edges)
    return Lineage(nodes, edges, producers, consumers)


def _node(record: dict[str, Any], name: str) -> WorkNode:
    entry = work_entries(record).get(name)
    calls = entry.get("calls") if isinstance(entry, dict) else None
    calls_made: list[Any] = work_history(record, name)  # stored data: items may be anything
    history = [c for c in calls_made if isinstance(c, dict)]
    numbers = [c["call"] for c in history if isinstance(c.get("call"), int)]
    errors = [c["error"] for c in history if isinstance(c.get("error"), str)]
    return WorkNode(
        name=name,
        status=work_status(record, name),
        calls=calls if isinstance(calls, int) else len(history),
        first_call=min(numbers, default=_NEVER),
        errors=errors,
    )


def _flows(record: dict[str, Any], names: list[str]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """digest -> the Work that first held it; digest -> the Works that received it."""
    first_held: dict[str, tuple[int, str]] = {}
    consumers: dict[str, list[str]] = {}
    for name in names:
        calls: list[Any] = work_history(record, name)  # stored data: items may be anything
        for number, call in enumerate(calls):
            if not isinstance(call, dict):
                continue
            given = call.get("call")
            when = given if isinstance(given, int) else _NEVER + number
            for digest in _digests(call.get("outputs")):
                if digest not in first_held or (when, name) < first_held[digest]:
                    first_held[digest] = (when, name)
            for digest in _digests(call.get("inputs")):
                receivers = consumers.setdefault(digest, [])
                if name not in receivers:
                    receivers.append(name)
    return {d: name for d, (_, name) in first_held.items()}, consumers


def _digests(side: Any) -> list[str]:
    """The digests of a call's ``inputs`` or ``outputs`` map ({name: digest | [digest]})."""
    if not isinstance(side, dict):
        return []
    found: list[str] = []
    for value in side.values():
        values = value if isinstance(value, list) else [value]
        found += [v for v in values if isinstance(v, str) and v not in found]
    return found


def _assign_layers(nodes: list[WorkNode], edges: list[Edge]) -> None:
    """Longest path from the Works nothing feeds, along forward edges; unreached Works last."""
    layer = {n.name: 0 for n in nodes}
    incoming: dict[str, list[str]] = {}
    for edge in edges:
        if not edge.back:
            incoming.setdefault(edge.consumer, []).append(edge.producer)
    for node in nodes:  # call order: every forward producer comes first
        layer[node.name] = max((layer[p] + 1 for p in incoming.get(node.name, [])), default=0)
    linked = {e.producer for e in edges} | {e.consumer for e in edges}
    reached = {n.name for n in nodes if n.first_call != _NEVER or n.name in linked}
    below = max((layer[name] for name in reached), default=-1) + 1
    for node in nodes:
        node.layer = layer[node.name] if node.name in reached else below
