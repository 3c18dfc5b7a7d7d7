"""Works that fail, hang, exit or hold state the runtime cannot carry: each ends as a WorkError
naming the Work, on every executor, with a run record that says what happened."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Any

import pytest

import payloadkit as pk
from payloadkit.app._record import run_outcome, work_history, work_status
from payloadkit.errors import WorkError


class Sleeps(pk.Work):
    def __init__(self, timeout: float | None = None) -> None:
        super().__init__(timeout=timeout, cache_calls=False)
        self.pid: int | None = None

    def run(self, seconds: float) -> None:
        self.pid = os.getpid()
        time.sleep(seconds)


class Retries(pk.Flow):
    """Calls a Work past its limit, catches the error, then calls it again briefly."""

    def __init__(self, work: pk.Work) -> None:
        super().__init__()
        self.work = work
        self.error: str | None = None

    def run(self) -> None:
        try:
            self.work.run(600)
        except WorkError as exc:
            self.error = str(exc)
        self.work.run(0)


class One(pk.Flow):
    def __init__(self, work: pk.Work, *args: Any) -> None:
        super().__init__()
        self.work = work
        self.args = list(args)

    def run(self) -> None:
        self.work.run(*self.args)


def _record(store: pk.Store) -> dict[str, Any]:
    (run_id,) = store.list_records("runs")
    return store.get_record("runs", run_id)


def test_work_timeout_stops_the_call_and_replaces_the_worker(store: pk.Store) -> None:
    """A call past its Work's timeout is a WorkError naming the Work and the limit; its worker
    process is killed and the next call runs in a fresh one."""
    app = pk.App(Retries(Sleeps(timeout=1)), storage=store, executor="process")
    app.run()
    root: Any = app.root
    assert root.error.startswith("Work root.work timed out: it ran past its time limit of 1 s")
    record = app.last_record
    assert record is not None
    history = work_history(record, "root.work")
    assert [call["status"] for call in history] == ["timed out", "succeeded"]
    assert run_outcome(record) == "succeeded"  # the Flow handled the failure and went on


def test_app_wide_timeout_records_the_run_as_timed_out(store: pk.Store) -> None:
    """App(work_timeout=...) limits Works that set none; an unhandled timeout ends the run
    as "timed out" in the record, and the killed worker is gone."""
    app = pk.App(One(Sleeps(), 600), storage=store, executor="process", work_timeout=0.5)
    with pytest.raises(WorkError, match=r"time limit of 0\.5 s") as caught:
        app.run()
    assert caught.value.work == "root.work"
    record = _record(store)
    assert run_outcome(record) == "timed out"
    assert work_status(record, "root.work") == "timed out"
    (call,) = work_history(record, "root.work")
    assert call["ended"] >= call["started"]
    assert "time limit" in call["error"]


def test_inline_timeout_gives_up_waiting_and_uses_a_fresh_copy(store: pk.Store) -> None:
    """Inline, a call past its limit raises at the limit (its thread is left to finish) and the
    next call runs on a fresh copy of the Work."""
    app = pk.App(Retries(Sleeps(timeout=0.5)), storage=store, executor="inline")
    app.run()
    root: Any = app.root
    assert "time limit of 0.5 s" in root.error
    statuses = [c["status"] for c in work_history(_record(store), "root.work")]
    assert statuses == ["timed out", "succeeded"]


@pytest.mark.dask
def test_dask_timeout_restarts_the_worker(dask_client: Any, store: pk.Store) -> None:
    """On Dask, a call past its limit restarts its Dask worker; the next call gets a new actor."""
    app = pk.App(Retries(Sleeps(timeout=1)), storage=store, executor=dask_client)
    app.run()
    root: Any = app.root
    assert "time limit of 1 s" in root.error
    statuses = [c["status"] for c in work_history(_record(store), "root.work")]
    assert statuses == ["timed out", "succeeded"]


class KillsItsProcess(pk.Work):
    def run(self) -> None:
        os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.parametrize("kind", ["process", pytest.param("dask", marks=pytest.mark.dask)])
def test_process_killed_mid_work_is_recorded_as_killed(
    kind: str, store: pk.Store, request: pytest.FixtureRequest
) -> None:
    """A worker process (or Dask worker) killed during a call is a WorkError naming the Work;
    the record says "killed"."""
    executor = request.getfixturevalue("dask_client") if kind == "dask" else kind
    app = pk.App(One(KillsItsProcess()), storage=store, executor=executor)
    with pytest.raises(WorkError, match=r"Work root\.work was killed") as caught:
        app.run()
    assert caught.value.work == "root.work"
    if kind == "process":
        assert "killed by signal SIGKILL" in str(caught.value)
    record = _record(store)
    assert run_outcome(record) == "killed"
    assert work_status(record, "root.work") == "killed"


class Exits(pk.Work):
    def run(self, how: str) -> None:
        if how == "exit":
            sys.exit(4)
        raise KeyboardInterrupt("raised by the Work itself")


@pytest.mark.parametrize("how", ["exit", "interrupt"])
def test_base_exceptions_are_contained(how: str, executor: Any, store: pk.Store) -> None:
    """SystemExit or KeyboardInterrupt raised in a Work is a WorkError on every executor: the
    caller's program goes on, and the call is recorded as failed."""
    app = pk.App(One(Exits(), how), storage=store, executor=executor)
    expected = "SystemExit: 4" if how == "exit" else "KeyboardInterrupt: raised by the Work"
    with pytest.raises(WorkError, match=expected):
        app.run()
    record = _record(store)
    assert run_outcome(record) == "failed"
    assert work_status(record, "root.work") == "failed"


