"""Native Works and Flows: uncarriable state raises at assignment, status, stop, loop=True."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import payloadkit as pk
from payloadkit.app._record import stop_message
from payloadkit.errors import WorkError


class Keeps(pk.Work):
    def __init__(self) -> None:
        super().__init__()
        self.result = None

    def run(self) -> None:
        self.result = threading.Lock()


def test_uncarriable_state_raises_at_assignment() -> None:
    """A public attribute that is neither JSON nor a Payload raises naming the attribute."""
    with pytest.raises(WorkError, match="cannot carry its state attribute result"):
        Keeps().run()


class Private(pk.Work):
    def __init__(self) -> None:
        super().__init__()
        self._seen = {1, 2}  # a set: not state, fine in private
        self.count = 0

    def run(self) -> None:
        self.count += 1


def test_private_attributes_take_anything() -> None:
    """Private attributes hold any object; status starts as not started."""
    work = Private()
    assert work.status.stage == "not_started"
    assert work.has_started is False
    work.run()
    assert work.count == 1


class Ticks(pk.Flow):
    def __init__(self) -> None:
        super().__init__()
        self.work = Private()
        self.ticks = 0

    def run(self) -> None:
        self.work.run()  # ends the iterations while its call is in flight
        self.ticks += 1
        if self.work.has_succeeded and self.ticks == 4:
            self.stop("four")


def test_native_app_loops_when_asked(executor: Any, store: pk.Store) -> None:
    """pk.App(loop=True) calls the root Flow until stop(); cached calls run once."""
    app = pk.App(Ticks(), storage=store, executor=executor, loop=True)
    record = app.run()
    root: Any = app.root
    assert root.ticks == 4
    assert root.work.count == 1
    assert stop_message(record) == "four"


def test_native_app_runs_once_by_default(store: pk.Store) -> None:
    """pk.App keeps its run-once model: stop() ends that one run, as succeeded."""
    app = pk.App(Ticks(), storage=store, executor="inline")
    record = app.run()
    assert app.root.ticks == 1  # type: ignore[attr-defined]
    assert record["outcome"] == "succeeded"


def test_stop_outside_an_app_is_refused() -> None:
    """work.stop() outside a running App says only a Flow in an App can stop it."""
    with pytest.raises(WorkError, match="Only a Flow running in an App"):
        Private().stop()
