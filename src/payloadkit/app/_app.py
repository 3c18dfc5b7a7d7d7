"""App: runs a root Flow once on an executor, against one store, and records the run."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Any

from payloadkit.app._executors import Executor, open_executor
from payloadkit.app._flow import Flow, check_root, works_of
from payloadkit.app._loop import drive
from payloadkit.app._protocol import FAILED, INTERRUPTED, SUCCEEDED
from payloadkit.app._record import (
    NOT_RUN,
    RUN_RECORD_KIND,
    drive_digests,
    new_run_id,
    now,
    run_record,
)
from payloadkit.app._runtime import Host, Runtime
from payloadkit.app._signals import hold_signals, stop_on_signals
from payloadkit.app._state import work_state
from payloadkit.app._travel import dumps
from payloadkit.app._work import Work, check_timeout
from payloadkit.errors import PayloadkitError, WorkError
from payloadkit.stores import Store, open_store
from payloadkit.stores._opened import default_store, remember_store, store_for_url

__all__ = ["App"]


class App:
    """Runs a Flow: ``App(flow, storage=URL, executor=...).run()``.

    ``storage`` is the store payloads go through (a URL, a path, or a Store; default:
    the configured store, ``.payloadkit/`` in the working directory), ``storage_options``
    its fsspec options when they are not configured with `payloadkit.configure`.
    ``executor`` is ``"process"`` (the default: each Work in its own worker process),
    ``"inline"`` (this process), a ``distributed.Client`` or a scheduler address
    (``"tcp://host:8786"``). ``work_timeout`` (seconds) limits every call of a Work
    that sets no ``timeout`` of its own. Creating an App runs nothing; `run` calls
    the root Flow's ``run()`` once, stops the workers and writes a run record to the store.
    ``loop=True`` calls it again and again instead, as Lightning does, until the Flow calls
    ``self.stop()``, a Work fails, or an iteration changes nothing while no Work runs
    (see `payloadkit.app._loop`); parallel Works then publish their state while
    they run, and reading it never waits.

    ```python
    import payloadkit as pk

    class Square(pk.Work):
        def __init__(self):
            super().__init__()
            self.result = None

        def run(self, x: int):
            self.result = pk.Payload(x * x)

    class Main(pk.Flow):
        def __init__(self):
            super().__init__()
            self.square = Square()

        def run(self):
            self.square.run(7)

    app = pk.App(Main(), storage="memory://app-doc", executor="inline")
    record = app.run()
    assert app.root.square.result.value == 49
    assert record["outcome"] == "succeeded"
    ```
    """

    def __init__(
        self,
        root: Flow,
        storage: str | os.PathLike[str] | Store | None = None,
        executor: Any = "process",
        *,
        storage_options: Mapping[str, Any] | None = None,
        work_timeout: float | None = None,
        loop: bool = False,
    ) -> None:
        self.root = check_root(root)
        #: True: the root Flow's run() is called in a loop (Lightning's model).
        self.loop = bool(loop)
        self.storage = storage
        self.storage_options = dict(storage_options) if storage_options is not None else None
        self.executor = executor
        #: The time limit of each call of a Work that sets no ``timeout`` (None: none).
        self.work_timeout = check_timeout(work_timeout, "App(work_timeout=...)")
        #: The record of the last run, once there was one.
        self.last_record: dict[str, Any] | None = None

    def store(self) -> Store:
        """The store this App's payloads and run records go to."""
        if isinstance(self.storage, Store):
            remember_store(self.storage)
            return self.storage
        if self.storage is None:
            return default_store()
        if self.storage_options is not None:
            store = open_store(self.storage, **self.storage_options)
            remember_store(store)
            return store
        return store_for_url(os.fspath(self.storage))

    def run(self) -> dict[str, Any]:
        """Run the root Flow once; returns the run record (also written to the store).

        A Work's failure raises `payloadkit.errors.WorkError` naming the Work,
        after the workers are stopped and the failed run is recorded. SIGTERM, SIGINT
        and SIGHUP (when ``run`` is called from the main thread) stop the workers, record
        the run as interrupted and raise `KeyboardInterrupt`.
        """
        store = self.store()
        executor = open_executor(self.executor, store, self.storage_options)
        works = works_of(self.root)
        started = now()
        runtime: Runtime | None = None
        ending: BaseException | None = None
        stopped: str | None = None
        try:
            with stop_on_signals():
                try:
                    runtime = self._runtime(store, executor, works)
                    runtime.bind()
                    stopped = drive(self.root, runtime, self.loop)
                except BaseException as exc:
                    ending = exc
                    raise
                finally:
                    _close(executor, runtime, ending)
        finally:
            if runtime is not None:
                works = runtime.works
            self._record(store, executor, runtime, works, started, ending, stopped)
        assert self.last_record is not None
        return self.last_record

    def _runtime(self, store: Store, executor: Executor, works: dict[str, Work]) -> Runtime:
        """The runtime of one run, the hosts of the Works that start with the Flow started."""

        def launch(more: dict[str, Work]) -> dict[str, Host]:
            return executor.start({name: _ship(name, work, store) for name, work in more.items()})

        runtime = Runtime(store, {}, dict(works), self.work_timeout, live=self.loop, launch=launch)
        executor.on_event = runtime.on_event
        runtime.hosts.update(launch({n: w for n, w in works.items() if w.start_with_flow}))
        if self.loop:
            runtime.discover = lambda: _discover(self.root, runtime)
        return runtime

    def _record(
        self,
        store: Store,
        executor: Executor,
        runtime: Runtime | None,
        works: dict[str, Work],
        started: Any,
        ending: BaseException | None,
        stopped: str | None = None,
    ) -> None:
        root = type(self.root)
        run_id = new_run_id(started)
        record = run_record(
            run_id=run_id,
            app=f"{root.__module__}:{root.__qualname__}",
            executor=executor.kind,
            started=started,
            ended=now(),
            outcome=_outcome(ending, runtime),
            error=f"{type(ending).__name__}: {ending}" if ending is not None else None,
            works={name: _entry(name, work, store, runtime) for name, work in works.items()},
            stop_message=stopped,
            drives=drive_digests(store),
        )
        self.last_record = record
        try:
            store.put_record(RUN_RECORD_KIND, run_id, record)
        except PayloadkitError as exc:
            if ending is None:
                raise
            warnings.warn(f"The failed run {run_id} was not recorded: {exc}", stacklevel=3)


