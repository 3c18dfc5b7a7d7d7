"""The same flows give the same results inline, in worker processes and on Dask."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

import payloadkit as pk
from payloadkit.errors import WorkError

# Workers cannot import this test module by name: its classes travel by value.

#: The hand-over tests run on a local store and on the S3 test server.
ON_S3_TOO = pytest.mark.parametrize(
    "store", ["local", pytest.param("s3", marks=pytest.mark.s3)], indirect=True
)


class Source(pk.Work):
    def __init__(self) -> None:
        super().__init__()
        self.rows: pk.Payload | None = None
        self.pid: int | None = None

    def run(self, n: int) -> None:
        self.pid = os.getpid()
        self.rows = pk.Payload([[i, i * i] for i in range(n)])


class Destination(pk.Work):
    def __init__(self) -> None:
        super().__init__()
        self.total: int | None = None
        self.pid: int | None = None

    def run(self, rows: pk.Payload) -> None:
        self.pid = os.getpid()
        data = rows.value
        self.total = sum(square for _, square in data)
        data.clear()  # the destination's copy is its own


class Hand(pk.Flow):
    def __init__(self) -> None:
        super().__init__()
        self.src = Source()
        self.dst = Destination()

    def run(self) -> None:
        self.src.run(4)
        self.dst.run(rows=self.src.rows)


@ON_S3_TOO
def test_payload_reaches_another_work(executor: Any, store: pk.Store) -> None:
    """A payload set by one Work arrives in another as a copy; the Flow never loads it."""
    app = pk.App(Hand(), storage=store, executor=executor)
    app.run()
    root: Any = app.root
    assert root.dst.total == 0 + 1 + 4 + 9
    assert isinstance(root.src.rows, pk.Payload)
    assert not root.src.rows.is_loaded
    assert root.src.rows.value == [[0, 0], [1, 1], [2, 4], [3, 9]]
    assert root.src.rows.ref.store == store.url
    if executor != "inline":
        assert root.dst.pid != os.getpid()
        assert root.dst.pid != root.src.pid


class Remember(pk.Work):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.factor = 1
        self.product = 0
        self._seen: list[int] = []

    def run(self, x: int) -> None:
        self._seen.append(x)
        self.count = len(self._seen)
        self.product = x * self.factor


class Calls(pk.Flow):
    def __init__(self) -> None:
        super().__init__()
        self.work = Remember()
        self.always = Remember()
        self.always._pk_cache_calls = False

    def run(self) -> None:
        self.work.run(2)
        self.work.run(2)  # same arguments: cached, not run
        self.work.factor = 10  # the Flow's change of state reaches the Work
        self.work.run(3)
        same_a, same_b = pk.Payload({"k": 1}), pk.Payload({"k": 1})
        self.always.run(1)
        self.always.run(1)
        self.work.run(x=same_a)  # type: ignore[arg-type]
        self.work.run(x=same_b)  # type: ignore[arg-type]  # equal digest: cached


class DictTimesFactor(Remember):
    def run(self, x: Any) -> None:
        super().run(x if isinstance(x, int) else len(x.value))


class CallsWithPayloads(Calls):
    def __init__(self) -> None:
        super().__init__()
        self.work = DictTimesFactor()


def test_calls_are_cached_and_private_attributes_survive(executor: Any, store: pk.Store) -> None:
    """Equal arguments (payloads by digest) run once; a Work keeps private attributes between runs."""
    app = pk.App(CallsWithPayloads(), storage=store, executor=executor)
    record = app.run()
    root: Any = app.root
    assert root.work.count == 3  # runs with 2, 3 and the payload; the repeats were cached
    assert root.work.product == 10
    assert root.always.count == 2  # cache_calls=False runs every call
    assert root.work._seen == []  # private state stayed with the Work where it ran
    assert record["works"]["root.work"]["calls"] == 3
    assert record["works"]["root.always"]["calls"] == 2


class Rendezvous(pk.Work):
    def __init__(self, me: str, other: str, directory: str) -> None:
        super().__init__(parallel=True)
        self.me, self.other, self.directory = me, other, directory
        self.started: float | None = None
        self.ended: float | None = None

    def run(self) -> None:
        self.started = time.time()
        Path(self.directory, self.me).touch()
        deadline = time.monotonic() + 60
        while not Path(self.directory, self.other).exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.other} never ran while {self.me} was running")
            time.sleep(0.01)
        self.ended = time.time()


class Together(pk.Flow):
    def __init__(self, directory: str) -> None:
        super().__init__()
        self.a = Rendezvous("a", "b", directory)
        self.b = Rendezvous("b", "a", directory)

    def run(self) -> None:
        self.a.run()  # returns at once
        self.b.run()
        self.spans = [[self.a.started, self.a.ended], [self.b.started, self.b.ended]]


@pytest.mark.parametrize(
    "kind", ["inline", "process", pytest.param("dask", marks=pytest.mark.dask)]
)
def test_parallel_works_overlap(
    kind: str, store: pk.Store, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Two parallel Works run at the same time: each waits, inside its run, for the other."""
    executor = request.getfixturevalue("dask_client") if kind == "dask" else kind
    app = pk.App(Together(str(tmp_path)), storage=store, executor=executor)
    app.run()
    (a_start, a_end), (b_start, b_end) = app.root.spans  # type: ignore[attr-defined]
    assert a_start < b_end
    assert b_start < a_end


