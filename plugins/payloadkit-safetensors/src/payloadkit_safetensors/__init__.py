"""payloadkit serializer for safetensors: dicts of arrays in a format that never runs code.

```python
import numpy as np
import payloadkit as pk
from payloadkit_safetensors import TensorDict

store = pk.open_store("memory://safetensors-doc")
weights = {"w": np.ones((2, 3), dtype=np.float32), "b": np.zeros(3, dtype=np.float32)}
ref = store.put(weights, serializer="safetensors")   # a plain dict: chosen by name
assert ref.serializer == "safetensors"
assert store.put(TensorDict(weights)).serializer == "safetensors"   # chosen by type
```
"""

from __future__ import annotations

from payloadkit_safetensors._serializer import SafetensorsSerializer, TensorDict

__all__ = ["SafetensorsSerializer", "TensorDict"]
