"""Signals: an App ends cleanly on SIGTERM and SIGINT, and its workers die with it.

In the App's process, `stop_on_signals` turns SIGTERM, SIGINT and SIGHUP into an
`Interrupted` exception raised in the main thread, so that ``App.run`` stops its
workers and writes the run record (outcome ``"interrupted"``) on its way out, whatever
sent the signal (Ctrl-C, ``kill``, ``timeout``, systemd, Docker, a batch scheduler).

In a worker process, `die_with_parent` makes sure the worker and everything its
Work started end when the App's process ends, even by SIGKILL: the worker leads its own
process group; the kernel sends it SIGTERM when its parent dies (``PR_SET_PDEATHSIG`` on
Linux); a watchdog thread notices a new parent process elsewhere; either way the whole
group is killed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from types import FrameType

__all__ = ["Interrupted", "die_with_parent", "hold_signals", "kill_group", "stop_on_signals"]

_APP_SIGNALS = ("SIGTERM", "SIGINT", "SIGHUP")
_PR_SET_PDEATHSIG = 1
_WATCH_EVERY = 0.5


class Interrupted(KeyboardInterrupt):
    """The App's process received ``signum``; ``App.run`` stops and records the run."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"the App received {signal.Signals(signum).name}")


_holding = threading.local()


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    if getattr(_holding, "depth", 0):
        return  # the App is already stopping: let it finish its cleanup
    raise Interrupted(signum)


@contextlib.contextmanager
def hold_signals() -> Iterator[None]:
    """Within the block, the App's signals do not raise (its cleanup is not cut short)."""
    _holding.depth = getattr(_holding, "depth", 0) + 1
    try:
        yield
    finally:
        _holding.depth -= 1


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGTERM, SIGINT and SIGHUP raise `Interrupted`.

    Only the main thread can install signal handlers; elsewhere the block changes nothing.
    The previous handlers are back when the block ends.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for name in _APP_SIGNALS:
        number = getattr(signal, name, None)
        if number is not None:
            previous[number] = signal.signal(number, _raise_interrupted)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def kill_group(pid: int) -> None:
    """SIGKILL the process group ``pid`` leads (a worker and its Work's children)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def die_with_parent(parent: int) -> None:
    """End this process's group when process ``parent`` is gone (called by a worker)."""
    signal.signal(signal.SIGTERM, _end_group)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request above was made
        _end_group(signal.SIGTERM, None)
    watchdog = threading.Thread(target=_watch, args=(parent,), name="parent-watch", daemon=True)
    watchdog.start()


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_WATCH_EVERY)
    _end_group(signal.SIGTERM, None)


def _end_group(signum: int, frame: FrameType | None) -> None:
    """Kill this worker's whole process group (when it leads one), this process included."""
    if os.getpgrp() == os.getpid():
        kill_group(os.getpid())
    os._exit(128 + signum)
