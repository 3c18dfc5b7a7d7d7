"""Work: a unit of work whose public attributes are its state."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from payloadkit.errors import ConfigurationError

if TYPE_CHECKING:
    from payloadkit.app._runtime import Runtime

__all__ = ["Work"]

#: Attributes of the runtime that never travel with a Work.
_RUNTIME_ATTRIBUTES = ("_pk_runtime", "_pk_pending", "_pk_name")
#: Public names that read no state, so they never wait for a parallel run.
_NO_WAIT = frozenset({"run", "parallel", "cache_calls", "timeout"})


class Work:
    """A unit of work: ``run(...)`` is your code, the public attributes are its state.

    State is the public attributes whose values are JSON values or Payloads (nested in
    lists and dicts too); other public attributes, and private ones (``_name``), stay with
    the Work where it runs and survive between its runs. Inside an :class:`App`, calling
    ``run`` sends the call to the Work's executor and, when it returns, the Work in the
    Flow shows the state the run produced. Outside an App, ``run`` is a plain method call.

    ``parallel=True`` makes ``run`` return at once; reading the Work's state waits for
    the run. ``cache_calls=True`` (the default) skips a call whose arguments equal those
    of an earlier successful call (payloads compared by digest). ``timeout`` (seconds)
    limits each call: a call past it is stopped and raised as a WorkError naming the Work
    and the limit (the App's ``work_timeout`` applies to Works that set none).

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
        self, parallel: bool = False, cache_calls: bool = True, timeout: float | None = None
    ) -> None:
        self._pk_parallel = bool(parallel)
        self._pk_cache_calls = bool(cache_calls)
        self._pk_timeout = check_timeout(timeout, f"{type(self).__qualname__}(timeout=...)")

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

    def __getattribute__(self, name: str) -> Any:
        if name[:1] != "_" and name not in _NO_WAIT:
            attributes = object.__getattribute__(self, "__dict__")
            if attributes.get("_pk_pending") is not None:
                attributes["_pk_runtime"].wait(self)
        return object.__getattribute__(self, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name[:1] != "_" and self.__dict__.get("_pk_pending") is not None:
            self.__dict__["_pk_runtime"].wait(self)
        object.__setattr__(self, name, value)

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
            return run(self, *args, **kwargs)
        return runtime.call(self, args, kwargs)

    dispatch._pk_dispatch = True  # type: ignore[attr-defined]
    return dispatch
