"""Work: a unit of work whose public attributes are its state."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from payloadkit.app._state import carriable
from payloadkit.app._status import WorkFailureReasons, WorkStageStatus, WorkStatus, make_status
from payloadkit.errors import ConfigurationError, WorkError

if TYPE_CHECKING:
    from payloadkit.app._runtime import Runtime

__all__ = ["Work"]

#: Attributes of the runtime that never travel with a Work.
_RUNTIME_ATTRIBUTES = ("_pk_runtime", "_pk_pending", "_pk_name", "_pk_statuses", "_pk_publish")
#: Public names that read no state, so they never wait for a parallel run.
_NO_WAIT = frozenset(
    {
        "run",
        "parallel",
        "cache_calls",
        "timeout",
        "raise_exception",
        "start_with_flow",
        "status",
        "statuses",
        "has_started",
        "has_succeeded",
        "has_failed",
        "has_stopped",
        "has_timeout",
        "is_running",
        "is_pending",
        "stop",
        "start",
    }
)


class Work:
    """A unit of work: ``run(...)`` is your code, the public attributes are its state.

    State is the public attributes whose values are JSON values or Payloads (nested in
    lists and dicts too); other public attributes, and private ones (``_name``), stay with
    the Work where it runs and survive between its runs. Inside an `App`, calling
    ``run`` sends the call to the Work's executor and, when it returns, the Work in the
    Flow shows the state the run produced. Outside an App, ``run`` is a plain method call.

    ``parallel=True`` makes ``run`` return at once; reading the Work's state waits for
    the run (in an App that loops, reads never wait: they show the state the run has
    published so far, and a call to a non-parallel Work ends the Flow's iteration until
    the run has ended, as in Lightning). ``cache_calls=True`` (the default) skips a call whose arguments equal those
    of an earlier successful call (payloads compared by digest). ``timeout`` (seconds)
    limits each call: a call past it is stopped and raised as a WorkError naming the Work
    and the limit (the App's ``work_timeout`` applies to Works that set none).
    ``raise_exception=False`` records a failed call in `status` instead of ending
    the App. ``start_with_flow=False`` starts the Work's worker at its first call (or
    `start`) instead of when the App starts.

    Assigning a public attribute a value that cannot be state (neither JSON nor a
    Payload) raises a WorkError naming the attribute; keep such values private
    (``self._model``). `status` and ``has_succeeded``, ``is_running``, ... say where
    the Work's latest call stands; `stop` ends its worker.

    ```python
    import payloadkit as pk

    class Count(pk.Work):
        def __init__(self):
            super().__init__()
            self.total = 0

        def run(self, n: int):
            self.total += n

    work = Count()
    work.run(2)          # no App: an ordinary call
    assert work.total == 2
    ```
    """

    def __init__(
        self,
        parallel: bool = False,
        cache_calls: bool = True,
        timeout: float | None = None,
        *,
        raise_exception: bool = True,
        start_with_flow: bool = True,
    ) -> None:
        self._pk_parallel = bool(parallel)
        self._pk_cache_calls = bool(cache_calls)
        self._pk_timeout = check_timeout(timeout, f"{type(self).__qualname__}(timeout=...)")
        self._pk_raise_exception = bool(raise_exception)
        self._pk_start_with_flow = bool(start_with_flow)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        run = cls.__dict__.get("run")
        if callable(run) and not getattr(run, "_pk_dispatch", False):
            cls.run = _dispatching(run)  # type: ignore[method-assign]

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """Your code: override it. Arguments may be JSON values, Payloads or picklable objects."""
        raise NotImplementedError(f"{type(self).__qualname__} must define run().")

    @property
    def parallel(self) -> bool:
        """True when ``run`` returns at once and the Flow waits only when it reads the state."""
        return bool(self.__dict__.get("_pk_parallel", False))

    @property
    def cache_calls(self) -> bool:
        """True when a call with the same arguments as an earlier successful one is skipped."""
        return bool(self.__dict__.get("_pk_cache_calls", True))

    @property
    def timeout(self) -> float | None:
        """The time limit of each call in seconds, or None (then the App's ``work_timeout``)."""
        value = self.__dict__.get("_pk_timeout")
        return float(value) if value is not None else None

    @property
    def raise_exception(self) -> bool:
        """True when a failed call ends the App; False records it in `status` only."""
        return bool(self.__dict__.get("_pk_raise_exception", True))

    @property
    def start_with_flow(self) -> bool:
        """True when the Work's worker starts with the App, False at its first call."""
        return bool(self.__dict__.get("_pk_start_with_flow", True))

    @property
    def statuses(self) -> list[WorkStatus]:
        """Every status of the Work's latest call, oldest first."""
        return [WorkStatus(**entry) for entry in self.__dict__.get("_pk_statuses", ())]

    @property
    def status(self) -> WorkStatus:
        """The latest status: ``status.stage`` is one of `WorkStageStatus`."""
        statuses = self.__dict__.get("_pk_statuses")
        if statuses:
            return WorkStatus(**statuses[-1])
        return WorkStatus(**make_status(WorkStageStatus.NOT_STARTED))

    @property
    def has_started(self) -> bool:
        """True once a call (or `start`) reached the Work."""
        return self.status.stage != WorkStageStatus.NOT_STARTED

    @property
    def has_succeeded(self) -> bool:
        """True when the latest call succeeded."""
        return self.status.stage == WorkStageStatus.SUCCEEDED

    @property
    def has_failed(self) -> bool:
        """True when the latest call failed (its code raised, timed out, or was killed)."""
        return self.status.stage == WorkStageStatus.FAILED

    @property
    def has_timeout(self) -> bool:
        """True when the latest call failed at its time limit."""
        return self.has_failed and self.status.reason == WorkFailureReasons.TIMEOUT

    @property
    def has_stopped(self) -> bool:
        """True once the Flow stopped the Work."""
        return self.status.stage == WorkStageStatus.STOPPED

    @property
    def is_running(self) -> bool:
        """True while the latest call's code runs."""
        return self.status.stage == WorkStageStatus.RUNNING

    @property
    def is_pending(self) -> bool:
        """True between sending a call and its code starting."""
        return self.status.stage == WorkStageStatus.PENDING

    def stop(self) -> None:
        """End the Work's worker (a running call is killed); later calls are ignored."""
        runtime: Runtime | None = self.__dict__.get("_pk_runtime")
        if runtime is None:
            raise WorkError(
                f"Only a Flow running in an App can stop the Work {self!r}: call stop() from "
                "the Flow's run().",
                work=self.__dict__.get("_pk_name") or type(self).__qualname__,
            )
        runtime.stop_work(self)

    def start(self) -> None:
        """Start the Work's worker without a call; its status becomes ``started``."""
        if self.has_stopped:
            raise WorkError(
                f"A work can be started only once for now. The Work {self!r} was stopped; "
                "create a new Work to run it again.",
                work=self.__dict__.get("_pk_name") or type(self).__qualname__,
            )
        runtime: Runtime | None = self.__dict__.get("_pk_runtime")
        if runtime is not None:
            runtime.start_work(self)
        elif not self.has_started:
            self.__dict__["_pk_statuses"] = [make_status(WorkStageStatus.STARTED)]

    def __getattribute__(self, name: str) -> Any:
        if name[:1] != "_" and name not in _NO_WAIT:
            attributes = object.__getattribute__(self, "__dict__")
            if attributes.get("_pk_pending") is not None:
                attributes["_pk_runtime"].wait(self, reading=True)
        return object.__getattribute__(self, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name[:1] == "_":
            object.__setattr__(self, name, value)
            return
        attributes = self.__dict__
        if attributes.get("_pk_pending") is not None:
            attributes["_pk_runtime"].wait(self, reading=True)
        value = self._pk_check_attribute(name, value)
        object.__setattr__(self, name, value)
        publish = attributes.get("_pk_publish")
        if publish is not None:
            publish(name)

    def _pk_check_attribute(self, name: str, value: Any) -> Any:
        """The value to store as public attribute ``name``; raises when it cannot be state."""
        if isinstance(getattr(type(self), name, None), property):
            return value
        if not carriable(value):
            raise WorkError(
                f"Work {self.__dict__.get('_pk_name') or type(self).__qualname__} cannot carry "
                f"its state attribute {name}: it holds a {type(value).__qualname__}, which is "
                f"neither a JSON value nor a Payload. Wrap it (pk.Payload(value)) or keep it "
                f"private (self._{name}): private attributes stay with the Work where it runs.",
                work=self.__dict__.get("_pk_name") or type(self).__qualname__,
            )
        return value

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in _RUNTIME_ATTRIBUTES}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __repr__(self) -> str:
        name = self.__dict__.get("_pk_name")
        return f"<{type(self).__qualname__}{' ' + name if name else ''}>"


def check_timeout(value: float | None, where: str) -> float | None:
    """``value`` as a positive number of seconds, or None; a ConfigurationError otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigurationError(
            f"{where} takes a positive number of seconds or None, not {type(value).__name__} "
            f"{value!r}."
        )
    return float(value)


def _dispatching(run: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a Work's ``run`` so that, inside an App, calls go to the Work's executor."""

    @functools.wraps(run)
    def dispatch(self: Work, *args: Any, **kwargs: Any) -> Any:
        runtime: Runtime | None = self.__dict__.get("_pk_runtime")
        if runtime is None:
            from payloadkit.app._runtime import active_runtime

            runtime = active_runtime()
            if runtime is None or not runtime.adopt(self):
                return run(self, *args, **kwargs)
        return runtime.call(self, args, kwargs)

    dispatch._pk_dispatch = True  # type: ignore[attr-defined]
    return dispatch
