"""Where a Work runs: the object kept between its runs, and how it answers a call.

Every executor keeps one `WorkHost` per Work (in the Flow's process, in a worker
process, or in a Dask actor). The Flow sends it a `Call`
holding the Work's state and the run's arguments as JSON (payloads as refs); the host sets
the state, runs the Work's code, and answers with an
`Outcome` holding the new state, payloads already saved
to the App's store. The payloads a call receives load in the background, a few at a
time, while the Work's code runs (`payloadkit._prefetch`). Whatever the Work's code raises, ``SystemExit`` and
``KeyboardInterrupt`` included, becomes a failed Outcome: only the App's own
`Interrupted` goes through.
"""

from __future__ import annotations

import copy
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

import cloudpickle

from payloadkit._config import configure, generation, settings
from payloadkit._prefetch import payloads_in, prefetching
from payloadkit._registry import registry
from payloadkit._signing import Keyring
from payloadkit.app._live import Publisher
from payloadkit.app._protocol import FAILED, SUCCEEDED, Call, Outcome, StateUpdate, Status
from payloadkit.app._signals import Interrupted
from payloadkit.app._state import apply_state, decode_args, taking_files, work_state
from payloadkit.app._travel import dumps
from payloadkit.app._work import Work
from payloadkit.errors import WorkError
from payloadkit.stores import Store
from payloadkit.stores._opened import store_for_url

__all__ = ["WorkHost", "apply_settings", "failure", "settings_for"]


#: Where a host sends what it says while a call runs (Status, StateUpdate).
Events = Callable[[Status | StateUpdate], None]


class WorkHost:
    """Keeps a Work object where it runs and executes calls on it, one at a time.

    With ``events``, each call is announced (a ``Status`` of stage ``running``) and the
    attributes it sets are published while it runs (``StateUpdate``, see
    `payloadkit.app._live`).
    """

    def __init__(
        self, name: str, work: bytes | Work, store: Store, events: Events | None = None
    ) -> None:
        self.name = name
        self.work: Work = cloudpickle.loads(work) if isinstance(work, bytes) else work
        self.store = store
        self.events = events

    def execute(self, call: Call) -> Outcome:
        """Set the state, run, and return the new state (or the error)."""
        publisher = None
        try:
            held = {id(p) for p in payloads_in(_public(self.work))}
            apply_state(self.work, call.state, None)
            args, kwargs = decode_args(call.args)
            _arrive([*args, *kwargs.values()])
            # What the call receives loads in the background while it runs (see _prefetch).
            given = [p for p in payloads_in(_public(self.work)) if id(p) not in held]
            incoming = payloads_in([*args, *kwargs.values()]) + given
            if self.events is not None:
                self.events(Status(call.seq, "running", os.getpid()))
                publisher = Publisher(self.work, call.seq, self.store, self.events)
                self.work.__dict__["_pk_publish"] = publisher
            with prefetching(incoming):
                self._returned(self.work.run(*args, **kwargs))
            with taking_files():
                state = work_state(self.name, self.work, self.store)
            return Outcome(call.seq, state=state, status=SUCCEEDED)
        except Interrupted:
            raise
        except BaseException as exc:  # SystemExit and KeyboardInterrupt end the call only
            return failure(call.seq, exc)
        finally:
            if publisher is not None:
                publisher.close()
                self.work.__dict__.pop("_pk_publish", None)

    def _returned(self, result: Any) -> None:
        """Lightning's rule: results travel through state, so a Work's run returns None."""
        if result is not None and getattr(self.work, "_pk_returns_none", False):
            raise WorkError(
                f"Work {self.name} returned {type(result).__qualname__} {str(result)[:80]!r} "
                "from run(), but a Work's run must return None: results travel through its "
                "state. Set an attribute instead (self.result = L.storage.Payload(value)).",
                work=self.name,
            )


def _public(work: Work) -> list[Any]:
    """The values of a Work's public attributes (where its state lives)."""
    return [value for name, value in vars(work).items() if not name.startswith("_")]


def _arrive(values: list[Any]) -> None:
    """Let arguments that stand for files (``L.storage.Path``) put them in place first."""
    for value in values:
        arrive = getattr(value, "_pk_arrive", None)
        if callable(arrive) and not isinstance(value, type):
            arrive()


def failure(seq: int, exc: BaseException, status: str = FAILED) -> Outcome:
    """An Outcome carrying ``exc``, its traceback, and the exception itself when it pickles."""
    text = "".join(traceback.format_exception(exc))
    try:
        error: bytes | None = dumps(exc)
    except Exception:
        error = None
    return Outcome(
        seq,
        error=error,
        error_text=f"{type(exc).__name__}: {exc}",
        traceback=text,
        status=status,
    )


def settings_for(store: Store, storage_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a worker needs to act like this process for ``store``: URL, options, keys, policy.

    ``storage_options`` default to those the store object was opened with (an App given
    ``pk.open_store(url, key=..., ...)``), else those configured for the store's URL. The
    settings are pickled by value (serializer choices may name classes of the app's own
    file). They hold credentials and keys: they go only through a worker's start channel
    or a Dask task, never into a store, a log or an error message.
    """
    current = settings()
    options = storage_options
    if options is None:
        options = _opened_with(store) or current.options_for(store.url)
    chosen = {
        "storage": store.url,
        "storage_options": dict(options),
        # The keys travel as bytes over the worker's private socket; a Keyring never pickles.
        "keys": current.keyring.export_keys() if current.keyring is not None else None,
        "trusted_serializers": current.trusted_serializers,
        "durable": current.durable,
        "serializers": registry.user_choices(),
        "compression": current.compression.given,
    }
    return {"sys_path": list(sys.path), "settings": dumps(chosen)}


def _opened_with(store: Store) -> dict[str, Any]:
    """The storage options an fsspec-backed store was opened with (fsspec keeps them)."""
    options = getattr(getattr(store, "fs", None), "storage_options", None)
    return dict(options) if isinstance(options, dict) else {}


#: The settings last applied in this process, the configuration generation they made,
#: and a snapshot of the settings object they left.
_applied: tuple[bytes, int, tuple[Any, ...]] | None = None


def _snapshot(current: Any) -> tuple[Any, ...]:
    """What a Work's code could have changed in the settings without `configure`."""
    return (
        current.storage,
        copy.deepcopy(current.storage_options),
        id(current.keyring),
        current.trusted_serializers,
        current.durable,
    )


def apply_settings(blob: dict[str, Any]) -> Store:
    """Configure this (worker) process from `settings_for`'s output; returns the store.

    A Dask worker hosts many Works of one App, each applying the same settings: when
    nothing was configured since the same settings were applied, the stores opened then
    are kept (reopening an S3 store reads its marker again).
    """
    global _applied
    for entry in reversed(blob["sys_path"]):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    if _applied is not None:
        same, made, snapshot = _applied
        if same == blob["settings"] and made == generation() and snapshot == _snapshot(settings()):
            return store_for_url(settings().storage)
    chosen = cloudpickle.loads(blob["settings"])
    configure(
        reset=True,
        storage=chosen["storage"],
        storage_options=chosen["storage_options"] or None,
        durable=chosen["durable"],
        serializers=chosen["serializers"],
        compression=chosen.get("compression") or None,
    )
    current = settings()
    current.keyring = Keyring(chosen["keys"]) if chosen["keys"] else None
    current.trusted_serializers = chosen["trusted_serializers"]
    _applied = (blob["settings"], generation(), _snapshot(current))
    return store_for_url(chosen["storage"])
