"""Lightning's Payload API on payloadkit: change ``import lightning as L`` and nothing else.

``LightningWork``, ``LightningFlow``, ``LightningApp`` and ``storage.Payload`` behave as in
Lightning's documentation on sharing objects between Works:

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

app = L.LightningApp(Flow())   # runs nothing yet: `payloadkit run app.py` runs it
```

Differences: the root Flow's ``run()`` is called once per run, not in an endless loop,
and ``payloadkit run`` exits when it returns. Constructor arguments about Lightning's
cloud (``cloud_compute``, ``host``, ``port``, build configurations, ...) are accepted and
ignored, with one warning naming them.
"""

from __future__ import annotations

from payloadkit.lightning import storage
from payloadkit.lightning._compat import (
    LightningApp,
    LightningCompatWarning,
    LightningFlow,
    LightningWork,
)

__all__ = ["LightningApp", "LightningCompatWarning", "LightningFlow", "LightningWork", "storage"]
