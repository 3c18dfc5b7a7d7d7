"""The inline executor: every Work runs in the Flow's own process.

Each Work still runs on its own copy (made once, by pickling, when the App starts), and
its payloads still go through the store, so an app behaves as it does on the other
executors. A parallel Work runs on a thread of its own, and so does a call with a time
limit and every call in an App that loops.

Stopping a call (``work.stop()``, the App ending while it runs, a time limit): the App
raises `StopCall` in the call's thread with CPython's documented
``PyThreadState_SetAsyncExc``. It is raised at the thread's next bytecode, so Python
code ends at once; a thread blocked inside one C call (a long ``time.sleep``, a socket
read) ends when that call returns. For ``work.stop()`` and the App's end, the App waits
for the thread before it goes on (at most `STOP_WAIT` seconds, then it warns that the
thread still runs). At a time limit it does not wait: the Flow gets its WorkError at
the limit, the late call ends by itself at its next bytecode, its result is dropped,
and the Work's next call runs on a fresh copy. Code that catches ``BaseException`` and
carries on cannot be stopped this way: use the process executor for such Works.
"""

from __future__ import annotations

import ctypes
import functools
import threading
import warnings
from concurrent.futures import Future
from typing import Any, ClassVar

from payloadkit.app._executors._base import Executor
from payloadkit.app._host import Events, WorkHost, failure
from payloadkit.app._protocol import INTERRUPTED, Call, Outcome
from payloadkit.app._runtime import Host
from payloadkit.stores import Store

__all__ = ["STOP_WAIT", "InlineExecutor", "StopCall"]

#: The longest wait, in seconds, for a stopped call's thread to end.
STOP_WAIT = 10.0


class StopCall(BaseException):
    """Raised inside a Work's thread by the App to end the call it runs."""


class _Guard:
    """When the App may raise `StopCall` in a call's thread: only while its call runs.

    At most one StopCall is ever raised per call, so the thread's own bookkeeping after
    the call (handing over the outcome) can never be hit by a second one.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ident: int | None = None
        self._sent = False

    def enter(self) -> None:
        with self._lock:
            self._ident = threading.get_ident()

    def leave(self) -> None:
        with self._lock:
            if self._ident is not None and self._sent:
                _async_raise(self._ident, None)  # withdraw one not raised yet
            self._ident = None

    def interrupt(self) -> None:
        with self._lock:
            if self._ident is not None and not self._sent:
                self._sent = True
                _async_raise(self._ident, StopCall)


def _async_raise(ident: int, exc: type[BaseException] | None) -> None:
    """Raise ``exc`` in thread ``ident`` at its next bytecode (None: withdraw it)."""
    target = ctypes.py_object(exc) if exc is not None else None
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), target)


class _InlineHost:
    def __init__(self, name: str, work: bytes, store: Store, events: Events) -> None:
        self.name = name
        self._work, self._store, self._events = work, store, events
        self._host = WorkHost(name, work, store, events)
        self._threads: dict[int, tuple[threading.Thread, _Guard]] = {}

    def submit(self, call: Call, parallel: bool) -> Future[Outcome]:
        future: Future[Outcome] = Future()
        if not parallel and call.timeout is None:
            future.set_result(self._host.execute(call))
            return future
        guard = _Guard()
        thread = threading.Thread(
            target=_run_into,
            args=(self._host, call, future, guard),
            name=f"{self.name}-call-{call.seq}",
            daemon=True,  # one blocked in a C call must not keep the process alive
        )
        self._threads = {s: e for s, e in self._threads.items() if e[0].is_alive()}
        self._threads[call.seq] = (thread, guard)
        thread.start()
        return future

    #: `stop` ends the calls in flight itself (the runtime need not `cancel` them first).
    stop_ends_calls = True

    def cancel(self, seq: int) -> None:
        # At a time limit: the call is stopped at its next bytecode but not waited for
        # (it may be blocked in a C call for long); the next call gets a fresh copy.
        entry = self._threads.pop(seq, None)
        if entry is not None:
            entry[1].interrupt()
        self._host = WorkHost(self.name, self._work, self._store, self._events)

    def stop(self) -> None:
        entries, self._threads = list(self._threads.values()), {}
        for thread, guard in entries:
            self._end(thread, guard)

    def _end(self, thread: threading.Thread, guard: _Guard) -> None:
        guard.interrupt()
        thread.join(timeout=STOP_WAIT)
        if thread.is_alive():
            warnings.warn(
                f"The call of Work {self.name} still runs on thread {thread.name} "
                f"{STOP_WAIT:g} s after the App stopped it (it is blocked in a C call, or "
                "it caught the exception that stops it). Use the process executor for "
                "Works that must be stoppable.",
                RuntimeWarning,
                stacklevel=2,
            )


def _run_into(host: WorkHost, call: Call, future: Future[Outcome], guard: _Guard) -> None:
    outcome: Outcome | None = None
    try:
        guard.enter()
        outcome = host.execute(call)
        guard.leave()
    except StopCall as exc:
        outcome = failure(call.seq, exc, INTERRUPTED)
    except BaseException as exc:  # the thread's end is the call's end
        outcome = failure(call.seq, exc)
    guard.leave()
    future.set_result(outcome)


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