def _outcome(ending: BaseException | None, runtime: Runtime | None) -> str:
    if ending is None:
        return SUCCEEDED
    if isinstance(ending, KeyboardInterrupt):
        return INTERRUPTED
    if isinstance(ending, WorkError) and runtime is not None and runtime.failure_status:
        return runtime.failure_status
    return FAILED


def _entry(name: str, work: Work, store: Store, runtime: Runtime | None) -> dict[str, Any]:
    """What the record says of one Work; a state that cannot be taken is recorded as such."""
    stats = runtime.stats[name] if runtime is not None else None
    try:
        state = work_state(name, work, store)
    except PayloadkitError as exc:
        state = {}
        warnings.warn(f"The run record holds no state for {name}: {exc}", stacklevel=4)
    return {
        "state": state,
        "calls": stats.calls if stats else 0,
        "status": stats.status if stats else NOT_RUN,
        "history": stats.history if stats else [],
        "stage": work.status.stage,
    }


def _discover(root: Flow, runtime: Runtime) -> None:
    """Take on the Works that appeared under ``root`` since the run started."""
    known = {id(work) for work in runtime.works.values()}
    new = {
        name: work
        for name, work in works_of(root).items()
        if id(work) not in known and name not in runtime.works
    }
    if new:
        runtime.add(new)


def _ship(name: str, work: Work, store: Store) -> bytes:
    """The Work, pickled by value for its host; its payloads saved to ``store`` first."""
    work_state(name, work, store)
    try:
        return dumps(work)
    except Exception as exc:
        attribute = _unpicklable(work)
        raise WorkError(
            f"Work {name} cannot be sent to where it runs: its attribute {attribute} does not "
            f"pickle ({type(exc).__name__}: {exc}). Create such objects inside run() (they "
            "stay with the Work between its runs), or make them picklable.",
            work=name,
        ) from exc


def _unpicklable(work: Work) -> str:
    """The first attribute of ``work`` that cloudpickle refuses, as ``'_name' (type)``."""
    for attribute, value in work.__getstate__().items():
        try:
            dumps(value)
        except Exception:
            return f"{attribute!r} ({type(value).__qualname__})"
    return "(one of them)"


def _first_line(exc: BaseException) -> str:
    lines = str(exc).splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def _close(executor: Executor, runtime: Runtime | None, ending: BaseException | None) -> None:
    with hold_signals():
        if runtime is not None:
            if ending is not None:
                runtime.interrupt(f"the App stopped while this call ran: {_first_line(ending)}")
            runtime.unbind()
        executor.close()
