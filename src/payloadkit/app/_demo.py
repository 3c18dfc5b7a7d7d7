"""The demo app of ``payloadkit demo``: a DataFrame handed from one worker process to another.

``SourceWork`` builds a DataFrame and puts it in its state as a Payload; the Flow passes
that Payload to ``DestinationWork``, which runs in another process, loads its copy from
the store and prints it. Both record when they held the frame, so the hand-over time
(source has the frame -> destination holds its copy) can be printed.
"""

from __future__ import annotations

import os
import time
from typing import Any

from payloadkit._payload import Payload
from payloadkit.app._app import App
from payloadkit.app._flow import Flow
from payloadkit.app._work import Work

__all__ = ["DemoFlow", "DestinationWork", "SourceWork", "demo_app", "demo_missing"]


class SourceWork(Work):
    """Builds a DataFrame of random floats and offers it as a Payload."""

    def __init__(self, rows: int, columns: int, serializer: str | None) -> None:
        super().__init__()
        self.rows, self.columns, self.serializer = rows, columns, serializer
        self.frame: Payload | None = None
        self.pid: int | None = None
        self.handed_at: float | None = None

    def run(self) -> None:
        """Build the frame; the hand-over starts when it is wrapped in a Payload."""
        import numpy as np
        import pandas as pd

        values = np.random.default_rng(0).standard_normal((self.rows, self.columns))
        frame = pd.DataFrame(values, columns=[f"c{i}" for i in range(self.columns)])
        self.pid = os.getpid()
        print(f"src built a DataFrame of {self.rows:,} rows x {self.columns} columns")
        self.handed_at = time.time()
        self.frame = Payload(frame, serializer=self.serializer)


class DestinationWork(Work):
    """Receives the DataFrame in its own process and prints it."""

    def __init__(self) -> None:
        super().__init__()
        self.pid: int | None = None
        self.held_at: float | None = None
        self.shape: list[int] | None = None

    def run(self, frame: Payload) -> None:
        """Load this Work's copy of the frame and show it."""
        data: Any = frame.value
        self.held_at = time.time()
        self.pid = os.getpid()
        self.shape = list(data.shape)
        print("dst received:")
        print(data.head(3).to_string(max_cols=6))


class DemoFlow(Flow):
    """Source, then destination, handing the frame over by reference."""

    def __init__(self, rows: int, columns: int, serializer: str | None) -> None:
        super().__init__()
        self.src = SourceWork(rows, columns, serializer)
        self.dst = DestinationWork()

    def run(self) -> None:
        """Build, then hand over."""
        self.src.run()
        assert self.src.frame is not None
        self.dst.run(self.src.frame)


def demo_app(
    rows: int = 100_000,
    columns: int = 10,
    serializer: str | None = None,
    executor: Any = "process",
    storage: str | None = None,
) -> App:
    """The demo App (default store, process executor unless told otherwise)."""
    return App(DemoFlow(rows, columns, serializer), storage=storage, executor=executor)


def demo_missing(serializer: str | None) -> str | None:
    """What to install before the demo can run, or None: the demo builds a pandas DataFrame
    of numpy values and hands it over in the frame format unless told otherwise. Checked without
    importing those libraries, before any worker starts."""
    from payloadkit._serializers._optional import install_hint, missing_modules

    needed = ["numpy", "pandas"]
    if serializer in ("parquet", "arrow"):
        needed.append("pyarrow")
    missing = missing_modules(needed)
    if not missing:
        return None
    return (
        f"The demo builds a pandas DataFrame and hands it over with "
        f"{serializer or 'the frame format'}; it needs {', '.join(missing)}, which "
        f"{'is' if len(missing) == 1 else 'are'} not installed. Install with: "
        f"{install_hint(missing)}"
    )
