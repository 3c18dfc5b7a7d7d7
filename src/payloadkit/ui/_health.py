"""Health checks run on request in a background thread, with progress a page can poll.

``verify_store`` checks every payload; the job counts the payloads it has checked by
seeing the store through a view that counts its ``read_verified`` calls (the store
itself is untouched). ``collect_garbage(dry_run=True)`` only reports what it would remove.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, cast

from payloadkit._gc import collect_garbage
from payloadkit._layout import parse_key
from payloadkit._maintenance import verify_store
from payloadkit.errors import PayloadkitError
from payloadkit.stores import Store

__all__ = ["HealthJob", "HealthMonitor"]


@dataclass
class HealthJob:
    """One check of the store: ``state`` is running, done or failed."""

    started: float
    state: str = "running"
    checked: int = 0
    total: int = 0
    ended: float | None = None
    verify: dict[str, Any] | None = None
    gc: dict[str, Any] | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form; times are seconds since the epoch."""
        return dict(self.__dict__)


@dataclass
class HealthMonitor:
    """Starts at most one check at a time and keeps the last one's result."""

    store: Store
    job: HealthJob | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> HealthJob:
        """Start a check unless one is running; the running or new job."""
        with self._lock:
            if self.job is not None and self.job.state == "running":
                return self.job
            self.job = HealthJob(started=time.time())
            job = self.job
        threading.Thread(target=self._run, args=(job,), daemon=True).start()
        return job

    def _run(self, job: HealthJob) -> None:
        try:
            job.total = _count_manifests(self.store)
            job.verify = verify_store(_counting(self.store, job)).to_dict()
            job.gc = collect_garbage(self.store, dry_run=True).to_dict()
            job.state = "done"
        except (PayloadkitError, OSError) as exc:
            job.error, job.state = str(exc), "failed"
        finally:
            job.ended = time.time()


def _count_manifests(store: Store) -> int:
    kinds = ("manifest", "legacy-manifest")
    return sum(
        1
        for info in store.backend.list("manifests/")
        if (p := parse_key(info.key)) is not None and p.kind in kinds
    )


def _counting(store: Store, job: HealthJob) -> Store:
    """``store`` seen through a view whose ``read_verified`` counts the payloads checked."""
    return cast(Store, _CountingView(store, job))


class _CountingView:
    """Everything of the store it wraps, with each ``read_verified`` counted in ``job``."""

    def __init__(self, store: Store, job: HealthJob) -> None:
        self._store, self._job = store, job

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def read_verified(self, *args: Any, **kwargs: Any) -> Any:
        """The store's own ``read_verified``, counted."""
        try:
            return self._store.read_verified(*args, **kwargs)
        finally:
            self._job.checked += 1
