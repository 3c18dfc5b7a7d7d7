"""The process executor: each Work lives in its own long-lived worker process.

A worker is a fresh interpreter (``python -m payloadkit.app._executors._worker``), safe
whatever threads this process runs, started for every Work at once when the App starts.
It receives the Work by value (cloudpickle, so classes defined in the app's own file
travel too) and this process's payloadkit settings through a private socket; what it
prints reaches this terminal line by line, prefixed with the Work's name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import subprocess
import sys
import threading
from concurrent.futures import Future
from multiprocessing.connection import Connection
from typing import IO, Any, ClassVar

import payloadkit
from payloadkit.app._executors._base import Executor, refuse_memory_store
from payloadkit.app._executors._worker import SYNC_MARK
from payloadkit.app._host import Call, Outcome, settings_for
from payloadkit.app._runtime import Host
from payloadkit.stores import Store

__all__ = ["ProcessExecutor"]

_STOP_GRACE = 5.0
_SYNC_WAIT = 10.0
_STOPPED = Outcome(
    0,
    error_text="the App stopped its worker process before this run finished",
    traceback="(no traceback: the run was interrupted)\n",
)


class _Output:
    """Relays one output stream of a worker to ours, noting the sync markers it passes."""

    def __init__(self, name: str, pipe: IO[bytes], stream: str, synced: threading.Condition):
        self.prefix = f"[{name}] "
        self.stream = stream
        self.seq = 0
        self._pipe = pipe
        self._synced = synced
        self.thread = threading.Thread(target=self._relay, name=f"{name}-{stream}", daemon=True)
        self.thread.start()

    def _relay(self) -> None:
        for line in iter(self._pipe.readline, b""):
            before, mark, rest = line.partition(SYNC_MARK)
            if before:
                self._write(before)
            if mark:
                with self._synced:
                    self.seq = int(rest.strip() or 0)
                    self._synced.notify_all()
        self._pipe.close()

    def _write(self, data: bytes) -> None:
        text = data.decode("utf-8", "replace")
        out = getattr(sys, self.stream)
        out.write(self.prefix + text + ("" if text.endswith("\n") else "\n"))
        out.flush()


class _ProcessHost:
    """The parent's side of one worker process."""

    def __init__(self, name: str, work: bytes, blob: dict[str, Any]) -> None:
        self.name = name
        parent, child = socket.socketpair()
        with child:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "payloadkit.app._executors._worker", str(child.fileno())],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(child.fileno(),),
                env=_worker_environment(),
            )
        self._conn = Connection(parent.detach())
        self._lock = threading.Lock()
        self._synced = threading.Condition()
        self._futures: dict[int, Future[Outcome]] = {}
        self._broken: Outcome | None = None
        self._stopping = False
        assert self._proc.stdout is not None
        assert self._proc.stderr is not None
        self._outputs = [
            _Output(name, self._proc.stdout, "stdout", self._synced),
            _Output(name, self._proc.stderr, "stderr", self._synced),
        ]
        self._conn.send(("start", name, work, blob))
        self._reader = threading.Thread(target=self._read, name=f"{name}-reader", daemon=True)
        self._reader.start()

    def submit(self, call: Call, parallel: bool) -> Future[Outcome]:
        future: Future[Outcome] = Future()
        with self._lock:
            if self._broken is None:
                self._futures[call.seq] = future
                try:
                    self._conn.send(("run", call))
                    return future
                except OSError:
                    del self._futures[call.seq]
                    self._broken = self._exit_outcome()
            future.set_result(dataclasses.replace(self._broken, seq=call.seq))
        return future

    def _read(self) -> None:
        try:
            while True:
                kind, outcome = self._conn.recv()
                if kind == "done":
                    self._wait_for_output(outcome.seq)
                    with self._lock:
                        self._futures.pop(outcome.seq).set_result(outcome)
                elif kind == "failed":
                    self._break(outcome)
                    return
        except (EOFError, OSError):
            self._break(None)

    def _wait_for_output(self, seq: int) -> None:
        with self._synced:
            self._synced.wait_for(
                lambda: all(o.seq >= seq for o in self._outputs), timeout=_SYNC_WAIT
            )

    def _break(self, outcome: Outcome | None) -> None:
        with self._lock:
            if outcome is None:
                outcome = _STOPPED if self._stopping else self._exit_outcome()
            self._broken = outcome
            for seq, future in self._futures.items():
                future.set_result(dataclasses.replace(self._broken, seq=seq))
            self._futures.clear()

    def _exit_outcome(self) -> Outcome:
        try:
            code: int | None = self._proc.wait(timeout=_STOP_GRACE)
        except subprocess.TimeoutExpired:
            code = None
        return Outcome(
            0,
            error_text=f"its worker process (pid {self._proc.pid}) ended unexpectedly "
            f"with exit code {code}",
            traceback="(no traceback: the process ended; see its output above)\n",
        )

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            busy = bool(self._futures)
        if busy:
            self._proc.kill()
        else:
            with contextlib.suppress(OSError):
                self._conn.send(("stop",))
        try:
            self._proc.wait(timeout=_STOP_GRACE)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._reader.join(timeout=_STOP_GRACE)
        for output in self._outputs:
            output.thread.join(timeout=_STOP_GRACE)
        self._conn.close()


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
            host = _ProcessHost(name, work, blob)
            self._hosts.append(host)
            hosts[name] = host
        return hosts

    def close(self) -> None:
        hosts, self._hosts = self._hosts, []
        for host in hosts:
            host.stop()
