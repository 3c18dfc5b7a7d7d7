"""The process executor: each Work lives in its own long-lived worker process.

A worker is a fork of this process's clean template interpreter (see
`payloadkit.app._executors._forkserver`), or where that is not available a fresh
interpreter (``python -m payloadkit.app._executors._worker``); either way safe whatever
threads this process runs, started for every Work at once when the App starts, and
hosting that one Work only.
It receives the Work by value (cloudpickle, so classes defined in the app's own file
travel too) and this process's payloadkit settings through a private socket; what it
prints reaches this terminal line by line, prefixed with the Work's name.

The App owns its workers: each leads its own process group (so a Work's child processes
go with it), dies with the App's process however that ends (see
`payloadkit.app._signals`), and is killed, group and all, when a call runs past its
time limit or the App stops during a call; a Work whose worker was killed or died gets a
fresh worker for its next call.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from multiprocessing.connection import Connection
from typing import Any, ClassVar

import payloadkit
from payloadkit.app._executors._base import Executor, refuse_memory_store
from payloadkit.app._executors._forkserver import Forked, fork_server
from payloadkit.app._executors._relay import Relay
from payloadkit.app._host import settings_for
from payloadkit.app._protocol import (
    KILLED,
    Bootstrap,
    Call,
    Outcome,
    Ready,
    StateUpdate,
    Status,
    Stop,
)
from payloadkit.app._runtime import Host
from payloadkit.app._signals import kill_group
from payloadkit.stores import Store

__all__ = ["ProcessExecutor"]

_STOP_GRACE = 5.0
_SYNC_WAIT = 10.0


class _Worker:
    """One worker process and the threads that read its socket and its output."""

    def __init__(
        self, name: str, work: bytes, blob: dict[str, Any], events: Callable[[Any], None]
    ) -> None:
        self.name = name
        self._events = events
        parent, child = socket.socketpair()
        with child:
            self.proc = _start_worker(child.fileno())
        self._conn = Connection(parent.detach())
        self._lock = threading.Lock()
        self._synced = threading.Condition()
        self._futures: dict[int, Future[Outcome]] = {}
        self.running: set[int] = set()
        self.broken: Outcome | None = None
        #: True when the Work could not be loaded there: a new worker would fail the same way.
        self.unloadable = False
        self._ending: str | None = None
        assert self.proc.stdout is not None
        assert self.proc.stderr is not None
        self._relays = [
            Relay(name, self.proc.stdout, "stdout", self._synced),
            Relay(name, self.proc.stderr, "stderr", self._synced),
        ]
        self._conn.send(Bootstrap(name, work, blob))
        self._reader = threading.Thread(target=self._read, name=f"{name}-reader", daemon=True)
        self._reader.start()

    def submit(self, call: Call) -> Future[Outcome]:
        future: Future[Outcome] = Future()
        with self._lock:
            if self.broken is None:
                self._futures[call.seq] = future
                try:
                    self._conn.send(call)
                    return future
                except OSError:
                    del self._futures[call.seq]
                    self.broken = self._exit_outcome()
            future.set_result(dataclasses.replace(self.broken, seq=call.seq))
        return future

    def _read(self) -> None:
        try:
            while True:
                self._receive(self._conn.recv())
        except (EOFError, OSError):
            self._break(None)

    def _receive(self, message: object) -> None:
        match message:
            case Status(seq=seq):
                self.running.add(seq)
                self._events(message)
            case StateUpdate():
                self._events(message)
            case Outcome(seq=0):  # the Work could not be loaded in the worker
                self.unloadable = True
                self._break(message)
            case Outcome(seq=seq):
                self._wait_for_output(seq)
                with self._lock:
                    self.running.discard(seq)
                    self._futures.pop(seq).set_result(message)
            case Ready():
                pass

    def _wait_for_output(self, seq: int) -> None:
        with self._synced:
            self._synced.wait_for(
                lambda: all(r.seq >= seq or r.closed for r in self._relays), timeout=_SYNC_WAIT
            )

    def _break(self, outcome: Outcome | None) -> None:
        with self._lock:
            if outcome is None:
                outcome = self._exit_outcome()
            self.broken = outcome
            for seq, future in self._futures.items():
                future.set_result(dataclasses.replace(outcome, seq=seq))
            self._futures.clear()

    def _exit_outcome(self) -> Outcome:
        try:
            code: int | None = self.proc.wait(timeout=_STOP_GRACE)
        except subprocess.TimeoutExpired:
            code = None
        how = self._ending or _how_it_ended(code)
        return Outcome(
            0,
            status=KILLED,
            error_text=f"its worker process (pid {self.proc.pid}) {how}",
            traceback="(no traceback: the process ended; see its output above)\n",
        )

    def kill(self, why: str) -> None:
        """Kill the worker and its Work's children now; calls in flight end as ``why``."""
        with self._lock:
            self._ending = self._ending or why
        self._kill_group()

    def _kill_group(self) -> None:
        pid = self.proc.pid
        if pid > 0:  # 0 is a fork that never started: killpg(0) would be our own group
            kill_group(pid)

    def stop(self) -> None:
        """End the worker: idle, it is asked to stop; busy, it is killed. Then wait for it."""
        with self._lock:
            busy = bool(self._futures)
        if busy:
            self.kill("was stopped by the App before this call finished")
        else:
            with contextlib.suppress(OSError):
                self._conn.send(Stop())
        try:
            self.proc.wait(timeout=_STOP_GRACE)
        except subprocess.TimeoutExpired:
            self._kill_group()
            self.proc.wait()
        self._kill_group()  # what the Work started and left running goes too
        self._reader.join(timeout=_STOP_GRACE)
        for relay in self._relays:
            relay.thread.join(timeout=_STOP_GRACE)
        self._conn.close()


