"""payloadkit serializer for polars: DataFrames and LazyFrames as plain parquet files.

Installing this distribution is enough: payloadkit discovers the serializer through its
entry point and uses it for every polars ``DataFrame`` and ``LazyFrame``.

```python
import polars as pl
import payloadkit as pk

store = pk.open_store("memory://polars-doc")
ref = store.put(pl.DataFrame({"a": [1, 2]}))
assert ref.serializer == "polars"
assert store.get(ref).equals(pl.DataFrame({"a": [1, 2]}))
```
"""

from __future__ import annotations

from payloadkit_polars._serializer import PolarsSerializer

__all__ = ["PolarsSerializer"]
