"""The Flow side of one App run: sends calls to hosts, waits, applies state, caches calls.

It also keeps what the run record says about each Work: its status and the history of
its calls (the payloads each received and left in its state, times, status). A call
that runs past its Work's time limit is stopped through its host (which replaces what
ran it) and raised as a WorkError naming the Work and the limit.
"""

from __future__ import annotations

import inspect
import itertools
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from payloadkit.app._protocol import INTERRUPTED, TIMED_OUT, Call, Outcome
from payloadkit.app._record import NOT_RUN, call_entry, digest_map, now
from payloadkit.app._state import EncodedArgs, apply_state, call_key, encode_args, work_state
from payloadkit.app._work import Work
from payloadkit.errors import WorkError
from payloadkit.stores import Store

__all__ = ["Host", "Runtime", "WorkStats"]


class Host(Protocol):
    """An executor's handle on the place one Work runs."""

    def submit(self, call: Call, parallel: bool) -> Future[Outcome]:
        """Start ``call``; the future holds its Outcome."""

    def cancel(self, seq: int) -> None:
        """Stop call ``seq`` where it runs, and be ready for the Work's next call."""

    def stop(self) -> None:
        """Stop the Work's worker; the Work cannot run again."""


@dataclass
class _Pending:
    future: Future[Outcome]
    key: str
    state_keys: set[str]
    seq: int
    started: datetime
    inputs: dict[str, Any]
    limit: float | None
    deadline: float | None


@dataclass
class WorkStats:
    """What the run record says about one Work."""

    calls: int = 0
    status: str = NOT_RUN
    keys: set[str] = field(default_factory=set)
    history: list[dict[str, Any]] = field(default_factory=list)
    running: _Pending | None = None


class Runtime:
    """Dispatches the calls of the Works bound to it during one :meth:`App.run`."""

    def __init__(
        self,
        store: Store,
        hosts: dict[str, Host],
        works: dict[str, Work],
        work_timeout: float | None = None,
    ) -> None:
        self.store = store
        self.hosts = hosts
        self.works = works
        self.work_timeout = work_timeout
        self.stats = {name: WorkStats() for name in works}
        #: The status of the call whose failure is propagating, if one is.
        self.failure_status: str | None = None
        self._seq = itertools.count(1)

    def bind(self) -> None:
        """Make the Works' ``run`` calls go through this runtime."""
        for name, work in self.works.items():
            work.__dict__.update(_pk_runtime=self, _pk_name=name, _pk_pending=None)

    def unbind(self) -> None:
        """Make the Works plain objects again."""
        for work in self.works.values():
            for key in ("_pk_runtime", "_pk_pending"):
                work.__dict__.pop(key, None)

    def call(self, work: Work, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Run ``work`` with these arguments where it lives (or skip a cached call)."""
        self.wait(work)
        name = work.__dict__["_pk_name"]
        stats = self.stats[name]
        encoded = _encode(name, args, kwargs, self.store)
        key = call_key(encoded)
        if work.cache_calls and key in stats.keys:
            return
        state = work_state(name, work, self.store)
        limit = work.timeout if work.timeout is not None else self.work_timeout
        call = Call(next(self._seq), state, encoded, limit)
        deadline = time.monotonic() + limit if limit is not None else None
        inputs = digest_map(_by_name(work, encoded))
        pending = _Pending(Future(), key, set(state), call.seq, now(), inputs, limit, deadline)
        stats.running = pending  # before submitting: an inline call runs within submit()
        stats.calls += 1
        pending.future = self.hosts[name].submit(call, work.parallel)
        if work.parallel:
            work.__dict__["_pk_pending"] = pending
            return
        self._finish(name, work, pending)

    def wait(self, work: Work) -> None:
        """Wait for ``work``'s parallel run, if one is going, and take its state."""
        pending = work.__dict__.get("_pk_pending")
        if pending is None:
            return
        work.__dict__["_pk_pending"] = None
        self._finish(work.__dict__["_pk_name"], work, pending)

    def wait_all(self) -> None:
        """Wait for every parallel run still going; raise the first error."""
        for work in self.works.values():
            self.wait(work)

    def interrupt(self, reason: str) -> None:
        """Record every call still running as interrupted (the App is stopping)."""
        for stats in self.stats.values():
            if stats.running is not None:
                self._note(stats, Outcome(stats.running.seq, status=INTERRUPTED), reason)

    def _finish(self, name: str, work: Work, pending: _Pending) -> None:
        outcome = self._result(name, pending)
        stats = self.stats[name]
        if not outcome.succeeded:
            self._note(stats, outcome, outcome.error_text)
            self.failure_status = outcome.status
            outcome.raise_for(name)
        assert outcome.state is not None
        apply_state(work, outcome.state, pending.state_keys)
        self._note(stats, outcome, None)
        stats.keys.add(pending.key)

    def _result(self, name: str, pending: _Pending) -> Outcome:
        remaining = None
        if pending.deadline is not None:
            remaining = max(0.0, pending.deadline - time.monotonic())
        try:
            return pending.future.result(timeout=remaining)
        except TimeoutError:
            pass
        self.hosts[name].cancel(pending.seq)
        return Outcome(
            pending.seq,
            status=TIMED_OUT,
            error_text=f"it ran past its time limit of {pending.limit:g} s; the App stopped "
            "it and gave the Work a fresh worker for its next call",
            traceback="(no traceback: the call was stopped at its time limit)\n",
        )

    def _note(self, stats: WorkStats, outcome: Outcome, error: str | None) -> None:
        """Close the running call's history entry with ``outcome``."""
        pending, stats.running = stats.running, None
        if pending is None:
            return
        stats.status = outcome.status
        outputs = digest_map(outcome.state) if outcome.state is not None else {}
        entry = call_entry(
            call=pending.seq,
            started=pending.started,
            ended=now(),
            status=outcome.status,
            inputs=pending.inputs,
            outputs=outputs,
            error=error,
        )
        stats.history.append(entry)


def _encode(name: str, args: tuple[Any, ...], kwargs: dict[str, Any], store: Store) -> EncodedArgs:
    """The call's arguments, ready to travel; a WorkError when one cannot."""
    try:
        return encode_args(args, kwargs, store)
    except WorkError:
        raise
    except Exception as exc:
        raise WorkError(
            f"The arguments of a call of Work {name} cannot travel to it: {type(exc).__name__}: "
            f"{exc}. Pass JSON values, Payloads (pk.Payload(value)) or objects that pickle.",
            work=name,
        ) from exc


def _by_name(work: Work, encoded: EncodedArgs) -> dict[str, Any]:
    """The JSON arguments of a call by parameter name (position numbers when unbound)."""
    positional, named = encoded
    names = _parameters(work, len(positional))
    values = {names[i]: data for i, (kind, data) in enumerate(positional) if kind == "json"}
    values.update({key: data for key, (kind, data) in named.items() if kind == "json"})
    return values


def _parameters(work: Work, count: int) -> list[str]:
    try:
        parameters = list(inspect.signature(type(work).run).parameters.values())[1:]
    except (TypeError, ValueError):
        parameters = []
    names = [p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return [names[i] if i < len(names) else str(i) for i in range(count)]
