"""Timing and memory measurement shared by the benchmark cases.

Two effects dominate naive measurements on small virtual machines, and this module
exists to keep them out of the figures:

* Freed memory goes back to the host within about a second, and touching fresh memory
  afterwards runs an order of magnitude slower than touching warm memory (0.43 GB/s
  against 7.4 GB/s measured on the 2-core VMs these figures come from). A timed phase
  that allocates (a load into a new buffer, an Arrow allocation) would mostly measure
  the hypervisor. :func:`touch` writes to (and frees) a buffer the size of what the
  phase will allocate right before the clock starts, so both sides run on warm memory.
* Other processes share the cores. :func:`compare` interleaves the payloadkit and the
  raw runs (alternating which goes first) and reports medians, so a burst of load hits
  both sides alike and the ratio stays meaningful even when absolute times drift.

Peak memory is measured in a fresh subprocess per case (see :func:`measure_peak`):
the child sets up its data, resets the kernel's high-water mark of resident memory
(``echo 5 > /proc/self/clear_refs``), runs the operation once and reports ``VmHWM``
minus the resident size before the operation. ``VmHWM`` counts every resident page,
including file pages mapped by a zero-copy load, which is what a user's process pays.
Where ``clear_refs`` is not writable, the child falls back to ``ru_maxrss`` after a
setup that stays below the operation's peak, which over-reports nothing but may
under-report a peak smaller than the setup's.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

MIB = 1 << 20
#: The smallest buffer touched before a timed phase.
MIN_TOUCH = 32 * MIB


@contextlib.contextmanager
def environ(**values: str) -> Iterator[None]:
    """Set these environment variables for the block, then restore what was there."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def touch(nbytes: int) -> None:
    """Write every page of a fresh ``nbytes`` buffer and free it, so the memory is warm."""
    import numpy as np

    buffer = np.ones(max(nbytes, MIN_TOUCH) // 8)
    del buffer


@dataclass
class Variant:
    """One side of a comparison: ``run`` is timed; ``reset`` (untimed) undoes its effects."""

    run: Callable[[], object]
    reset: Callable[[], None] = lambda: None


@dataclass
class Samples:
    """Wall-clock seconds of each timed run of both sides."""

    payloadkit: list[float] = field(default_factory=list)
    raw: list[float] = field(default_factory=list)

    @property
    def medians(self) -> tuple[float, float]:
        return statistics.median(self.payloadkit), statistics.median(self.raw)


def _timed(variant: Variant, touch_bytes: int) -> float:
    if touch_bytes:
        touch(touch_bytes)
    gc.collect()
    start = time.perf_counter()
    result = variant.run()
    elapsed = time.perf_counter() - start
    del result
    variant.reset()
    return elapsed


def compare(pk: Variant, raw: Variant, repeat: int, touch_bytes: int, warmup: int = 1) -> Samples:
    """Run both variants ``repeat`` times, interleaved, alternating which goes first."""
    for _ in range(warmup):
        _timed(pk, touch_bytes)
        _timed(raw, touch_bytes)
    samples = Samples()
    for i in range(repeat):
        order = [("payloadkit", pk), ("raw", raw)]
        if i % 2:
            order.reverse()
        for side, variant in order:
            getattr(samples, side).append(_timed(variant, touch_bytes))
    return samples


def child_env() -> dict[str, str]:
    """Environment for subprocesses: they import the same payloadkit as this process."""
    import payloadkit

    src = os.path.dirname(os.path.dirname(os.path.abspath(payloadkit.__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return env


def import_time(module: str) -> float:
    """Seconds to import ``module`` in a fresh interpreter (startup itself excluded)."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=child_env()
    )
    return float(out.stdout.strip())


# -- peak memory ---------------------------------------------------------------------
def _status_kib(field_name: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def peak_during(operation: Callable[[], object]) -> tuple[float, str]:
    """Extra peak resident memory (MiB) while ``operation`` runs, and the method used."""
    gc.collect()
    if _reset_peak():
        before = _status_kib("VmRSS")
        result = operation()
        peak = _status_kib("VmHWM")
        del result
        if before is not None and peak is not None:
            return (peak - before) / 1024, "VmHWM after clear_refs"
    before_max = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = operation()
    after_max = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    del result
    return (after_max - before_max) / 1024, "ru_maxrss delta"


def measure_peak(script: str, args: Sequence[str]) -> dict[str, Any]:
    """Run ``script --child ARGS`` in a fresh interpreter and return the JSON it prints."""
    out = subprocess.run(
        [sys.executable, script, "--child", *args],
        check=True,
        capture_output=True,
        text=True,
        env=child_env(),
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result
