"""Run records as the pages show them: summaries for the list, one run in detail.

Records are read with `payloadkit._gc.run_records` and the readers of
`payloadkit.app._record`; any field of the wrong type reads as absent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from payloadkit._gc import run_records
from payloadkit._maintenance import RUNS
from payloadkit.app._record import run_outcome, work_entries, work_history
from payloadkit.errors import IntegrityError, PayloadNotFoundError
from payloadkit.stores import Store
from payloadkit.ui._lineage import Lineage, lineage_of

__all__ = ["RunDetail", "RunSummary", "filter_runs", "read_run", "run_summaries"]


@dataclass(frozen=True)
class RunSummary:
    """One line of the runs list."""

    run_id: str
    app: str
    executor: str
    started: str
    outcome: str
    duration: float | None
    works: int
    payloads: int
    error: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return dict(self.__dict__)


@dataclass
class RunDetail:
    """One run: its summary, the record, its lineage and the Works' calls."""

    summary: RunSummary
    record: dict[str, Any]
    lineage: Lineage
    format: int


def run_summaries(store: Store) -> tuple[list[RunSummary], list[str]]:
    """Every readable run, newest first, and the names of damaged records skipped."""
    damaged: list[str] = []
    records = run_records(store, damaged)
    return [summarize(r) for r in records], damaged


def summarize(record: dict[str, Any]) -> RunSummary:
    """The list line of one record."""
    payloads = record.get("payloads")
    return RunSummary(
        run_id=str(record.get("run_id")),
        app=_text(record.get("app")),
        executor=_text(record.get("executor")),
        started=_text(record.get("started")),
        outcome=run_outcome(record),
        duration=_duration(record.get("started"), record.get("ended")),
        works=len(work_entries(record)),
        payloads=len(payloads) if isinstance(payloads, list) else 0,
        error=_text(record.get("error"), ""),
    )


def filter_runs(
    runs: list[RunSummary], *, outcome: str = "", app: str = "", text: str = ""
) -> list[RunSummary]:
    """The runs with this outcome, whose app contains ``app``, and that mention ``text``."""
    text = text.lower()
    return [
        r
        for r in runs
        if (not outcome or r.outcome == outcome)
        and (not app or app.lower() in r.app.lower())
        and (not text or any(text in f.lower() for f in (r.run_id, r.app, r.error, r.executor)))
    ]


def read_run(store: Store, run_id: str) -> RunDetail | None:
    """The run ``run_id``, or None when there is no such readable run record."""
    try:
        record = store.get_record(RUNS, run_id)
    except (PayloadNotFoundError, IntegrityError):
        return None
    if record.get("kind") != "payloadkit.run":
        return None
    fmt = record.get("format")
    return RunDetail(
        summarize(record), record, lineage_of(record), fmt if isinstance(fmt, int) else 1
    )


def calls_of(record: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The calls of one Work, each with text fields ready to show."""
    calls = []
    history: list[Any] = work_history(record, name)  # stored data: items may be anything
    for call in history:
        if not isinstance(call, dict):
            continue
        calls.append(
            {
                "call": _text(call.get("call")),
                "started": _text(call.get("started")),
                "ended": _text(call.get("ended")),
                "status": _text(call.get("status")),
                "inputs": _sides(call.get("inputs")),
                "outputs": _sides(call.get("outputs")),
                "error": _text(call.get("error"), ""),
            }
        )
    return calls


def state_items(record: dict[str, Any], name: str) -> list[tuple[str, list[str], str]]:
    """A Work's final state: (attribute, the payload digests it holds, text to show)."""
    entry = work_entries(record).get(name)
    state = entry.get("state") if isinstance(entry, dict) else None
    if not isinstance(state, dict):
        return []
    items = []
    for key, value in sorted(state.items(), key=lambda kv: str(kv[0])):
        digests = sorted(_payload_digests(value))
        items.append((str(key), digests, _state_text(value, digests)))
    return items


def _payload_digests(value: Any) -> set[str]:
    """The digests of the payload dict forms anywhere in ``value`` (stored data: any shape)."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("ref")
            if item.get("kind") == "payloadkit.Payload" and isinstance(ref, dict):
                if isinstance(ref.get("digest"), str):
                    found.add(ref["digest"])
                continue
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _state_text(value: Any, digests: list[str]) -> str:
    """A payload's type, "N payloads", or the JSON value shortened."""
    ref = value.get("ref") if isinstance(value, dict) else None
    if len(digests) == 1 and isinstance(ref, dict):
        return _text(ref.get("type"))
    if digests:
        return f"{len(digests)} payload" + ("s" if len(digests) > 1 else "")
    shown = json.dumps(value, default=str)
    return shown if len(shown) <= 300 else shown[:299] + "\u2026"


def _sides(side: Any) -> list[tuple[str, list[str]]]:
    if not isinstance(side, dict):
        return []
    found = []
    for name, value in sorted(side.items(), key=lambda kv: str(kv[0])):
        values = value if isinstance(value, list) else [value]
        found.append((str(name), [v for v in values if isinstance(v, str)]))
    return found


def _text(value: Any, missing: str = "?") -> str:
    return missing if value is None else str(value)


def _duration(started: Any, ended: Any) -> float | None:
    try:
        return (datetime.fromisoformat(ended) - datetime.fromisoformat(started)).total_seconds()
    except (TypeError, ValueError):
        return None
