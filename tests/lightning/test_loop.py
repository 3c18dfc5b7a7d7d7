"""The loop of LightningApp on every executor: stop, live state, status, control, caching."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

import payloadkit as pk
import payloadkit.lightning as L
from payloadkit.app._record import stop_message, work_history, work_stage
from payloadkit.errors import WorkError


class Source(L.LightningWork):
    def __init__(self) -> None:
        super().__init__()
        self.value = None

    def run(self) -> None:
        self.value = L.storage.Payload([1, 2, 3])


class Sink(L.LightningWork):
    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def run(self, payload: Any) -> None:
        self.total = sum(payload.value)


class Pipeline(L.LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.src = Source()
        self.dst = Sink()

    def run(self) -> None:
        self.src.run()
        self.dst.run(self.src.value)


def test_loop_ends_when_nothing_changes(executor: Any, store: pk.Store) -> None:
    """A Flow that never calls stop() ends once an iteration changes nothing; cached calls
    run once."""
    app = L.LightningApp(Pipeline(), storage=store, executor=executor)
    record = app.run()
    assert record["outcome"] == "succeeded"
    assert app.root.dst.total == 6  # type: ignore[attr-defined]
    assert record["works"]["root.src"]["calls"] == 1
    assert record["works"]["root.dst"]["calls"] == 1
    assert work_stage(record, "root.dst") == "succeeded"


class Stopping(L.LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.src = Source()
        self.iterations = 0

    def run(self) -> None:
        self.src.run()  # ends the iterations until the call returned, then returns at once
        self.iterations += 1
        if self.src.has_succeeded and self.iterations >= 3:
            self.stop("Application End!")


def test_stop_message_is_printed_and_recorded(
    executor: Any, store: pk.Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """self.stop(message) ends the loop as succeeded; the message is printed and recorded."""
    app = L.LightningApp(Stopping(), storage=store, executor=executor)
    record = app.run()
    assert record["outcome"] == "succeeded"
    assert stop_message(record) == "Application End!"
    assert "Application End!" in capsys.readouterr().out
    assert app.root.iterations == 3  # type: ignore[attr-defined]


class Gated(L.LightningWork):
    def __init__(self, gate: str) -> None:
        super().__init__(parallel=True)
        self.progress = 0
        self.partial = None
        self._gate = gate

    def run(self) -> None:
        self.progress = 1
        self.partial = L.storage.Payload(list(range(10)))
        deadline = time.monotonic() + 120
        while not os.path.exists(self._gate):
            if time.monotonic() > deadline:
                raise RuntimeError("the Flow never reacted to the live state")
            time.sleep(0.01)
        self.progress = 2


class Watcher(L.LightningFlow):
    def __init__(self, gate: str) -> None:
        super().__init__()
        self.work = Gated(gate)
        self.gate = gate
        self.seen: dict[str, Any] = {}

    def run(self) -> None:
        self.work.run()
        if self.work.progress == 1 and self.work.partial is not None and not self.seen:
            self.seen = {
                "running": self.work.is_running,
                "loaded": self.work.partial.is_loaded,
                "digest": self.work.partial.ref.digest,
            }
            open(self.gate, "w").close()
        if self.work.has_succeeded:
            self.stop()


def test_parallel_work_state_is_live(executor: Any, store: pk.Store, tmp_path: Any) -> None:
    """A parallel Work's attributes reach the Flow while it runs (payloads as refs, never
    loaded by the Flow); the Flow reacts and the Work finishes."""
    app = L.LightningApp(Watcher(str(tmp_path / "gate")), storage=store, executor=executor)
    app.run()
    root: Any = app.root
    assert root.seen["running"] is True
    assert root.seen["loaded"] is False
    assert root.seen["digest"] == root.work.partial.ref.digest
    assert root.work.progress == 2


class Fails(L.LightningWork):
    def __init__(self) -> None:
        super().__init__(raise_exception=False)

    def run(self, value: int) -> None:
        if value:
            raise ValueError(f"The provided value was {value}")


class Statuses(L.LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.work = Fails()
        self.counter = 0
        self.stages: list[str] = []

    def run(self) -> None:
        self.stages.append(self.work.status.stage)
        if self.work.has_failed:
            self.stop(self.work.status.message or "")
        self.work.run(self.counter)
        self.counter += 1


def test_failure_recorded_in_status_without_raise(executor: Any, store: pk.Store) -> None:
    """raise_exception=False records a failed call in the Work's status (stage, reason,
    message) instead of ending the App."""
    app = L.LightningApp(Statuses(), storage=store, executor=executor)
    record = app.run()
    root: Any = app.root
    ended = [stage for stage in root.stages if stage not in ("pending", "running")]
    assert [s for i, s in enumerate(ended) if not i or ended[i - 1] != s] == [
        "not_started",
        "succeeded",
        "failed",
    ]
    failed, stopped = root.work.statuses[-2:]  # stopped: the App has ended
    assert (failed.stage, failed.reason, stopped.stage) == ("failed", "user_exception", "stopped")
    assert stop_message(record) == "The provided value was 1"
    assert [call["status"] for call in work_history(record, "root.work")] == [
        "succeeded",
        "failed",
    ]


class SetsThenFails(L.LightningWork):
    def __init__(self) -> None:
        super().__init__(raise_exception=False)
        self.first = 0
        self.second = 0

    def run(self) -> None:
        self.first = 1  # sent at once
        self.second = 2  # sent with the call's end, as it fails
        raise ValueError("failed after setting two attributes")


class ReadsAfterFailure(L.LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.work = SetsThenFails()
        self.seen: list[int] = []

    def run(self) -> None:
        if self.work.has_failed and self.work.second == 2:
            self.seen = [self.work.first, self.work.second]
            self.stop()
        self.work.run()


def test_state_set_before_a_failure_reaches_the_flow(executor: Any, store: pk.Store) -> None:
    """What a Work set before it failed (raise_exception=False) reaches the Flow, as in
    Lightning, although a failed call returns no state; the failed call is not run again."""
    app = L.LightningApp(ReadsAfterFailure(), storage=store, executor=executor)
    record = app.run()
    assert app.root.seen == [1, 2]  # type: ignore[attr-defined]
    assert record["works"]["root.work"]["calls"] == 1


class Raises(L.LightningWork):
    def run(self) -> None:
        raise ValueError("broken")


class RaisesFlow(L.LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.work = Raises()

    def run(self) -> None:
        self.work.run()


def test_failure_ends_the_loop(executor: Any, store: pk.Store) -> None:
    """A failed Work (raise_exception=True) ends the App with a WorkError naming it."""
    app = L.LightningApp(RaisesFlow(), storage=store, executor=executor)
    with pytest.raises(WorkError, match=r"root\.work"):
        app.run()
    assert app.last_record is not None
    assert work_stage(app.last_record, "root.work") == "failed"


class Forever(L.LightningWork):
    def __init__(self) -> None:
        super().__init__(parallel=True)
        self.started = False

    def run(self) -> None:
        self.started = True
        while True:
            time.sleep(0.05)


class StopsWork(L.LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.work = Forever()
        self.stopped_seen = False

    def run(self) -> None:
        self.work.run()
        if self.work.has_stopped:
            self.stopped_seen = True
            self.stop("stopped")
        elif self.work.started:
            self.work.stop()


def test_work_stop_ends_a_running_work(
    executor: Any, store: pk.Store, call_threads_left: Any
) -> None:
    """work.stop() ends a running parallel Work (on inline too: its thread is stopped);
    its status becomes stopped and the loop goes on."""
    app = L.LightningApp(StopsWork(), storage=store, executor=executor)
    record = app.run()
    assert app.root.stopped_seen is True  # type: ignore[attr-defined]
    assert work_stage(record, "root.work") == "stopped"
    assert not call_threads_left()


class Endless(L.LightningWork):
    """Runs until stopped, counting; blocking (not parallel)."""

    def __init__(self) -> None:
        super().__init__()
        self.ticks = 0

    def run(self) -> None:
        while True:
            self.ticks += 1
            time.sleep(0.01)


class StopsBlocking(L.LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.work = Endless()
        self.seen_ticks = 0

    def run(self) -> None:
        if self.work.has_stopped:
            self.stop("stopped")
        if self.work.ticks >= 3:
            self.seen_ticks = self.work.ticks
            self.work.stop()
        self.work.run()


def test_stop_ends_a_blocking_work_and_leaves_no_thread(
    executor: Any, store: pk.Store, call_threads_left: Any
) -> None:
    """A non-parallel Work running forever is stopped from the Flow; no thread of it is
    left once app.run() returned, and the call is recorded as interrupted."""
    app = L.LightningApp(StopsBlocking(), storage=store, executor=executor)
    record = app.run()
    root: Any = app.root
    assert root.seen_ticks >= 3
    assert work_stage(record, "root.work") == "stopped"
    assert not call_threads_left()
    assert [call["status"] for call in work_history(record, "root.work")] == ["interrupted"]


class Slow(L.LightningWork):
    """A blocking Work that waits for the Flow to have seen it running."""

    def __init__(self, gate: str) -> None:
        super().__init__()
        self.step = 0
        self._gate = gate

    def run(self) -> None:
        self.step = 1
        deadline = time.monotonic() + 120
        while not os.path.exists(self._gate):
            if time.monotonic() > deadline:
                raise RuntimeError("the Flow never saw the Work running")
            time.sleep(0.01)
        self.step = 2


class ObservesBlocking(L.LightningFlow):
    def __init__(self, gate: str) -> None:
        super().__init__()
        self.work = Slow(gate)
        self.gate = gate
        self.stages: list[str] = []
        self.steps: list[int] = []
        self.after_call = 0

    def run(self) -> None:
        self.stages.append(self.work.status.stage)
        self.steps.append(self.work.step)
        if self.work.is_running and self.work.step == 1:
            open(self.gate, "w").close()
        self.work.run()  # ends this iteration until the run is over
        self.after_call += 1
        if self.after_call == 2:
            self.stop()


def test_blocking_work_is_seen_pending_and_running(
    executor: Any, store: pk.Store, tmp_path: Any
) -> None:
    """As in Lightning, calling a non-parallel Work ends the Flow's iteration: later
    iterations see it pending or running with its live state, and the call returns
    (without running again) once the run is over."""
    app = L.LightningApp(ObservesBlocking(str(tmp_path / "gate")), storage=store, executor=executor)
    record = app.run()
    root: Any = app.root
    assert root.stages[0] == "not_started"
    assert "running" in root.stages
    assert root.stages[-2:] == ["succeeded", "succeeded"]
    assert 1 in root.steps  # live state of the blocking Work, seen while it ran
    assert root.work.step == 2
    assert root.after_call == 2
    assert record["works"]["root.work"]["calls"] == 1


class Count(L.LightningWork):
    def __init__(self, cache_calls: bool, parallel: bool) -> None:
        super().__init__(cache_calls=cache_calls, parallel=parallel, start_with_flow=False)
        self.counter = 0

    def run(self) -> None:
        self.counter += 1


class StartStop(L.LightningFlow):
    def __init__(self, cache_calls: bool, parallel: bool) -> None:
        super().__init__()
        self.w = Count(cache_calls, parallel)
        self.finish = False
        self.refused = ""

    def run(self) -> None:
        if self.finish:
            self.stop()
        if self.w.status.stage == L.WorkStageStatus.STOPPED:
            try:
                self.w.start()
            except Exception as exc:
                self.refused = str(exc)
            self.finish = True
        if self.w.status.stage == L.WorkStageStatus.NOT_STARTED:
            self.w.start()
        if self.w.status.stage == L.WorkStageStatus.STARTED:
            self.w.run()
        if self.w.counter == 1:
            self.w.stop()


@pytest.mark.parametrize("cache_calls", [False, True])
@pytest.mark.parametrize("parallel", [False, True])
def test_start_run_stop(cache_calls: bool, parallel: bool, store: pk.Store) -> None:
    """start() starts a Work that does not start with the Flow; a stopped Work cannot be
    started again (Lightning's test of start/stop, in the process executor)."""
    app = L.LightningApp(StartStop(cache_calls, parallel), storage=store, executor="process")
    app.run()
    root: Any = app.root
    assert root.w.counter == 1
    assert "A work can be started only once for now." in root.refused


class Model(L.LightningWork):
    def __init__(self, factor: int) -> None:
        super().__init__(parallel=True)
        self.factor = factor
        self.score = None

    def run(self, data: Any) -> None:
        self.score = sum(data.value) * self.factor


class Dag(L.LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.data = Source()
        self.models = L.structures.Dict(double=Model(2), triple=Model(3))
        self.scores: dict[str, int] = {}
        self.has_completed = False

    def run(self) -> None:
        self.data.run()
        for name, model in self.models.items():
            model.run(self.data.value)
            if model.score is not None:
                self.scores[name] = model.score
        if len(self.scores) == len(self.models):
            self.has_completed = True


class Scheduled(L.LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.dags = L.structures.List()

    def run(self) -> None:
        if not self.dags:
            self.dags.append(Dag())
        for dag in self.dags:
            if not dag.has_completed:
                dag.run()
            else:
                self.stop("completed")


def test_works_created_while_running(executor: Any, store: pk.Store) -> None:
    """Works added under the Flow while it loops (a Flow appended to a structures.List) get
    hosts and run where the executor puts them, named by their path."""
    app = L.LightningApp(Scheduled(), storage=store, executor=executor)
    record = app.run()
    dag: Any = app.root.dags[0]  # type: ignore[attr-defined]
    assert dag.scores == {"double": 12, "triple": 18}
    assert "root.dags.0.models.double" in record["works"]
    assert dag.models["triple"].name == "root.dags.0.models.triple"
