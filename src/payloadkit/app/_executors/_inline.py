"""The inline executor: every Work runs in the Flow's own process.

Each Work still runs on its own copy (made once, by pickling, when the App starts), and
its payloads still go through the store, so an app behaves as it does on the other
executors. A parallel Work runs on its own thread.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, ClassVar

from payloadkit.app._executors._base import Executor
from payloadkit.app._host import Call, Outcome, WorkHost
from payloadkit.app._runtime import Host
from payloadkit.stores import Store

__all__ = ["InlineExecutor"]


class _InlineHost:
    def __init__(self, name: str, work: bytes, store: Store) -> None:
        self._host = WorkHost(name, work, store)
        self._thread: ThreadPoolExecutor | None = None

    def submit(self, call: Call, parallel: bool) -> Future[Outcome]:
        if parallel:
            if self._thread is None:
                self._thread = ThreadPoolExecutor(1, thread_name_prefix=self._host.name)
            return self._thread.submit(self._host.execute, call)
        future: Future[Outcome] = Future()
        future.set_result(self._host.execute(call))
        return future

    def stop(self) -> None:
        if self._thread is not None:
            self._thread.shutdown(wait=True, cancel_futures=True)
            self._thread = None


class InlineExecutor(Executor):
    """Runs each Work in this process, on a copy of it; parallel Works on threads."""

    kind: ClassVar[str] = "inline"

    def __init__(self, store: Store, storage_options: dict[str, Any] | None = None) -> None:
        super().__init__(store, storage_options)
        self._hosts: list[_InlineHost] = []

    def start(self, works: dict[str, bytes]) -> dict[str, Host]:
        hosts = {name: _InlineHost(name, work, self.store) for name, work in works.items()}
        self._hosts.extend(hosts.values())
        return dict(hosts)

    def close(self) -> None:
        for host in self._hosts:
            host.stop()
        self._hosts.clear()
