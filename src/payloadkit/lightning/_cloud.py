"""Lightning's cloud settings, accepted so that apps import and build; they change nothing.

Locally every Work runs where its executor puts it; what these name (machines, images,
disks) has no meaning in payloadkit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["BuildConfig", "CloudCompute"]


@dataclass
class CloudCompute:
    """Lightning's hardware request for a Work (``CloudCompute("gpu")``); recorded, unused."""

    name: str = "default"
    disk_size: int = 0
    idle_timeout: int | None = None
    shm_size: int | None = 0
    mounts: Any = None
    options: dict[str, Any] = field(default_factory=dict)

    def __init__(self, name: str = "default", **options: Any) -> None:
        self.name = name
        self.disk_size = int(options.pop("disk_size", 0) or 0)
        self.idle_timeout = options.pop("idle_timeout", None)
        self.shm_size = options.pop("shm_size", 0)
        self.mounts = options.pop("mounts", None)
        self.options = options


@dataclass
class BuildConfig:
    """Lightning's environment of a Work (requirements, image); recorded, unused."""

    requirements: list[str] = field(default_factory=list)
    dockerfile: str | None = None
    image: str | None = None

    def on_work_init(self, work: Any, cloud_compute: Any = None) -> None:
        """Lightning's hook when a Work takes this config: nothing to prepare here."""
