"""The serializers payloadkit ships, registered through the same path as plugins."""

from __future__ import annotations

#: name -> "module:attribute", loaded on first use exactly like a plugin's entry point.
BUILTIN_SERIALIZERS = {
    "pickle": "payloadkit._serializers._pickle:PickleSerializer",
    "cloudpickle": "payloadkit._serializers._pickle:CloudpickleSerializer",
    "dill": "payloadkit._serializers._pickle:DillSerializer",
    "numpy": "payloadkit._serializers._numpy:NumpySerializer",
    "parquet": "payloadkit._serializers._arrow:ParquetSerializer",
    "arrow": "payloadkit._serializers._arrow:ArrowSerializer",
    "json": "payloadkit._serializers._json:JsonSerializer",
    "frame": "payloadkit._serializers._frame:FrameSerializer",
    "file": "payloadkit._serializers._file:FileSerializer",
}
