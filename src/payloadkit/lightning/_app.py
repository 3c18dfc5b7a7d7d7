"""LightningApp: an App that loops over its root Flow, as Lightning's does."""

from __future__ import annotations

import os
from typing import Any

from payloadkit.app import App, Flow, Work
from payloadkit.app._flow import works_of
from payloadkit.app._status import WorkStageStatus, make_status
from payloadkit.lightning._errors import LightningTypeError
from payloadkit.lightning._flow import LightningFlow
from payloadkit.lightning._ignored import ignore
from payloadkit.stores import Store

__all__ = ["LightningApp"]


class _RootFlow(LightningFlow):
    """The Flow Lightning puts around a Work given as an App's root: it runs the Work."""

    def __init__(self, work: Work) -> None:
        super().__init__()
        self.work = work

    def run(self) -> None:
        self.work.run()


class LightningApp(App):
    """Lightning's LightningApp: building it runs nothing; `run` (or ``payloadkit run
    FILE``) calls the root Flow's ``run()`` in a loop until it calls ``self.stop()``, a Work
    fails, or nothing changes any more and no Work runs.

    Lightning's own arguments (``info``, ``flow_cloud_compute``, ``log_level``,
    ``root_path``, ...) are accepted and ignored, with one warning. ``storage`` and
    ``executor`` are payloadkit's (see `payloadkit.App`); by default each Work
    runs in its own process, as in Lightning. A Work given as the root is wrapped in a
    Flow that runs it.

    ```python
    import payloadkit.lightning as L

    class Root(L.LightningFlow):
        def run(self):
            self.stop("done")

    app = L.LightningApp(Root())          # nothing runs here
    assert app.executor == "process"
    ```
    """

    def __init__(
        self,
        root: Flow | Work,
        storage: str | os.PathLike[str] | Store | None = None,
        executor: Any = "process",
        **ignored: Any,
    ) -> None:
        storage_options = ignored.pop("storage_options", None)
        work_timeout = ignored.pop("work_timeout", None)
        if isinstance(root, Flow) and type(root).run is Flow.run:
            raise LightningTypeError(
                f"The root flow passed to `LightningApp` does not override the `run()` method "
                f"({type(root).__qualname__}). Define run() in your Flow: the App calls it "
                "again and again."
            )
        flow = _RootFlow(root) if isinstance(root, Work) else root
        super().__init__(
            flow,
            storage,
            executor,
            storage_options=storage_options,
            work_timeout=work_timeout,
            loop=True,
        )
        ignore("LightningApp", ignored)

    def run(self) -> dict[str, Any]:
        """Run the loop (see `payloadkit.App.run`); returns the run record.

        As in Lightning, once the App has ended every Work that was called is
        ``stopped`` (``work.status.stage``); the run record keeps how each Work's
        latest call ended.
        """
        try:
            return super().run()
        finally:
            for work in works_of(self.root).values():
                _mark_stopped(work)

    @property
    def flows(self) -> list[Flow]:
        """The root Flow and every Flow below it."""
        below = getattr(self.root, "flows", {})
        return [self.root, *below.values()]

    def get_component_by_name(self, name: str) -> Any:
        """The Work or Flow called ``name`` (``root``, ``root.a.b``)."""
        if not isinstance(self.root, LightningFlow):
            raise LightningTypeError("get_component_by_name needs a LightningFlow as root.")
        return self.root.get_component_by_name(name)

    @property
    def state(self) -> dict[str, Any]:
        """The root Flow's state in Lightning's form."""
        state = getattr(self.root, "state", None)
        return state if isinstance(state, dict) else {}


def _mark_stopped(work: Work) -> None:
    """Add a ``stopped`` status to a Work a call reached (Lightning's end of an App)."""
    statuses = list(work.__dict__.get("_pk_statuses", ()))
    if not statuses or statuses[-1]["stage"] in (WorkStageStatus.STARTED, WorkStageStatus.STOPPED):
        return
    statuses.append(make_status(WorkStageStatus.STOPPED))
    work.__dict__["_pk_statuses"] = statuses
