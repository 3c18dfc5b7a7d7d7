"""Warming a worker up as it starts, so that its first hand-over runs like the next ones.

The first save or load in a fresh process pays for work done once per process: scanning
the installed distributions for serializer plugins, importing what a serializer imports
lazily (``pyarrow.parquet`` for a DataFrame), reading the library versions recorded in
manifests, starting blake3's thread pool. Left to the first hand-over, that lands inside
the time between one Work setting a payload and the next Work holding it.

A worker does it right after it has the Work, in a background thread, for the serializers
it will probably use (`payloadkit._registry.Registry.likely`: those of the types the
Work's modules imported, and the fallbacks). The worker answers calls at once; a call that
needs a library the warm-up is still importing waits only for the rest of that import
(Python's import locks make both threads share it), and the registry's lock does the same
for the plugin scan. Nothing here changes what a save or load does; a failure is ignored,
because the same failure surfaces, with its proper message, when the serializer is used.
"""

from __future__ import annotations

import contextlib
import sys
import threading

from payloadkit._digest import DEFAULT_ALGORITHM, hash_buffers
from payloadkit._encode import HANDOVER_DEFAULTS
from payloadkit._registry import registry
from payloadkit._serializer import Serializer
from payloadkit.errors import PayloadkitError

__all__ = ["start_warm_up", "warm_up"]

#: Large enough for blake3 to start its thread pool (it hashes 1 MiB and more on every core).
_HASH_WARM_BYTES = 1 << 20


def warm_up() -> None:
    """Scan for plugins and warm each serializer this process will probably use."""
    for serializer in [*registry.likely(), *_hand_over_serializers()]:
        try:
            serializer.warm_up()
        except Exception:  # the same error surfaces, with its message, when it is used
            continue
    hash_buffers([memoryview(bytes(_HASH_WARM_BYTES))], DEFAULT_ALGORITHM, _HASH_WARM_BYTES)


def _hand_over_serializers() -> list[Serializer]:
    """The hand-over formats of types whose module this process has imported."""
    found = []
    for dotted, name in HANDOVER_DEFAULTS.items():
        if dotted.partition(".")[0] in sys.modules:
            with contextlib.suppress(PayloadkitError):
                found.append(registry.get(name))
    return found


def start_warm_up() -> threading.Thread:
    """Run `warm_up` in a daemon thread; returns the thread (joining it is optional)."""
    thread = threading.Thread(target=_warm_up_quietly, name="payloadkit-warm-up", daemon=True)
    thread.start()
    return thread


def _warm_up_quietly() -> None:
    # Warming up is an optimisation: whatever goes wrong here must not reach the worker.
    with contextlib.suppress(Exception):
        warm_up()
