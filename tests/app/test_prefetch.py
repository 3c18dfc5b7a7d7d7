"""A Work handed many payloads finds them loaded concurrently, verified, on every executor."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import payloadkit as pk
from payloadkit import _prefetch
from payloadkit._payload import Payload

#: How long a Work waits for prefetching to be done: a hang, not a speed, fails the test.
PATIENCE = 120.0
COUNT = 12
SIZE = 256 * 1024


def _blob(i: int) -> bytes:
    return hashlib.sha256(str(i).encode()).digest() * (SIZE // 32)


class Makes(pk.Work):
    def __init__(self, i: int) -> None:
        super().__init__(parallel=True)
        self.i = i
        self.out: Any = None

    def run(self) -> None:
        self.out = pk.Payload(_blob(self.i))


class Gathers(pk.Work):
    """Waits, without reading a value, until every payload it got is loaded; then checks."""

    def __init__(self) -> None:
        super().__init__()
        self.prefetched = False
        self.digests: list[str] = []
        self.state_prefetched = False
        self.extra: Any = None

    def run(self, payloads: list[Any]) -> None:
        every = [*payloads, *self.extra]
        deadline = time.monotonic() + PATIENCE
        while not all(p.is_loaded for p in every) and time.monotonic() < deadline:
            time.sleep(0.01)
        self.prefetched = all(p.is_loaded for p in payloads)
        self.state_prefetched = all(p.is_loaded for p in self.extra)
        self.digests = [hashlib.sha256(p.value).hexdigest() for p in payloads]


class FanIn(pk.Flow):
    def __init__(self) -> None:
        super().__init__()
        self.makers = [Makes(i) for i in range(COUNT)]
        self.gather = Gathers()
        self.largest_task = -1

    def run(self) -> None:
        for maker in self.makers:
            maker.run()
        outs = [maker.out for maker in self.makers]
        self.gather.extra = outs[:2]  # handed over through state, not as an argument
        self.gather.run(outs[2:])
        client = _CLIENT.get("client")
        if client is not None:  # while the actors live: what the scheduler holds
            self.largest_task = client.run_on_scheduler(_largest_task)


_CLIENT: dict[str, Any] = {}


def _largest_task(dask_scheduler: Any) -> int:
    return max((ts.nbytes for ts in dask_scheduler.tasks.values()), default=0)


def _expected() -> list[str]:
    return [hashlib.sha256(_blob(i)).hexdigest() for i in range(2, COUNT)]


def test_payload_arguments_are_prefetched(executor: Any, store: pk.Store) -> None:
    """Every payload a call receives, as an argument or in state, is loaded in the
    background before the Work reads it, and holds the right bytes."""
    app = pk.App(FanIn(), storage=store, executor=executor)
    if not isinstance(executor, str):
        _CLIENT["client"] = executor
    try:
        app.run()
    finally:
        _CLIENT.clear()
    assert app.root.gather.prefetched
    assert app.root.gather.state_prefetched
    assert app.root.gather.digests == _expected()
    if not isinstance(executor, str):
        # Only refs travel through the scheduler: no task it knows holds payload bytes.
        assert 0 <= app.root.largest_task < SIZE // 4


@pytest.mark.s3
@pytest.mark.dask
@pytest.mark.parametrize("store", ["s3"], indirect=True)
def test_dask_fan_in_over_s3_keeps_bytes_off_the_scheduler(
    dask_client: Any, store: pk.Store
) -> None:
    """Over S3 too, the payloads arrive prefetched and the scheduler holds refs only."""
    _CLIENT["client"] = dask_client
    try:
        app = pk.App(FanIn(), storage=store, executor=dask_client)
        app.run()
    finally:
        _CLIENT.clear()
    assert app.root.gather.prefetched
    assert app.root.gather.digests == _expected()
    assert 0 <= app.root.largest_task < SIZE // 4


class ReadsAll(pk.Work):
    def __init__(self) -> None:
        super().__init__()
        self.results: list[str] = []

    def run(self, payloads: list[Any]) -> None:
        results = []
        for p in payloads:
            try:
                results.append(hashlib.sha256(p.value).hexdigest())
            except pk.errors.IntegrityError:
                results.append("IntegrityError")
        self.results = results


class GivesRefs(pk.Flow):
    def __init__(self, payloads: list[Any]) -> None:
        super().__init__()
        self.payloads = payloads
        self.reader = ReadsAll()

    def run(self) -> None:
        self.reader.run(self.payloads)


@pytest.mark.parametrize("kind", ["inline", "process"])
def test_a_corrupted_payload_is_never_decoded(kind: str, store: pk.Store) -> None:
    """Prefetching verifies like any load: the altered payload raises IntegrityError when
    the Work reads it, the others load."""
    refs = [store.put(_blob(i)) for i in range(4)]
    manifest = store.info(refs[1])
    path = Path(store.url.removeprefix("file://")) / manifest.object_key
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF
    os.chmod(path, 0o644)
    path.write_bytes(bytes(data))
    payloads = [Payload.from_ref(ref) for ref in refs]
    app = pk.App(GivesRefs(payloads), storage=store, executor=kind)
    app.run()
    expected = [hashlib.sha256(_blob(i)).hexdigest() for i in range(4)]
    expected[1] = "IntegrityError"
    assert app.root.reader.results == expected


def test_prefetching_is_bounded_and_concurrent(
    store: pk.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loads run ``limit`` at a time: that many meet at once, never more."""
    refs = [store.put(_blob(i)) for i in range(10)]
    limit = 3
    meeting = threading.Barrier(limit)
    lock = threading.Lock()
    calls = [0]
    running = [0]
    most = [0]
    real_get = type(store).get

    def get(self: pk.Store, ref: Any, **kwargs: Any) -> Any:
        with lock:
            calls[0] += 1
            first = calls[0] <= limit
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            if first:
                meeting.wait(timeout=PATIENCE)  # the first `limit` loads run at once
            return real_get(self, ref, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(type(store), "get", get)
    payloads = [Payload.from_ref(ref) for ref in refs]
    with _prefetch.prefetching(payloads, limit=limit):
        deadline = time.monotonic() + PATIENCE
        while not all(p.is_loaded for p in payloads) and time.monotonic() < deadline:
            time.sleep(0.01)
    assert not meeting.broken
    assert most[0] == limit
    assert calls[0] == 10
    assert [p.value for p in payloads] == [_blob(i) for i in range(10)]


def test_prefetching_can_be_turned_off(store: pk.Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYLOADKIT_PREFETCH", "0")
    payloads = [Payload.from_ref(store.put(_blob(i))) for i in range(3)]
    with _prefetch.prefetching(payloads):
        time.sleep(0.2)  # time for loads to happen, were any started
        assert not any(p.is_loaded for p in payloads)


def test_payloads_in_finds_unloaded_payloads_once(store: pk.Store) -> None:
    lazy = Payload.from_ref(store.put(b"x" * 10))
    loaded = Payload(b"y")
    found = _prefetch.payloads_in([[lazy, {"a": lazy, "b": (loaded,)}], 3, "s"])
    assert found == [lazy]
