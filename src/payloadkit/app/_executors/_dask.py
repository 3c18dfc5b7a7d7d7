"""The Dask executor: each Work lives in a Dask Actor on a worker of a distributed cluster.

An Actor keeps the Work object between its runs, as a worker process does, so that
non-state attributes survive from one run to the next. Actors are spread over the
cluster's workers in turn; a Dask worker runs its actors' calls one at a time, so two
parallel Works overlap when they are placed on different workers (give the cluster at
least as many workers as Works that should run at once). What a Work prints is captured
on the worker and printed here, prefixed with the Work's name, when its run returns.

A Dask worker that dies during a call (killed, out of memory, cut off) makes that call a
WorkError naming the Work, recorded as killed; the Work's next call gets a new actor.
A call past its time limit restarts its Dask worker's process (a running thread cannot
be stopped otherwise), which also ends the other actors that worker held.
"""

from __future__ import annotations

import contextlib
import functools
import io
import sys
import threading
import uuid
import warnings
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, ClassVar

from payloadkit._urls import is_local
from payloadkit.app._executors._base import Executor, refuse_memory_store
from payloadkit.app._host import WorkHost, apply_settings, failure, settings_for
from payloadkit.app._protocol import KILLED, Call, Outcome, StateUpdate, Status
from payloadkit.app._runtime import Host
from payloadkit.app._warmup import start_warm_up
from payloadkit.errors import ConfigurationError
from payloadkit.stores import Store

__all__ = ["DaskExecutor", "WorkActor", "is_loopback"]

_local = threading.local()
_RESTART_WAIT = 60


class _Router(io.TextIOBase):
    """Sends what the current thread writes to its capture buffer, if it has one."""

    def __init__(self, name: str, original: Any) -> None:
        self.name = name
        self.original = original

    def write(self, text: str) -> int:
        buffer = getattr(_local, "buffer", None)
        if buffer is None:
            return int(self.original.write(text))
        buffer.append((self.name, text))
        return len(text)

    def flush(self) -> None:
        if getattr(_local, "buffer", None) is None:
            self.original.flush()


def _install_routers() -> None:
    if not isinstance(sys.stdout, _Router):
        sys.stdout = _Router("stdout", sys.stdout)
    if not isinstance(sys.stderr, _Router):
        sys.stderr = _Router("stderr", sys.stderr)


class WorkActor:
    """Lives on a Dask worker as an Actor and keeps one Work between its runs.

    What a call says while it runs (its Status, its StateUpdates) goes to the App as
    events of ``topic`` on the scheduler, which the App's client subscribes to.
    """

    def __init__(self, name: str, work: bytes, blob: dict[str, Any], topic: str) -> None:
        import distributed

        _install_routers()
        self._worker = distributed.get_worker()
        self._topic = topic
        self._host = WorkHost(name, work, apply_settings(blob), events=self._event)
        start_warm_up()  # in the background: the first run should not pay for first use

    def _event(self, message: Status | StateUpdate) -> None:
        if isinstance(message, Status):
            self._worker.log_event(self._topic, {"seq": message.seq, "stage": message.stage})
        else:
            self._worker.log_event(self._topic, {"seq": message.seq, "state": message.state})

    def execute(self, call: Call) -> Outcome:
        """Run one call, capturing what it prints."""
        output: list[tuple[str, str]] = []
        _local.buffer = output
        try:
            outcome = self._host.execute(call)
        finally:
            _local.buffer = None
        outcome.output = output
        return outcome


def _print_output(name: str, output: list[tuple[str, str]]) -> None:
    pending = {"stdout": "", "stderr": ""}
    for stream, text in output:
        lines = (pending[stream] + text).split("\n")
        pending[stream] = lines.pop()
        for line in lines:
            print(f"[{name}] {line}", file=getattr(sys, stream), flush=True)
    for stream, rest in pending.items():
        if rest:
            print(f"[{name}] {rest}", file=getattr(sys, stream), flush=True)


