"""Loading the payloads a call receives concurrently, before its code asks for them.

A Payload built from a ref loads on the first read of ``value``; a Work handed a hundred
payloads that reads them one after another waits for a hundred round trips to the store
in turn. When a call starts, its host gathers the payloads it receives that are not
loaded yet (in its arguments, and in the state attributes the Flow set for this call)
and loads them in the background, a bounded number at a time, while the Work's code
runs. A ``value`` read of a payload still loading waits for that load (the Payload's own
lock); one not reached yet is loaded by the reader itself. Each load is the store's
ordinary ``get``: the bytes are verified against their digest before they are decoded,
and a remote store's bytes go through the verified local cache when it is on. A load that
fails is left to the Work's own read, which raises the store's error with its message.

Prefetching stops at `MAX_BYTES` of payloads a call, and when the call ends, loads not
started are dropped and the running ones are waited for, so nothing loads behind the
next call's back. ``PAYLOADKIT_PREFETCH`` sets how many load at once (``0`` turns
prefetching off; the default is `DEFAULT_CONCURRENCY`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from payloadkit._payload import Payload

__all__ = ["DEFAULT_CONCURRENCY", "MAX_BYTES", "concurrency", "payloads_in", "prefetching"]

#: Loads at once unless ``PAYLOADKIT_PREFETCH`` says otherwise.
DEFAULT_CONCURRENCY = 8
#: Stored bytes prefetched for one call at most; payloads past that load when read.
MAX_BYTES = 4 * 1024**3


def concurrency() -> int:
    """Loads at once, from ``PAYLOADKIT_PREFETCH`` (0: prefetching is off)."""
    text = os.environ.get("PAYLOADKIT_PREFETCH", "").strip()
    if not text:
        return DEFAULT_CONCURRENCY
    try:
        return max(0, int(text))
    except ValueError:
        return DEFAULT_CONCURRENCY


def payloads_in(values: Iterable[Any]) -> list[Payload]:
    """The distinct Payloads not loaded yet in ``values``, lists, tuples and dicts walked."""
    found: dict[int, Payload] = {}
    stack = list(values)
    while stack:
        value = stack.pop()
        if isinstance(value, Payload):
            if not value.is_loaded and value.ref is not None:
                found.setdefault(id(value), value)
        elif isinstance(value, list | tuple):
            stack.extend(value)
        elif isinstance(value, dict):
            stack.extend(value.values())
    return list(reversed(found.values()))


@contextlib.contextmanager
def prefetching(payloads: list[Payload], limit: int | None = None) -> Iterator[None]:
    """Load ``payloads`` in the background, ``limit`` at a time, while the block runs.

    Nothing is started for fewer than two payloads (reading one is no slower than
    prefetching it). At the end of the block, loads not started are cancelled and
    running ones are waited for.
    """
    width = concurrency() if limit is None else limit
    chosen: list[Payload] = []
    budget = MAX_BYTES
    for payload in payloads:
        assert payload.ref is not None
        if payload.ref.size > budget:
            continue
        budget -= payload.ref.size
        chosen.append(payload)
    if width < 1 or len(chosen) < 2:
        yield
        return
    pool = ThreadPoolExecutor(min(width, len(chosen)), thread_name_prefix="payloadkit-prefetch")
    futures: list[Future[None]] = [pool.submit(_load, payload) for payload in chosen]
    try:
        yield
    finally:
        for future in futures:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def _load(payload: Payload) -> None:
    # A failed load leaves the payload unloaded: the Work's own read raises the error.
    with contextlib.suppress(Exception):
        payload.value  # noqa: B018  (the read is the load)