class BigInt(pk.Work):
    def __init__(self) -> None:
        super().__init__()
        self.results: dict[str, Any] = {}

    def run(self) -> None:
        self.results = {"ok": 1, "huge": [10**5000]}


def test_state_json_cannot_carry_names_the_attribute(executor: Any, store: pk.Store) -> None:
    """An int past Python's conversion limit in a Work's state is a WorkError naming the Work
    and the place of the value; the failed run is recorded."""
    app = pk.App(One(BigInt()), storage=store, executor=executor)
    with pytest.raises(WorkError, match=r"root.work cannot carry its state attribute") as caught:
        app.run()
    assert "results['huge'][0]" in str(caught.value)
    assert "4300 digits" in str(caught.value)
    assert caught.value.work == "root.work"
    assert work_status(_record(store), "root.work") == "failed"


class HoldsALock(pk.Work):
    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def run(self) -> None:
        pass


@pytest.mark.parametrize("kind", ["inline", "process"])
def test_unpicklable_private_attribute_names_work_and_attribute(kind: str, store: pk.Store) -> None:
    """A Work whose private attribute cannot be pickled is refused naming the Work and the
    attribute, and the run is recorded with the Work not run."""
    app = pk.App(One(HoldsALock()), storage=store, executor=kind)
    with pytest.raises(WorkError, match=r"Work root.work cannot be sent .* '_lock' \(lock\)"):
        app.run()
    record = _record(store)
    assert run_outcome(record) == "failed"
    assert work_status(record, "root.work") == "not run"


class TakesAnything(pk.Work):
    def run(self, thing: Any) -> None:
        pass


def test_unpicklable_argument_names_the_work(store: pk.Store) -> None:
    """An argument that cannot travel to the Work is a WorkError naming the Work."""
    app = pk.App(One(TakesAnything(), threading.Lock()), storage=store, executor="inline")
    with pytest.raises(WorkError, match=r"arguments of a call of Work root\.work cannot travel"):
        app.run()
    assert run_outcome(_record(store)) == "failed"


def test_format_1_records_still_read() -> None:
    """Records written before call histories existed read through the same functions."""
    old = {
        "kind": "payloadkit.run",
        "format": 1,
        "outcome": "failed",
        "works": {"root.a": {"state": {}, "calls": 1, "status": "failed"}},
        "payloads": [],
    }
    assert run_outcome(old) == "failed"
    assert work_status(old, "root.a") == "failed"
    assert work_status(old, "root.b") == "not run"
    assert work_history(old, "root.a") == []
