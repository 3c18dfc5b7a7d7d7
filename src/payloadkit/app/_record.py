"""Run records: what one App run did, kept in the store under ``records/runs/<run id>``.

The record is JSON of a fixed shape (``"kind": "payloadkit.run"``, ``"format": 1``): the
app, the executor, start and end times (ISO 8601, UTC), the outcome and error, for every
Work its final state (payloads in dict form), number of runs and status, and the sorted
digests of every payload those states reference, which garbage collection keeps.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from payloadkit.app._state import digests_in

__all__ = ["RUN_RECORD_KIND", "isoformat", "new_run_id", "run_record"]

RUN_RECORD_KIND = "runs"


def new_run_id(started: datetime) -> str:
    """``20261128T102512Z-3fa9c1``: sortable by start time, unique."""
    return f"{started:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def isoformat(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds: ``2026-11-28T10:25:12.123+00:00``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def run_record(
    *,
    run_id: str,
    app: str,
    executor: str,
    started: datetime,
    ended: datetime,
    error: str | None,
    works: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """The record of one run; ``works`` maps names to {"state", "calls", "status"}."""
    digests: set[str] = set()
    for entry in works.values():
        digests |= digests_in(entry["state"])
    return {
        "kind": "payloadkit.run",
        "format": 1,
        "run_id": run_id,
        "app": app,
        "executor": executor,
        "started": isoformat(started),
        "ended": isoformat(ended),
        "outcome": "failed" if error is not None else "succeeded",
        "error": error,
        "works": works,
        "payloads": sorted(digests),
    }


def now() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)
