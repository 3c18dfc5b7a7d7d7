"""A Work's status as the Flow sees it: Lightning's stages, with time, reason and message.

Each call of a Work goes ``pending`` (sent) -> ``running`` (its code started where the Work
lives) -> ``succeeded`` or ``failed``; ``stopped`` when the Flow stopped the Work, and
``started`` when the Flow started it without a call. A Work no call reached is
``not_started``. The Flow's copy of a Work keeps the statuses of its latest call.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "CallPending",
    "StopApp",
    "WorkFailureReasons",
    "WorkStageStatus",
    "WorkStatus",
    "make_status",
]


class WorkStageStatus:
    """The stages of a Work, spelled as in Lightning."""

    NOT_STARTED: Final = "not_started"
    STARTED: Final = "started"
    STOPPED: Final = "stopped"
    PENDING: Final = "pending"
    RUNNING: Final = "running"
    SUCCEEDED: Final = "succeeded"
    FAILED: Final = "failed"


class WorkFailureReasons:
    """Why a call failed: its code raised, it ran past its limit, or its process ended."""

    USER_EXCEPTION: Final = "user_exception"
    TIMEOUT: Final = "timeout"
    KILLED: Final = "killed"


@dataclass(frozen=True)
class WorkStatus:
    """One status of a Work: ``stage``, when (``timestamp``, seconds since the epoch), and why."""

    stage: str
    timestamp: float
    reason: str | None = None
    message: str | None = None
    count: int = 1


def make_status(
    stage: str, message: str | None = None, reason: str | None = None
) -> dict[str, Any]:
    """A status in its JSON form, stamped now."""
    return {"stage": stage, "timestamp": time.time(), "reason": reason, "message": message}


class StopApp(Exception):
    """Raised by ``Flow.stop(message)``: the App ends its run, succeeded, after this iteration."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class CallPending(BaseException):
    """Raised by a non-parallel Work's ``run`` in the loop while its call is in flight.

    As in Lightning, calling a non-parallel Work from a looping Flow sends the call and
    ends the Flow's iteration there; later iterations see the Work ``pending`` and
    ``running``, and the same call returns once the Work's run has ended. It derives
    from BaseException so that an ``except Exception`` in the Flow does not swallow it.
    """

    def __init__(self, work: str) -> None:
        super().__init__(f"the call of Work {work} is in flight; the loop calls run() again")
        self.work = work
