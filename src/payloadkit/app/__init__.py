"""Works, Flows and Apps: units of work that hand payloads to each other through a store.

A `Work` holds state (its public JSON and Payload attributes) and runs your code;
a `Flow` holds Works and calls them; an `App` runs the root Flow on an
executor (inline, worker processes, or Dask) and records each run in the store.
"""

from __future__ import annotations

from payloadkit.app._app import App
from payloadkit.app._flow import Flow
from payloadkit.app._work import Work

__all__ = ["App", "Flow", "Work"]