class Fails(pk.Work):
    def run(self) -> None:
        raise ValueError("boom in the work")


class Broken(pk.Flow):
    def __init__(self) -> None:
        super().__init__()
        self.ok = Remember()
        self.bad = Fails()
        self.after = False

    def run(self) -> None:
        self.ok.run(1)
        self.bad.run()
        self.after = True


@ON_S3_TOO
def test_failing_work_is_named(executor: Any, store: pk.Store) -> None:
    """A Work's exception surfaces as WorkError naming it, chained, and the run is recorded failed."""
    app = pk.App(Broken(), storage=store, executor=executor)
    with pytest.raises(WorkError) as caught:
        app.run()
    error = caught.value
    assert error.work == "root.bad"
    assert "boom in the work" in error.remote_traceback
    assert "root.bad" in str(error)
    assert "Traceback" in str(error)
    assert isinstance(error.__cause__, ValueError)
    assert app.root.after is False  # type: ignore[attr-defined]
    record = app.last_record
    assert record is not None
    assert record["outcome"] == "failed"
    assert "boom in the work" in record["error"]
    assert record["works"]["root.bad"]["status"] == "failed"
    assert record["works"]["root.ok"]["status"] == "succeeded"
    assert store.get_record("runs", record["run_id"]) == record


class Slow(pk.Work):
    def __init__(self) -> None:
        super().__init__(parallel=True)
        self.value: int | None = None

    def run(self, x: int) -> None:
        time.sleep(0.2)
        self.value = x + 1


class ReadsParallelState(pk.Flow):
    def __init__(self) -> None:
        super().__init__()
        self.slow = Slow()
        self.next = Remember()
        self.seen: int | None = None

    def run(self) -> None:
        self.slow.run(41)
        self.seen = self.slow.value  # waits for the run
        self.next.run(self.slow.value)


def test_reading_parallel_state_waits(executor: Any, store: pk.Store) -> None:
    """Reading a parallel Work's state, or passing it on, waits for its run to finish."""
    app = pk.App(ReadsParallelState(), storage=store, executor=executor)
    app.run()
    root: Any = app.root
    assert root.seen == 42
    assert root.next.product == 42


@ON_S3_TOO
def test_run_record(executor: Any, store: pk.Store) -> None:
    """The run record holds every Work's final state with payload refs, and their digests."""
    app = pk.App(Hand(), storage=store, executor=executor)
    record = app.run()
    assert set(record) == {
        "kind", "format", "run_id", "app", "executor", "started", "ended", "outcome",
        "error", "works", "payloads", "stop_message", "drives",
    }  # fmt: skip
    assert record["kind"] == "payloadkit.run"
    assert record["format"] == 2
    assert record["app"] == f"{__name__}:Hand"
    assert record["executor"] == {"inline": "inline", "process": "process"}.get(executor, "dask")
    assert record["outcome"] == "succeeded"
    assert record["error"] is None
    assert record["started"] <= record["ended"]
    rows = app.root.src.rows  # type: ignore[attr-defined]
    src = record["works"]["root.src"]
    assert src["state"]["rows"] == rows.to_dict()
    assert src["calls"] == 1
    assert src["status"] == "succeeded"
    (call,) = src["history"]
    assert call["status"] == "succeeded"
    assert call["outputs"] == {"rows": rows.ref.digest}
    assert record["works"]["root.dst"]["history"][0]["inputs"] == {"rows": rows.ref.digest}
    assert record["works"]["root.dst"]["state"]["total"] == 14
    assert record["payloads"] == [rows.ref.digest]
    assert store.list_records("runs") == [record["run_id"]]
    assert store.get_record("runs", record["run_id"]) == record
    written = store.backend.read(f"records/runs/{record['run_id']}.json", 1 << 30).decode()
    options = pk.settings().options_for(store.url)  # on S3: the key and secret
    assert [k for k in ("key", "secret") if k in options and options[k] in written] == []


class MakesNumbers(pk.Work):
    def __init__(self) -> None:
        super().__init__()
        self.numbers: pk.Payload | None = None

    def run(self) -> None:
        self.numbers = pk.Payload([1, 2, 3])


class MakeOne(pk.Flow):
    def __init__(self) -> None:
        super().__init__()
        self.make = MakesNumbers()

    def run(self) -> None:
        self.make.run()


@ON_S3_TOO
def test_workers_follow_the_flow_settings(executor: Any, store: pk.Store) -> None:
    """Serializer choices and signing keys configured for the App apply where Works run."""
    pk.configure(serializers={"builtins.list": "json"}, secret="k" * 32)
    app = pk.App(MakeOne(), storage=store, executor=executor)
    app.run()
    numbers = app.root.make.numbers  # type: ignore[attr-defined]
    assert numbers.ref.serializer == "json"
    assert store.info(numbers.ref).signature is not None
    assert numbers.value == [1, 2, 3]
