"""How an App drives its root Flow: once (payloadkit's model) or in a loop (Lightning's).

In the loop, each iteration applies what the Works reported (status, live state, ended
calls), then calls the root Flow's ``run()``. As in Lightning, a call to a non-parallel
Work sends the call and ends the iteration there (`CallPending`); the iterations that
follow see the Work pending and running, and the call returns once the run ended. The
loop ends when the Flow calls ``stop()``, when a Work fails (its error propagates), or
when an iteration changed nothing (no state of any Flow or Work, no status, no call)
while no call is in flight and no Flow waits for a scheduled moment: then nothing could
change any more. Between iterations the loop waits for a Work's report, at most
`INTERVAL` seconds, so it never spins.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

from payloadkit._payload import Payload
from payloadkit.app._flow import Flow
from payloadkit.app._runtime import Runtime
from payloadkit.app._status import CallPending, StopApp
from payloadkit.app._work import Work

__all__ = ["INTERVAL", "drive"]

#: The longest wait between two iterations of the loop, in seconds.
INTERVAL = 0.1
#: The wait after an iteration that changed something: just enough not to spin.
_BREATH = 0.005


def drive(root: Flow, runtime: Runtime, loop: bool) -> str | None:
    """Run ``root`` once or in a loop; the message of its ``stop()``, if it stopped."""
    try:
        if not loop:
            root.run()
            runtime.wait_all()
            return None
        _loop(root, runtime)
        return None
    except StopApp as stop:
        if stop.message:
            print(stop.message, flush=True)
        return stop.message


def _loop(root: Flow, runtime: Runtime) -> None:
    while True:
        moved = runtime.poll()
        before = fingerprint(root)
        # A non-parallel Work's call in flight ends the iteration: the next one sees it.
        with contextlib.suppress(CallPending):
            root.run()
        if runtime.discover is not None:
            runtime.discover()
        changed = moved or fingerprint(root) != before
        if not changed and not runtime.busy() and not _waiting(root) and not runtime.poll():
            return
        runtime.changed.wait(_BREATH if changed else INTERVAL)


def _waiting(root: Flow) -> bool:
    """True when a Flow waits for time to pass (a ``schedule``): the loop goes on."""
    for _, node in _components(root, "root"):
        waiting = getattr(node, "_pk_waiting", None)
        if callable(waiting) and waiting():
            return True
    return False


def fingerprint(root: Flow) -> str:
    """A text that changes whenever the state of a Flow or Work under ``root`` does."""
    parts = [[path, _public(node), _statuses(node)] for path, node in _components(root, "root")]
    return json.dumps(parts, default=_token, sort_keys=True)


def _components(node: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(node, Work | Flow):
        yield path, node
        if isinstance(node, Work):
            return
        for name, value in vars(node).items():
            if not name.startswith("_"):
                yield from _components(value, f"{path}.{name}")
    elif isinstance(node, list | tuple):
        for index, value in enumerate(node):
            yield from _components(value, f"{path}.{index}")
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _components(value, f"{path}.{key}")


def _public(node: Any) -> dict[str, Any]:
    return {
        name: value
        for name, value in vars(node).items()
        if not name.startswith("_") and not _holds_components(value)
    }


def _holds_components(value: Any) -> bool:
    if isinstance(value, Work | Flow):
        return True
    if isinstance(value, list | tuple):
        return any(isinstance(item, Work | Flow) for item in value)
    if isinstance(value, dict):
        return any(isinstance(item, Work | Flow) for item in value.values())
    return False


def _statuses(node: Any) -> Any:
    statuses = node.__dict__.get("_pk_statuses", [])
    return [(s["stage"], s["timestamp"]) for s in statuses]


def _token(value: Any) -> Any:
    """How a non-JSON value shows in the fingerprint: payloads by digest, others by repr."""
    if isinstance(value, Payload):
        return value.ref.digest if value.ref is not None else f"unsaved:{id(value)}"
    return f"{type(value).__qualname__}:{value!r}"