class _DaskHost:
    def __init__(
        self,
        client: Any,
        name: str,
        work: bytes,
        blob: dict[str, Any],
        worker: str,
        events: Callable[[Any], None],
    ):
        self.name = name
        self._client = client
        self._work, self._blob = work, blob
        self._worker = worker
        self._events = events
        self._topic = f"payloadkit-live-{uuid.uuid4().hex}"
        client.subscribe_topic(self._topic, self._received)
        self._future = self._start_actor()
        self._actor: Any = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=name)

    def _start_actor(self) -> Any:
        return self._client.submit(
            WorkActor,
            self.name,
            self._work,
            self._blob,
            self._topic,
            actor=True,
            workers=[self._worker],
            allow_other_workers=True,  # when its worker is gone, another one takes it
            pure=False,
            key=f"payloadkit-work-{self.name}-{uuid.uuid4().hex[:8]}",
        )

    def _received(self, event: tuple[float, dict[str, Any]]) -> None:
        message = event[1]
        if "state" in message:
            self._events(StateUpdate(message["seq"], message["state"]))
        else:
            self._events(Status(message["seq"], message["stage"], 0))

    def submit(self, call: Call, parallel: bool) -> Future[Outcome]:
        return self._thread.submit(self._execute, call)

    def _execute(self, call: Call) -> Outcome:
        try:
            # Actor proxies find their client through the current-client context.
            with self._client.as_current():
                if self._actor is None:
                    self._actor = self._future.result()
                outcome: Outcome = self._actor.execute(call).result()
        except OSError as exc:  # the actor's worker went away (killed, lost, restarted)
            self._lost()
            return _killed(call.seq, exc)
        except Exception as exc:  # the actor could not start
            return failure(call.seq, exc)
        _print_output(self.name, outcome.output)
        return outcome

    def _lost(self) -> None:
        """The actor is gone with its worker: the next call gets a new one."""
        self._actor = None
        self._future.release()
        self._future = self._start_actor()

    def cancel(self, seq: int) -> None:
        # A thread on a Dask worker cannot be stopped: restart that worker's process
        # (its nanny starts a fresh one), then give the Work a new actor.
        with contextlib.suppress(Exception):
            self._client.restart_workers([self._actor_worker()], timeout=_RESTART_WAIT)
        old, self._thread = self._thread, ThreadPoolExecutor(1, thread_name_prefix=self.name)
        old.shutdown(wait=False, cancel_futures=True)
        self._lost()

    def _actor_worker(self) -> str:
        who = self._client.who_has([self._future]).get(self._future.key) or [self._worker]
        return str(who[0])

    def stop(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)
        self._actor = None
        self._future.release()
        with contextlib.suppress(Exception):
            self._client.unsubscribe_topic(self._topic)


def _killed(seq: int, exc: BaseException) -> Outcome:
    return Outcome(
        seq,
        status=KILLED,
        error_text=f"its Dask worker went away during the call ({type(exc).__name__}: {exc}); "
        "it was killed or lost its connection to the scheduler",
        traceback="(no traceback: the Dask worker ended; see its logs)\n",
    )


def _connect(address: str) -> Any:
    """A Client of the scheduler at ``address``."""
    try:
        import distributed
    except ImportError:
        raise ConfigurationError(
            "The Dask executor needs distributed: pip install 'payloadkit[dask]'."
        ) from None
    client_type: Any = distributed.Client
    try:
        return client_type(address, set_as_default=False)
    except OSError as exc:
        raise ConfigurationError(
            f"Could not connect to the Dask scheduler at {address}: {exc}. Check the "
            "address and that the scheduler is running."
        ) from None


def is_loopback(address: str) -> bool:
    """True when a scheduler address is on this machine's loopback interface."""
    if address.startswith("inproc://"):
        return True
    host = address.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
    return host == "localhost" or host == "::1" or host.startswith("127.")


class DaskExecutor(Executor):
    """Runs each Work in an Actor on a Dask cluster (a Client, or a scheduler address)."""

    kind: ClassVar[str] = "dask"

    def __init__(
        self, store: Store, cluster: Any, storage_options: dict[str, Any] | None = None
    ) -> None:
        refuse_memory_store(store, "dask")
        super().__init__(store, storage_options)
        self._own = isinstance(cluster, str)
        self.client = _connect(cluster) if self._own else cluster
        self._hosts: list[_DaskHost] = []
        if is_local(store.url) and not self._is_local_cluster():
            warnings.warn(
                f"The Dask scheduler at {self.client.scheduler.address} may be on another "
                f"machine, and its workers will use the local directory store {store.url}: "
                "that path must be the same shared directory on every worker (a network file "
                "system). Otherwise use a store all of them reach (s3://...).",
                UserWarning,
                stacklevel=4,
            )

    def _is_local_cluster(self) -> bool:
        if type(getattr(self.client, "cluster", None)).__name__ == "LocalCluster":
            return True
        return is_loopback(str(self.client.scheduler.address))

    def start(self, works: dict[str, bytes]) -> dict[str, Host]:
        blob = settings_for(self.store, self.storage_options)
        workers = sorted(self.client.scheduler_info(n_workers=-1)["workers"])
        if not workers:
            raise ConfigurationError(
                f"The Dask cluster at {self.client.scheduler.address} has no workers; start "
                "some, or wait for them before running the App."
            )
        hosts: dict[str, Host] = {}
        placed = len(self._hosts)
        for index, (name, work) in enumerate(works.items()):
            where = workers[(placed + index) % len(workers)]
            events = functools.partial(self.event, name)
            host = _DaskHost(self.client, name, work, blob, where, events)
            self._hosts.append(host)
            hosts[name] = host
        return hosts

    def close(self) -> None:
        hosts, self._hosts = self._hosts, []
        for host in hosts:
            host.stop()
        if self._own:
            self.client.close()
