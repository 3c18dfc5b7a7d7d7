"""The Flow side of one App run: sends calls to hosts, waits, applies state, caches calls."""

from __future__ import annotations

import itertools
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

from payloadkit.app._host import Call, Outcome
from payloadkit.app._state import apply_state, call_key, encode_args, state_of
from payloadkit.app._work import Work
from payloadkit.stores import Store

__all__ = ["Host", "Runtime", "WorkStats"]


class Host(Protocol):
    """An executor's handle on the place one Work runs."""

    def submit(self, call: Call, parallel: bool) -> Future[Outcome]:
        """Start ``call``; the future holds its Outcome."""

    def stop(self) -> None:
        """Stop the Work's worker; the Work cannot run again."""


@dataclass
class WorkStats:
    """What the run record says about one Work."""

    calls: int = 0
    status: str = "not run"
    keys: set[str] = field(default_factory=set)


@dataclass
class _Pending:
    future: Future[Outcome]
    key: str
    state_keys: set[str]


class Runtime:
    """Dispatches the calls of the Works bound to it during one :meth:`App.run`."""

    def __init__(self, store: Store, hosts: dict[str, Host], works: dict[str, Work]) -> None:
        self.store = store
        self.hosts = hosts
        self.works = works
        self.stats = {name: WorkStats() for name in works}
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
        encoded = encode_args(args, kwargs, self.store)
        key = call_key(encoded)
        if work.cache_calls and key in stats.keys:
            return
        state = state_of(work, self.store)
        future = self.hosts[name].submit(Call(next(self._seq), state, encoded), work.parallel)
        stats.calls += 1
        pending = _Pending(future, key, set(state))
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

    def _finish(self, name: str, work: Work, pending: _Pending) -> None:
        outcome = pending.future.result()
        stats = self.stats[name]
        if outcome.state is None:
            stats.status = "failed"
            outcome.raise_for(name)
            return
        apply_state(work, outcome.state, pending.state_keys)
        stats.status = "succeeded"
        stats.keys.add(pending.key)
