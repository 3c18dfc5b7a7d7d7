"""Lightning's programming model on payloadkit: change ``import lightning as L`` only.

``LightningApp`` calls the root Flow's ``run()`` again and again, as Lightning does,
until the Flow calls ``self.stop()``, a Work fails, or nothing changes any more while no
Work runs. Works run where the App's executor puts them (each in its own process by
default), report their ``status`` (``has_succeeded``, ``is_running``, ...), and parallel
Works publish the state they set while they run. ``storage.Payload``, ``storage.Path``
and ``storage.Drive`` move objects and files between Works through the App's store.

```python
import payloadkit.lightning as L

class SourceWork(L.LightningWork):
    def __init__(self):
        super().__init__()
        self.df = None

    def run(self):
        self.df = L.storage.Payload({"col1": [1, 2]})

class DestinationWork(L.LightningWork):
    def run(self, df: L.storage.Payload):
        print("dst", df.value)

class Flow(L.LightningFlow):
    def __init__(self):
        super().__init__()
        self.src = SourceWork()
        self.dst = DestinationWork()

    def run(self):
        self.src.run()
        self.dst.run(df=self.src.df)
        if self.dst.has_succeeded:
            self.stop("done")

app = L.LightningApp(Flow())   # runs nothing yet: `payloadkit run app.py` runs it
```

Cloud arguments (``cloud_compute``, ``port``, build configurations, ...) are accepted and
ignored, with one warning naming them.
"""

from __future__ import annotations

from payloadkit.app._status import WorkStageStatus, WorkStatus
from payloadkit.lightning import storage, structures
from payloadkit.lightning._app import LightningApp
from payloadkit.lightning._cloud import BuildConfig, CloudCompute
from payloadkit.lightning._errors import (
    LightningFlowException,
    LightningWorkException,
)
from payloadkit.lightning._flow import LightningFlow
from payloadkit.lightning._ignored import LightningCompatWarning
from payloadkit.lightning._work import LightningWork

__all__ = [
    "BuildConfig",
    "CloudCompute",
    "LightningApp",
    "LightningCompatWarning",
    "LightningFlow",
    "LightningFlowException",
    "LightningWork",
    "LightningWorkException",
    "WorkStageStatus",
    "WorkStatus",
    "storage",
    "structures",
]
