"""The sources and destinations of ``peers.py``, importable by name in every worker process.

Each system builds the same objects (``data.py``) and notes the wall-clock time when the
source has the object and when the destination holds it; both run on this host, so the
two clocks are the same clock.
"""

from __future__ import annotations

import time
from typing import Any

import data
import harness

# numpy and pandas are imported here, so that every worker has them loaded once it has a
# Work or an actor from this module, as a real module of Works handling DataFrames would.
import numpy  # noqa: F401
import pandas  # noqa: F401


def make_object(kind: str, size: int, n: int = 0) -> Any:
    """``frame``: ``size`` rows x 10 float64; ``array``: ``size`` MiB; ``small``: a 1 KB dict."""
    if kind == "frame":
        return data.make_wide_frame(size)
    if kind == "array":
        return data.make_array(size)
    return data.make_small_dict(n)


def make_warm(kind: str, size: int, n: int = 0) -> Any:
    """`make_object`, then memory warmed for what the hand-over allocates (see harness.py:
    on these virtual machines freshly touched memory runs ~17x slower than warm memory).
    Every system's source does this before it notes the time."""
    obj = make_object(kind, size, n)
    if kind != "small":
        harness.touch(3 * (data.frame_nbytes(obj) if kind == "frame" else obj.nbytes))
    return obj


def touch(obj: Any) -> None:
    """What the destination does to hold the object: look at its shape or length."""
    shape = getattr(obj, "shape", None)
    if shape is None:
        len(obj)


# -- Ray ---------------------------------------------------------------------------------------


class RayActor:
    """A Ray actor that makes objects and holds the ones it is handed."""

    def __init__(self) -> None:
        self.t_set = 0.0
        self.n = 0

    def ping(self) -> bool:
        return True

    def make(self, kind: str, size: int) -> Any:
        self.n += 1
        obj = make_warm(kind, size, self.n)
        self.t_set = time.time()
        return obj

    def last_set(self) -> float:
        return self.t_set

    def hold(self, obj: Any) -> float:
        touch(obj)
        return time.time()


# -- Dask --------------------------------------------------------------------------------------

_counter = [0]


def dask_make(kind: str, size: int) -> tuple[float, Any]:
    _counter[0] += 1
    obj = make_warm(kind, size, _counter[0])
    return time.time(), obj


def dask_hold(made: tuple[float, Any]) -> tuple[float, float]:
    t_set, obj = made
    touch(obj)
    return t_set, time.time()


# -- payloadkit --------------------------------------------------------------------------------

try:
    import payloadkit as pk
except ImportError:  # the peers' columns still run
    pk = None

if pk is not None:

    class Source(pk.Work):  # type: ignore[misc, name-defined]
        """Builds the object and sets it as a Payload, noting the time."""

        def __init__(self, kind: str, size: int) -> None:
            super().__init__()
            self.kind, self.size = kind, size
            self.t_set = 0.0
            self.obj: Any = None

        def run(self, n: int) -> None:
            obj = make_warm(self.kind, self.size, n)
            self.t_set = time.time()
            self.obj = pk.Payload(obj)

    class Destination(pk.Work):  # type: ignore[misc, name-defined]
        """Loads each object it is handed, noting how long after it was set."""

        def __init__(self) -> None:
            super().__init__()
            self.elapsed = 0.0

        def run(self, obj: Any, t_set: float) -> None:
            touch(obj.value)
            self.elapsed = time.time() - t_set

    class Handover(pk.Flow):  # type: ignore[misc, name-defined]
        """``count`` hand-overs from the source to the destination."""

        def __init__(self, kind: str, size: int, count: int) -> None:
            super().__init__()
            self.count = count
            self.src = Source(kind, size)
            self.dst = Destination()
            self._times: list[float] = []

        @property
        def times(self) -> list[float]:
            """Seconds of each hand-over, source holding the object to destination holding it."""
            return list(self._times)

        def run(self) -> None:
            for n in range(self.count):
                self.src.run(n)
                self.dst.run(self.src.obj, self.src.t_set)
                self._times.append(self.dst.elapsed)
