"""Choosing serializers per type: the defaults, a per-type choice, and an explicit one.

Run it from any directory: it writes a store under ``example-store/`` there.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import payloadkit as pk

store = pk.open_store("example-store")
frame = pd.DataFrame({"city": ["Oslo", "Lima"], "temp": [3.5, 19.0]})
array = np.linspace(0.0, 1.0, 5)

# Defaults by type: DataFrame -> parquet, ndarray -> numpy, anything else -> pickle.
for value in (frame, array, {"threshold": 0.5}):
    print(pk.explain(value))
refs = {name: store.put(value) for name, value in [("frame", frame), ("array", array)]}
assert refs["frame"].serializer == "parquet"
assert refs["array"].serializer == "numpy"

# The stored objects are plain files of their format, readable without payloadkit.
parquet_file = f"{store.url}/{store.info(refs['frame']).object_key}"
assert pd.read_parquet(parquet_file).equals(frame)
assert np.array_equal(np.load(f"{store.url}/{store.info(refs['array']).object_key}"), array)

# A per-type choice: DataFrames as Arrow IPC (zero-copy loads), for this process.
pk.configure(serializers={"pandas.DataFrame": "arrow"})
arrow_ref = store.put(frame)
assert arrow_ref.serializer == "arrow"
assert store.get(arrow_ref).equals(frame)

# An explicit choice for one payload beats everything: readable JSON for a config dict.
config_ref = pk.Payload({"threshold": 0.5, "labels": ["a", "b"]}, serializer="json").save(store)
assert config_ref.serializer == "json"
assert pk.Payload.from_ref(config_ref).value == {"threshold": 0.5, "labels": ["a", "b"]}

for manifest in store.manifests():
    print(f"{manifest.ref.type:<20} {manifest.ref.serializer:<8} {manifest.object_key}")
