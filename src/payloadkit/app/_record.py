"""Run records: what one App run did, kept in the store under ``records/runs/<run id>``.

This module owns the record's format; other modules (garbage collection, the command
line, a UI) read records through the reader functions below instead of restating keys.

The record is JSON (``"kind": "payloadkit.run"``, ``"format": 2``)::

    {"kind": "payloadkit.run", "format": 2, "run_id": "20261128T102512Z-3fa9c1",
     "app": "module:Flow", "executor": "process",
     "started": ISO, "ended": ISO,          # ISO 8601, UTC, milliseconds
     "outcome": "succeeded" | "failed" | "timed out" | "interrupted" | "killed",
     "error": str | None,                   # what ended the run, when it did not succeed
     "works": {NAME: {
         "state": {...},                    # the final state, payloads in dict form
         "calls": int,                      # calls sent to the Work (cached ones skipped)
         "status": "not run" | "succeeded" | "failed" | "timed out" | "interrupted" | "killed",
         "stage": "not_started" | "started" | "pending" | "running" | "succeeded" | "failed"
                  | "stopped",              # the Work's Lightning stage at the end

         "history": [{                      # one entry per call, in call order
             "call": n, "started": ISO, "ended": ISO | None, "status": ...,
             "inputs": {ARG: DIGEST | [DIGEST, ...]},    # payloads each argument carried
             "outputs": {ATTR: DIGEST | [DIGEST, ...]},  # payloads the state held after
             "error": str | None}]}},
     "stop_message": str | None,            # what the Flow's stop(message) said, if it stopped
     "drives": {RECORD: [DIGEST, ...]},     # the payloads of every Drive file in the store
     "payloads": [DIGEST, ...]}             # sorted: every digest the record mentions

``stage``, ``stop_message`` and ``drives`` were added within format 2; readers treat them
as absent in older records. ``drives`` lists what the store's ``drives`` records (the
files of ``payloadkit.lightning.storage.Drive``) referenced when the run ended, so that
garbage collection, which keeps what recent run records reference, keeps Drive files.

``"killed"``: the process running the call ended under it (a signal, the OOM killer, an
exit, a lost Dask worker). ``"interrupted"``: the App was stopped (a signal, Ctrl-C, or
another Work's failure) while the call ran. Format 1 records (no ``history``, outcome
only succeeded or failed) read through the same functions.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from payloadkit.app._state import digests_in
from payloadkit.errors import PayloadkitError
from payloadkit.stores import Store

__all__ = [
    "DRIVES_KIND",
    "NOT_RUN",
    "RUN_RECORD_KIND",
    "call_entry",
    "digest_map",
    "drive_digests",
    "isoformat",
    "new_run_id",
    "now",
    "record_digests",
    "run_outcome",
    "run_record",
    "stop_message",
    "work_entries",
    "work_history",
    "work_stage",
    "work_status",
]

RUN_RECORD_KIND = "runs"
#: The kind of the records that hold Drive files (one record a file).
DRIVES_KIND = "drives"
#: The status of a Work that no call reached.
NOT_RUN = "not run"
_FORMAT = 2


def new_run_id(started: datetime) -> str:
    """``20261128T102512Z-3fa9c1``: sortable by start time, unique."""
    return f"{started:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def isoformat(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds: ``2026-11-28T10:25:12.123+00:00``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def digest_map(values: dict[str, Any]) -> dict[str, str | list[str]]:
    """For each name whose JSON value holds payloads: its digest, or their sorted list."""
    found: dict[str, str | list[str]] = {}
    for name, value in values.items():
        digests = sorted(digests_in(value))
        if digests:
            found[name] = digests[0] if len(digests) == 1 else digests
    return found


def call_entry(
    *,
    call: int,
    started: datetime,
    ended: datetime | None,
    status: str,
    inputs: dict[str, Any],
    outputs: dict[str, Any],
    error: str | None,
) -> dict[str, Any]:
    """One entry of a Work's ``history``; ``inputs`` and ``outputs`` are `digest_map`s."""
    return {
        "call": call,
        "started": isoformat(started),
        "ended": isoformat(ended) if ended is not None else None,
        "status": status,
        "inputs": inputs,
        "outputs": outputs,
        "error": error,
    }