def _start_worker(fd: int) -> subprocess.Popen[bytes] | Forked:
    """A worker serving socket ``fd``: forked from this process's clean template when
    there is one (see `payloadkit.app._executors._forkserver`), else a fresh interpreter."""
    env = _worker_environment()
    server = fork_server(env)
    if server is not None:
        forked = server.fork(fd, env, os.getcwd())
        if forked.poll() is None:
            return forked
    return subprocess.Popen(
        [sys.executable, "-m", "payloadkit.app._executors._worker", str(fd), str(os.getpid())],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        pass_fds=(fd,),
        env=env,
        process_group=0,
    )


def _how_it_ended(code: int | None) -> str:
    if code is None:
        return "stopped answering and did not exit (or its template process ended)"
    if code < 0:
        known = {int(s): s.name for s in signal.Signals}
        name = known.get(-code, str(-code))
        return f"was killed by signal {name} (the OOM killer, or someone's kill)"
    return f"ended unexpectedly with exit code {code}"


class _ProcessHost:
    """The parent's side of one Work: its current worker, replaced when it had to go."""

    def __init__(
        self, name: str, work: bytes, blob: dict[str, Any], events: Callable[[Any], None]
    ) -> None:
        self.name = name
        self._work, self._blob, self._events = work, blob, events
        self._worker = _Worker(name, work, blob, events)

    def submit(self, call: Call, parallel: bool) -> Future[Outcome]:
        if self._worker.broken is not None and not self._worker.unloadable:
            self._replace()  # the worker died or was killed: the next call gets a fresh one
        return self._worker.submit(call)

    def cancel(self, seq: int) -> None:
        self._worker.kill("was killed by the App at the call's time limit")
        self._replace()

    def _replace(self) -> None:
        old, self._worker = self._worker, _Worker(self.name, self._work, self._blob, self._events)
        old.stop()

    def stop(self) -> None:
        self._worker.stop()


def _worker_environment() -> dict[str, str]:
    root = os.path.dirname(os.path.dirname(os.path.abspath(payloadkit.__file__)))
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


class ProcessExecutor(Executor):
    """Runs each Work in its own worker process, kept for the whole App run."""

    kind: ClassVar[str] = "process"

    def __init__(self, store: Store, storage_options: dict[str, Any] | None = None) -> None:
        refuse_memory_store(store, "process")
        super().__init__(store, storage_options)
        self._hosts: list[_ProcessHost] = []

    def start(self, works: dict[str, bytes]) -> dict[str, Host]:
        blob = settings_for(self.store, self.storage_options)
        hosts: dict[str, Host] = {}
        for name, work in works.items():
            host = _ProcessHost(name, work, blob, functools.partial(self.event, name))
            self._hosts.append(host)
            hosts[name] = host
        return hosts

    def close(self) -> None:
        hosts, self._hosts = self._hosts, []
        for host in hosts:
            host.stop()
