"""What every executor provides: a Host per Work, started together, stopped together."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

from payloadkit._urls import protocol_of
from payloadkit.app._runtime import Host
from payloadkit.errors import ConfigurationError
from payloadkit.stores import Store

__all__ = ["Executor", "refuse_memory_store"]


class Executor(ABC):
    """Starts one Host per Work for an App run and stops them all at its end."""

    #: The name recorded in run records: "inline", "process" or "dask".
    kind: ClassVar[str]

    def __init__(self, store: Store, storage_options: dict[str, Any] | None = None) -> None:
        self.store = store
        #: The store's options for workers (None: those configured for its URL).
        self.storage_options = storage_options
        #: Where hosts report a call's Status and StateUpdates, by Work name (set by the App).
        self.on_event: Callable[[str, Any], None] | None = None

    def event(self, name: str, message: Any) -> None:
        """Pass a host's message about Work ``name`` on to the App, if it listens."""
        if self.on_event is not None:
            self.on_event(name, message)

    @abstractmethod
    def start(self, works: dict[str, bytes]) -> dict[str, Host]:
        """Start a Host for each pickled Work, by name."""

    @abstractmethod
    def close(self) -> None:
        """Stop every Host and release what the executor holds; safe to call twice."""


def refuse_memory_store(store: Store, executor: str) -> None:
    """A memory store lives in one process: other processes would not see its payloads."""
    if protocol_of(store.url) == "memory":
        raise ConfigurationError(
            f"The {executor} executor runs Works in other processes, which cannot see the "
            f"memory store {store.url}. Use a local directory or a remote store "
            "(storage='.payloadkit' or 's3://...'), or executor='inline'.",
            store=store.url,
        )
