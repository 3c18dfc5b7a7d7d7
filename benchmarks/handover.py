"""Work-to-Work hand-over of a DataFrame between worker processes.

The source Work builds the frame, notes the time and sets it as a Payload; the
destination Work reads ``.value`` and notes the time it holds the frame. The hand-over is
the difference: saving to the store, the state travelling back to the Flow and on to
the destination, and the load. The Works live in this module (not in ``run.py``) so
that worker processes can import them by name; like any module that defines Works
handling DataFrames, it imports pandas and pyarrow at the top, so a worker has them
loaded once it has the Work. What payloadkit does once per process (the plugin scan,
importing ``pyarrow.parquet``, reading library versions) a worker does at its start, in
the background (``payloadkit.app._warmup``), while the source builds its frame; whatever
of it is not done by the time the frame is set counts in the measured time. The by-hand
round trip runs in this long-lived process, whose memory allocators are already warm.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from typing import Any

import data
import harness


def app_available() -> bool:
    """True when this payloadkit has the Work/Flow/App layer."""
    return importlib.util.find_spec("payloadkit.app") is not None


if app_available():
    # Module-level classes, so that worker processes import the Works by reference.
    import pandas  # noqa: F401  (see the module docstring)
    import pyarrow  # noqa: F401

    import payloadkit as pk

    class Source(pk.Work):  # type: ignore[misc, name-defined]
        """Builds the frame and sets it as a Payload, noting the time."""

        def __init__(self, rows: int, serializer: str) -> None:
            super().__init__()
            self.rows = rows
            self.serializer = serializer
            self.t_set = 0.0
            self.df = None

        def run(self) -> None:
            frame = data.make_wide_frame(self.rows)
            harness.touch(4 * data.frame_nbytes(frame))  # warm memory, as before by-hand runs
            self.t_set = time.time()
            self.df = pk.Payload(frame, serializer=self.serializer)

    class Destination(pk.Work):  # type: ignore[misc, name-defined]
        """Loads the frame, noting the time it holds it."""

        def __init__(self) -> None:
            super().__init__()
            self.t_held = 0.0
            self.shape: list[int] = []

        def run(self, df: Any) -> None:
            value = df.value
            self.t_held = time.time()
            self.shape = list(value.shape)

    class Main(pk.Flow):  # type: ignore[misc, name-defined]
        """Runs the source, then hands its payload to the destination."""

        def __init__(self, rows: int, serializer: str) -> None:
            super().__init__()
            self.src = Source(rows, serializer)
            self.dst = Destination()

        def run(self) -> None:
            self.src.run()
            self.dst.run(df=self.src.df)


def handover_seconds(rows: int, serializer: str, storage: str) -> float:
    """Seconds from the source setting the frame to the destination holding it."""
    import payloadkit as pk

    here = os.path.dirname(os.path.abspath(__file__))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (here, *sys.path, os.environ.get("PYTHONPATH")) if p
    )
    flow = Main(rows, serializer)
    pk.App(flow, storage=storage, executor="process").run()
    if flow.dst.shape != [rows, 10]:
        raise RuntimeError(f"the destination received a frame of shape {flow.dst.shape}")
    return float(flow.dst.t_held - flow.src.t_set)


def by_hand_seconds(rows: int, path: str, serializer: str) -> float:
    """The same serializer's round trip done by hand, to a file."""
    import pandas as pd

    frame = data.make_wide_frame(rows)
    start = time.perf_counter()
    if serializer == "parquet":
        frame.to_parquet(path)
        pd.read_parquet(path)
    else:
        frame.to_feather(path)
        pd.read_feather(path)
    elapsed = time.perf_counter() - start
    os.unlink(path)
    return elapsed


def measure(
    rows: int, serializer: str, workdir: str, repeat: int
) -> tuple[list[float], list[float]]:
    """Interleaved hand-over and by-hand samples."""
    pk_times: list[float] = []
    raw_times: list[float] = []
    for i in range(repeat):
        harness.touch(4 * rows * 80)
        storage = os.path.join(workdir, f"handover-{serializer}-{i}")
        pk_times.append(handover_seconds(rows, serializer, storage))
        harness.touch(4 * rows * 80)
        raw_times.append(by_hand_seconds(rows, os.path.join(workdir, "handover.file"), serializer))
    return pk_times, raw_times
