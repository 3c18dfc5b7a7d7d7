"""The inline executor: every Work runs in the Flow's own process.

Each Work still runs on its own copy (made once, by pickling, when the App starts), and
its payloads still go through the store, so an app behaves as it does on the other
executors. A parallel Work runs on a thread of its own, and so does a call with a time
limit.

What a time limit can do here: the Flow stops *waiting* at the limit and gets a
WorkError, and the Work's next call runs on a fresh copy of the Work. What it cannot do:
a Python thread cannot be killed, so the late call goes on in the background until it
returns by itself (its result is dropped, but what it prints and writes still happens)
and it ends with this process at the latest. Parallel calls still running when the App
stops are left the same way. Use the process executor for Works that
must be stopped for real.
"""

from __future__ import annotations

import functools
import threading
from concurrent.futures import Future
from typing import Any, ClassVar

from payloadkit.app._executors._base import Executor
from payloadkit.app._host import Events, WorkHost, failure
from payloadkit.app._protocol import Call, Outcome
from payloadkit.app._runtime import Host
from payloadkit.stores import Store

__all__ = ["InlineExecutor"]


class _InlineHost:
    def __init__(self, name: str, work: bytes, store: Store, events: Events) -> None:
        self.name = name
        self._work, self._store, self._events = work, store, events
        self._host = WorkHost(name, work, store, events)
        self._threads: dict[int, threading.Thread] = {}

    def submit(self, call: Call, parallel: bool) -> Future[Outcome]:
        future: Future[Outcome] = Future()
        if not parallel and call.timeout is None:
            future.set_result(self._host.execute(call))
            return future
        thread = threading.Thread(
            target=_run_into,
            args=(self._host, call, future),
            name=f"{self.name}-call-{call.seq}",
            daemon=True,  # a call past its time limit must not keep the process alive
        )
        self._threads[call.seq] = thread
        thread.start()
        return future

    def cancel(self, seq: int) -> None:
        # The thread cannot be stopped; it is left to finish on the old copy of the Work.
        self._threads.pop(seq, None)
        self._host = WorkHost(self.name, self._work, self._store, self._events)

    def stop(self) -> None:
        # Calls still running when the App ends (it was interrupted, or another Work
        # failed) are not waited for: their threads end with this process at the latest.
        self._threads.clear()


def _run_into(host: WorkHost, call: Call, future: Future[Outcome]) -> None:
    try:
        future.set_result(host.execute(call))
    except BaseException as exc:  # the thread's end is the call's end
        future.set_result(failure(call.seq, exc))


class InlineExecutor(Executor):
    """Runs each Work in this process, on a copy of it; parallel Works on threads."""

    kind: ClassVar[str] = "inline"

    def __init__(self, store: Store, storage_options: dict[str, Any] | None = None) -> None:
        super().__init__(store, storage_options)
        self._hosts: list[_InlineHost] = []

    def start(self, works: dict[str, bytes]) -> dict[str, Host]:
        hosts = {
            name: _InlineHost(name, work, self.store, functools.partial(self.event, name))
            for name, work in works.items()
        }
        self._hosts.extend(hosts.values())
        return dict(hosts)

    def close(self) -> None:
        for host in self._hosts:
            host.stop()
        self._hosts.clear()