def run_record(
    *,
    run_id: str,
    app: str,
    executor: str,
    started: datetime,
    ended: datetime,
    outcome: str,
    error: str | None,
    works: dict[str, dict[str, Any]],
    stop_message: str | None = None,
    drives: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """The record of one run; ``works`` maps names to {"state", "calls", "status", "history"}."""
    record = {
        "kind": "payloadkit.run",
        "format": _FORMAT,
        "run_id": run_id,
        "app": app,
        "executor": executor,
        "started": isoformat(started),
        "ended": isoformat(ended),
        "outcome": outcome,
        "error": error,
        "works": works,
        "stop_message": stop_message,
        "drives": drives or {},
        "payloads": [],
    }
    record["payloads"] = sorted(record_digests(record))
    return record


# -- readers ------------------------------------------------------------------------
def run_outcome(record: dict[str, Any]) -> str:
    """How the run ended: succeeded, failed, timed out, interrupted or killed."""
    outcome = record.get("outcome")
    return outcome if isinstance(outcome, str) else "unknown"


def work_entries(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The record's Works by name (each with ``state``, ``calls``, ``status``)."""
    works = record.get("works")
    return works if isinstance(works, dict) else {}


def work_status(record: dict[str, Any], name: str) -> str:
    """The status of Work ``name`` at the end of the run."""
    status = _entry(record, name).get("status")
    return status if isinstance(status, str) else NOT_RUN


def work_history(record: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The calls of Work ``name`` (empty for records of format 1, which kept none)."""
    history = _entry(record, name).get("history")
    return [call for call in history if isinstance(call, dict)] if isinstance(history, list) else []


def _entry(record: dict[str, Any], name: str) -> dict[str, Any]:
    entry = work_entries(record).get(name)
    return entry if isinstance(entry, dict) else {}


def record_digests(record: dict[str, Any]) -> set[str]:
    """Every payload digest the record mentions: states, call inputs and outputs, the list.

    A record of unexpected shape (damaged, or written by hand) gives what can be read of it.
    """
    listed = record.get("payloads")
    found = {d for d in listed if isinstance(d, str)} if isinstance(listed, list) else set()
    for name in work_entries(record):
        found |= digests_in(_entry(record, name).get("state", {}))
        for call in work_history(record, name):
            for side in ("inputs", "outputs"):
                values = call.get(side)
                for value in values.values() if isinstance(values, dict) else ():
                    found |= _strings(value)
    drives = record.get("drives")
    for digests in drives.values() if isinstance(drives, dict) else ():
        found |= _strings(digests)
    return found


def stop_message(record: dict[str, Any]) -> str | None:
    """What the Flow's ``stop(message)`` said, when the run ended that way with a message."""
    message = record.get("stop_message")
    return message if isinstance(message, str) else None


def work_stage(record: dict[str, Any], name: str) -> str | None:
    """The Lightning stage of Work ``name`` at the end of the run (None in older records)."""
    stage = _entry(record, name).get("stage")
    return stage if isinstance(stage, str) else None


def drive_digests(store: Store) -> dict[str, list[str]]:
    """The payloads each Drive record of ``store`` references, by record name."""
    found: dict[str, list[str]] = {}
    try:
        names = store.list_records(DRIVES_KIND)
    except PayloadkitError:
        return found
    for name in names:
        try:
            record = store.get_record(DRIVES_KIND, name)
        except PayloadkitError:
            continue  # deleted meanwhile, or damaged: nothing of it to keep
        found[name] = sorted(digests_in(record))
    return found


def _strings(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value}
    return {v for v in value if isinstance(v, str)} if isinstance(value, list) else set()


def now() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)
