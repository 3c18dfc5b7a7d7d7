"""Lightning's class names over payloadkit's Work, Flow and App (kept for older imports)."""

from __future__ import annotations

from payloadkit.lightning._app import LightningApp
from payloadkit.lightning._flow import LightningFlow
from payloadkit.lightning._ignored import LightningCompatWarning
from payloadkit.lightning._work import LightningWork

__all__ = ["LightningApp", "LightningCompatWarning", "LightningFlow", "LightningWork"]
