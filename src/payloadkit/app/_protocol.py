"""The messages between the Flow's process and the place a Work runs, as named dataclasses.

Every executor speaks this protocol; the process executor sends the messages over its
worker's socket, the Dask executor as actor calls, the inline executor as plain calls.

- `Bootstrap` (Flow -> worker, once): the Work's name, the pickled Work and the
  settings the worker needs (store, options, keys); answered by `Ready`, or by an
  `Outcome` of ``seq`` 0 when the Work cannot be loaded there.
- `Call` (Flow -> worker): one run of the Work, with the Flow's view of its state and
  the arguments; answered first by a `Status` (the call is running, and where) and
  then by exactly one `Outcome`.
- `StateUpdate` (worker -> Flow, while a call runs): public attributes the Work
  set, as JSON (payloads saved first, sent as refs), throttled; the Outcome still carries
  the whole state at the end.
- `Stop` (Flow -> worker): finish; the worker exits after its current call.

Every message sent to the Flow carries the ``seq`` of the call it concerns, so a host
routes it by type and sequence number alone (``match message: case Status(): ...``). A
later message type (live state published by a running Work, a stop asked of one Work)
is one more dataclass here and one more case in each receiver; the existing ones do not
change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import cloudpickle

from payloadkit.app._state import EncodedArgs
from payloadkit.errors import WorkError

__all__ = [
    "FAILED",
    "INTERRUPTED",
    "KILLED",
    "SUCCEEDED",
    "TIMED_OUT",
    "Bootstrap",
    "Call",
    "Message",
    "Outcome",
    "Ready",
    "StateUpdate",
    "Status",
    "Stop",
]

#: How a call ended (also the words of the run record).
SUCCEEDED: Final = "succeeded"
FAILED: Final = "failed"
TIMED_OUT: Final = "timed out"
INTERRUPTED: Final = "interrupted"
KILLED: Final = "killed"


_VERBS = {TIMED_OUT: "timed out", KILLED: "was killed", INTERRUPTED: "was interrupted"}
_REMEDIES = {
    FAILED: "Fix the error in {work}'s run(); the App recorded the call as failed.",
    TIMED_OUT: "Make {work}'s run() finish sooner, or raise its limit (Work(timeout=...), "
    "App(work_timeout=...), --work-timeout); the App recorded the call as timed out.",
    KILLED: "Look for what ended the process (memory, a kill, an exit in the Work's code); "
    "the App recorded the call as killed.",
    INTERRUPTED: "The App was stopping; the App recorded the call as interrupted.",
}


@dataclass(frozen=True)
class Bootstrap:
    """The first message to a worker: which Work it hosts, and how to reach the store."""

    name: str
    work: bytes
    settings: dict[str, Any]


@dataclass(frozen=True)
class Ready:
    """The worker loaded its Work and waits for calls."""

    pid: int


@dataclass(frozen=True)
class Call:
    """One call of a Work's run: the Flow's view of its state, and the arguments."""

    seq: int
    state: dict[str, Any]
    args: EncodedArgs
    #: The call's time limit in seconds (None: none); the Flow's side enforces it.
    timeout: float | None = None


@dataclass(frozen=True)
class Status:
    """Where a call stands: ``stage`` is ``"running"`` once the Work's code has started."""

    seq: int
    stage: str
    pid: int


@dataclass(frozen=True)
class StateUpdate:
    """Attributes a running call set, by name, in their JSON form (payloads as refs)."""

    seq: int
    state: dict[str, Any]


@dataclass(frozen=True)
class Stop:
    """Finish: the worker ends once its current call (if any) is answered."""


@dataclass
class Outcome:
    """What a call produced: the new state, or the error (pickled when possible).

    ``status`` is one of the words above; ``error_text`` and ``traceback`` say what went
    wrong when the call did not succeed.
    """

    seq: int
    state: dict[str, Any] | None = None
    error: bytes | None = None
    error_text: str = ""
    traceback: str = ""
    status: str = FAILED
    output: list[tuple[str, str]] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        """True when the call returned and its state travelled back."""
        return self.state is not None

    def raise_for(self, work: str) -> None:
        """Raise the call's error as a WorkError naming ``work``, the original chained."""
        if self.state is not None:
            return
        original = self.original()
        if isinstance(original, WorkError) and original.work == work:
            raise original  # already names the Work and what to do
        verb = _VERBS.get(self.status, "failed")
        raise WorkError(
            f"Work {work} {verb}: {self.error_text}\n\nRemote traceback:\n{self.traceback}"
            f"\n{_REMEDIES.get(self.status, _REMEDIES[FAILED]).format(work=work)}",
            work=work,
            remote_traceback=self.traceback,
        ) from original

    def original(self) -> BaseException | None:
        """The exception the Work raised, when it travelled back."""
        if self.error is None:
            return None
        try:
            loaded = cloudpickle.loads(self.error)
        except Exception:
            return None
        return loaded if isinstance(loaded, BaseException) else None


#: Any message of the protocol.
Message = Bootstrap | Ready | Call | Status | StateUpdate | Stop | Outcome
