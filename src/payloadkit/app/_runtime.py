"""The Flow side of one App run: sends calls to hosts, waits, applies state, caches calls.

It also keeps what the run record says about each Work: its status and the history of
its calls (the payloads each received and left in its state, times, status). A call
that runs past its Work's time limit is stopped through its host (which replaces what
ran it) and raised as a WorkError naming the Work and the limit.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from payloadkit.app._protocol import (
    FAILED,
    INTERRUPTED,
    KILLED,
    TIMED_OUT,
    Call,
    Outcome,
    StateUpdate,
    Status,
)
from payloadkit.app._record import NOT_RUN, call_entry, digest_map, now
from payloadkit.app._state import EncodedArgs, apply_state, call_key, encode_args, work_state
from payloadkit.app._status import CallPending, WorkFailureReasons, WorkStageStatus, make_status
from payloadkit.app._work import Work
from payloadkit.errors import WorkError
from payloadkit.stores import Store

__all__ = ["Host", "Runtime", "WorkStats", "active_runtime"]

_active: list[Runtime] = []


def active_runtime() -> Runtime | None:
    """The live runtime driving a Flow in this process, if one is: it adopts new Works."""
    return _active[-1] if _active else None


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
    stopped: bool = False
    #: The key of the ended non-parallel call whose return the Flow has not seen yet.
    returned: str | None = None
    #: The key and number of the latest call, when it failed (live model only).
    failed_key: str | None = None
    failed_seq: int | None = None


class Runtime:
    """Dispatches the calls of the Works bound to it during one `App.run`.

    ``live=True`` is the looping model (Lightning's): reading a Work's state never
    waits, a call to a parallel Work whose call is still in flight is ignored (the
    looping Flow calls again), and what hosts report while calls run (Status,
    StateUpdate) is applied by `poll`, between iterations of the Flow. A call to a
    non-parallel Work is sent and ends the Flow's iteration (`CallPending`); the
    Flow's later iterations see the Work pending, then running, and the same call
    returns once the run has ended (an uncached Work's call returns once, the next one
    runs it again). A call that failed with ``raise_exception=False`` is not run again
    with the same arguments. ``launch``
    starts hosts for Works that had none yet (started late, or created while running).
    """

    def __init__(
        self,
        store: Store,
        hosts: dict[str, Host],
        works: dict[str, Work],
        work_timeout: float | None = None,
        *,
        live: bool = False,
        launch: Callable[[dict[str, Work]], dict[str, Host]] | None = None,
    ) -> None:
        self.store = store
        self.hosts = hosts
        self.works = works
        self.work_timeout = work_timeout
        self.live = live
        self.stats = {name: WorkStats() for name in works}
        #: The status of the call whose failure is propagating, if one is.
        self.failure_status: str | None = None
        #: Set when a host reported something or a call ended: the loop wakes up.
        self.changed = threading.Event()
        self._launch = launch
        #: Finds Works that appeared under the Flow and adds them (set by the App).
        self.discover: Callable[[], None] | None = None
        self._events: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._seq = itertools.count(1)

    def bind(self) -> None:
        """Make the Works' ``run`` calls go through this runtime."""
        for name, work in self.works.items():
            work.__dict__.update(_pk_runtime=self, _pk_name=name, _pk_pending=None)
        if self.live:
            _active.append(self)

    def unbind(self) -> None:
        """Make the Works plain objects again."""
        if self in _active:
            _active.remove(self)
        for work in self.works.values():
            for key in ("_pk_runtime", "_pk_pending"):
                work.__dict__.pop(key, None)

    def adopt(self, work: Work) -> bool:
        """Bind a Work created while the Flow runs, once it hangs under the Flow."""
        if self.discover is not None:
            self.discover()
        return work.__dict__.get("_pk_runtime") is self

    def add(self, works: dict[str, Work]) -> None:
        """Take on Works that appeared under the Flow while it ran; their hosts start now."""
        for name, work in works.items():
            self.works[name] = work
            self.stats[name] = WorkStats()
            work.__dict__.update(_pk_runtime=self, _pk_name=name, _pk_pending=None)
        self._host_for({name: w for name, w in works.items() if w.start_with_flow})

    def _host_for(self, works: dict[str, Work]) -> None:
        missing = {name: work for name, work in works.items() if name not in self.hosts}
        if missing and self._launch is not None:
            self.hosts.update(self._launch(missing))

    def on_event(self, name: str, message: Any) -> None:
        """A host's report about Work ``name`` (any thread): applied at the next `poll`."""
        self._events.put((name, message))
        self.changed.set()

    def busy(self) -> bool:
        """True while a parallel call is in flight."""
        return any(w.__dict__.get("_pk_pending") is not None for w in self.works.values())

    def poll(self) -> bool:
        """Apply what hosts reported and finish parallel calls that ended; True if any did."""
        self.changed.clear()
        moved = False
        # Which calls ended is decided before the reports are read: what a host said
        # before a call's outcome is then applied before the outcome.
        ended: list[tuple[str, Work, _Pending]] = []
        for name, work in list(self.works.items()):
            pending = work.__dict__.get("_pk_pending")
            if pending is not None and _ended(pending):
                ended.append((name, work, pending))
        while True:
            try:
                name, message = self._events.get_nowait()
            except queue.Empty:
                break
            moved = self._apply_event(name, message) or moved
        for name, work, done in ended:
            if work.__dict__.get("_pk_pending") is done:
                work.__dict__["_pk_pending"] = None
                self._finish(name, work, done)
                moved = True
        return moved

    def _apply_event(self, name: str, message: Any) -> bool:
        stats = self.stats.get(name)
        work = self.works.get(name)
        if stats is None or work is None:
            return False
        if stats.running is None or message.seq != stats.running.seq:
            # A failed call's outcome carries no state: what it set before it failed
            # still reaches the Flow, as in Lightning, even when reported late.
            if isinstance(message, StateUpdate) and message.seq == stats.failed_seq:
                apply_state(work, message.state, None)
                return True
            return False  # about a call that already ended
        if isinstance(message, Status):
            _set_stage(work, WorkStageStatus.RUNNING)
        elif isinstance(message, StateUpdate):
            apply_state(work, message.state, None)
        return True

    def call(self, work: Work, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Run ``work`` with these arguments where it lives (or skip a cached call)."""
        name = work.__dict__["_pk_name"]
        stats = self.stats[name]
        if stats.stopped:
            return
        ends_iteration = self.live and not work.parallel
        if self.live and work.__dict__.get("_pk_pending") is not None:
            if ends_iteration:
                raise CallPending(name)
            return
        self.wait(work)
        encoded = _encode(name, args, kwargs, self.store)
        key = call_key(encoded)
        if self.live:
            if stats.returned == key:
                stats.returned = None  # an uncached call returns once
                return
            if stats.failed_key == key:
                return
        if work.cache_calls and key in stats.keys:
            return
        self._host_for({name: work})
        state = work_state(name, work, self.store)
        limit = work.timeout if work.timeout is not None else self.work_timeout
        call = Call(next(self._seq), state, encoded, limit)
        deadline = time.monotonic() + limit if limit is not None else None
        inputs = digest_map(_by_name(work, encoded))
        pending = _Pending(Future(), key, set(state), call.seq, now(), inputs, limit, deadline)
        stats.running = pending  # before submitting: an inline call runs within submit()
        stats.calls += 1
        stats.returned = stats.failed_key = stats.failed_seq = None
        work.__dict__["_pk_statuses"] = [make_status(WorkStageStatus.PENDING)]
        background = work.parallel or self.live
        pending.future = self.hosts[name].submit(call, background)
        if background:
            work.__dict__["_pk_pending"] = pending
            pending.future.add_done_callback(lambda _: self.changed.set())
            if ends_iteration:
                raise CallPending(name)
            return
        self._finish(name, work, pending)

    def wait(self, work: Work, reading: bool = False) -> None:
        """Wait for ``work``'s parallel run, if one is going, and take its state.

        In the live model, reading never waits: the Flow sees the state published so far.
        """
        pending = work.__dict__.get("_pk_pending")
        if pending is None or (reading and self.live):
            return
        work.__dict__["_pk_pending"] = None
        self._finish(work.__dict__["_pk_name"], work, pending)

    def wait_all(self) -> None:
        """Wait for every parallel run still going; raise the first error."""
        for work in list(self.works.values()):
            self.wait(work)

    def start_work(self, work: Work) -> None:
        """Start ``work``'s host without a call; its status becomes ``started``."""
        name = work.__dict__["_pk_name"]
        self._host_for({name: work})
        if not work.has_started:
            work.__dict__["_pk_statuses"] = [make_status(WorkStageStatus.STARTED)]

    def stop_work(self, work: Work) -> None:
        """End ``work``'s worker (a call in flight is dropped); later calls are ignored."""
        name = work.__dict__["_pk_name"]
        stats = self.stats[name]
        if stats.stopped:
            return
        stats.stopped = True
        work.__dict__["_pk_pending"] = None
        host = self.hosts.pop(name, None)
        if stats.running is not None:
            seq = stats.running.seq
            reason = "the Flow stopped the Work while this call ran"
            self._note(stats, Outcome(seq, status=INTERRUPTED), reason)
            if host is not None and not getattr(host, "stop_ends_calls", False):
                host.cancel(seq)  # what runs the call goes (a Dask worker is restarted)
        if host is not None:
            host.stop()
        statuses = list(work.__dict__.get("_pk_statuses", ()))
        statuses.append(make_status(WorkStageStatus.STOPPED))
        work.__dict__["_pk_statuses"] = statuses

    def interrupt(self, reason: str) -> None:
        """Record every call still running as interrupted (the App is stopping)."""
        for stats in self.stats.values():
            if stats.running is not None:
                self._note(stats, Outcome(stats.running.seq, status=INTERRUPTED), reason)

    def _finish(self, name: str, work: Work, pending: _Pending) -> None:
        outcome = self._result(name, pending)
        stats = self.stats[name]
        if stats.running is None or stats.running.seq != pending.seq:
            return  # the Work was stopped meanwhile
        if not outcome.succeeded:
            self._note(stats, outcome, outcome.error_text)
            reason = _REASONS.get(outcome.status)
            _set_stage(work, WorkStageStatus.FAILED, _message(outcome), reason)
            if self.live:
                stats.failed_key, stats.failed_seq = pending.key, pending.seq
            if not work.raise_exception:
                return
            self.failure_status = outcome.status
            outcome.raise_for(name)
        assert outcome.state is not None
        apply_state(work, outcome.state, pending.state_keys)
        self._note(stats, outcome, None)
        _set_stage(work, WorkStageStatus.SUCCEEDED)
        stats.keys.add(pending.key)
        if self.live and not work.parallel:
            stats.returned = pending.key

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


#: The reason recorded in a failed status, by how the call ended.
_REASONS = {
    FAILED: WorkFailureReasons.USER_EXCEPTION,
    TIMED_OUT: WorkFailureReasons.TIMEOUT,
    KILLED: WorkFailureReasons.KILLED,
}


def _message(outcome: Outcome) -> str:
    """The failure's message as Lightning gives it: the exception's text, without its type."""
    if outcome.status == FAILED and ": " in outcome.error_text:
        return outcome.error_text.split(": ", 1)[1]
    return outcome.error_text


def _ended(pending: _Pending) -> bool:
    """True when a parallel call's outcome is in, or its time limit has passed."""
    if pending.future.done():
        return True
    return pending.deadline is not None and time.monotonic() >= pending.deadline


def _set_stage(
    work: Work, stage: str, message: str | None = None, reason: str | None = None
) -> None:
    """Add a status to ``work``'s latest call."""
    statuses = list(work.__dict__.get("_pk_statuses", ()))
    statuses.append(make_status(stage, message, reason))
    work.__dict__["_pk_statuses"] = statuses


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
    names = _positional_names(type(work).run)
    return [names[i] if i < len(names) else str(i) for i in range(count)]


@functools.lru_cache(maxsize=1024)
def _positional_names(run: Any) -> tuple[str, ...]:
    """The names of ``run``'s positional parameters after ``self`` (inspect.signature is
    slow enough to show on every call of a Work: computed once per function)."""
    try:
        parameters = list(inspect.signature(run).parameters.values())[1:]
    except (TypeError, ValueError):
        parameters = []
    return tuple(
        p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    )
