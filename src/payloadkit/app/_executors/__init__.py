"""Executors: where Works run. ``open_executor`` turns an App's ``executor=`` into one.

``"inline"`` runs every Work in the Flow's process; ``"process"`` gives each Work its own
worker process; a ``distributed.Client`` or a scheduler address (``"tcp://host:8786"``)
puts each Work in an Actor on a Dask cluster. Dask is imported only for the latter.
"""

from __future__ import annotations

from typing import Any

from payloadkit.app._executors._base import Executor
from payloadkit.errors import ConfigurationError
from payloadkit.stores import Store

__all__ = ["Executor", "open_executor"]

_DASK_SCHEMES = ("tcp://", "tls://", "ucx://", "inproc://", "ws://", "wss://")


def open_executor(
    spec: Any, store: Store, storage_options: dict[str, Any] | None = None
) -> Executor:
    """The executor ``spec`` names, for an App using ``store`` (opened with those options)."""
    if spec == "inline":
        from payloadkit.app._executors._inline import InlineExecutor

        return InlineExecutor(store, storage_options)
    if spec == "process":
        from payloadkit.app._executors._process import ProcessExecutor

        return ProcessExecutor(store, storage_options)
    if (isinstance(spec, str) and spec.startswith(_DASK_SCHEMES)) or _is_dask_client(spec):
        from payloadkit.app._executors._dask import DaskExecutor

        return DaskExecutor(store, spec, storage_options)
    raise ConfigurationError(
        f"Unknown executor {spec!r}. Use 'inline', 'process', a Dask scheduler address "
        "('tcp://host:8786') or a distributed.Client."
    )


def _is_dask_client(spec: object) -> bool:
    return type(spec).__module__.startswith("distributed") and type(spec).__name__ == "Client"
