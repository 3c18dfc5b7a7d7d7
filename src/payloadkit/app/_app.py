"""App: runs a root Flow once on an executor, against one store, and records the run."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Any

import cloudpickle

from payloadkit.app._executors import Executor, open_executor
from payloadkit.app._flow import Flow, check_root, works_of
from payloadkit.app._record import RUN_RECORD_KIND, new_run_id, now, run_record
from payloadkit.app._runtime import Runtime
from payloadkit.app._state import state_of
from payloadkit.app._work import Work
from payloadkit.errors import PayloadkitError
from payloadkit.stores import Store, open_store
from payloadkit.stores._opened import default_store, remember_store, store_for_url

__all__ = ["App"]


class App:
    """Runs a Flow: ``App(flow, storage=URL, executor=...).run()``.

    ``storage`` is the store payloads go through (a URL, a path, or a Store; default:
    the configured store, ``.payloadkit/`` in the working directory), ``storage_options``
    its fsspec options when they are not configured with :func:`payloadkit.configure`.
    ``executor`` is ``"process"`` (the default: each Work in its own worker process),
    ``"inline"`` (this process), a ``distributed.Client`` or a scheduler address
    (``"tcp://host:8786"``). Creating an App runs nothing; :meth:`run` calls the root
    Flow's ``run()`` once, stops the workers and writes a run record to the store.

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
    ) -> None:
        self.root = check_root(root)
        self.storage = storage
        self.storage_options = dict(storage_options) if storage_options is not None else None
        self.executor = executor
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

        A Work's failure raises :class:`payloadkit.errors.WorkError` naming the Work,
        after the workers are stopped and the failed run is recorded.
        """
        store = self.store()
        executor = open_executor(self.executor, store, self.storage_options)
        works = works_of(self.root)
        started = now()
        runtime: Runtime | None = None
        error: str | None = None
        try:
            hosts = executor.start({name: _ship(work, store) for name, work in works.items()})
            runtime = Runtime(store, hosts, works)
            runtime.bind()
            self.root.run()
            runtime.wait_all()
        except BaseException as exc:
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            _close(executor, runtime)
            self._record(store, executor, runtime, works, started, error)
        assert self.last_record is not None
        return self.last_record

    def _record(
        self,
        store: Store,
        executor: Executor,
        runtime: Runtime | None,
        works: dict[str, Work],
        started: Any,
        error: str | None,
    ) -> None:
        entries: dict[str, dict[str, Any]] = {}
        for name, work in works.items():
            stats = runtime.stats[name] if runtime is not None else None
            entries[name] = {
                "state": state_of(work, store),
                "calls": stats.calls if stats else 0,
                "status": stats.status if stats else "not run",
            }
        root = type(self.root)
        run_id = new_run_id(started)
        record = run_record(
            run_id=run_id,
            app=f"{root.__module__}:{root.__qualname__}",
            executor=executor.kind,
            started=started,
            ended=now(),
            error=error,
            works=entries,
        )
        self.last_record = record
        try:
            store.put_record(RUN_RECORD_KIND, run_id, record)
        except PayloadkitError as exc:
            if error is None:
                raise
            warnings.warn(f"The failed run {run_id} was not recorded: {exc}", stacklevel=3)


def _ship(work: Work, store: Store) -> bytes:
    """The Work, pickled by value for its host; its payloads saved to ``store`` first."""
    state_of(work, store)
    return bytes(cloudpickle.dumps(work))


def _close(executor: Executor, runtime: Runtime | None) -> None:
    if runtime is not None:
        runtime.unbind()
    executor.close()
