"""The ``safetensors`` serializer: named arrays in a format whose loading runs no code.

A safetensors file is a JSON header (names, dtypes, shapes, offsets) followed by the raw
array bytes, so loading one can never execute code: stores that must not hold pickles
can hold these, and ``runs_code_on_load`` is False (no signature is needed to load).

What it stores: a ``dict`` whose keys are ``str`` and whose values are all plain
``numpy.ndarray`` of a numeric or bool dtype, or all ``torch.Tensor`` (where torch is
installed; it is never required). Anything else raises ``SerializationError``.
Arrays load as C-contiguous, native byte order, writable copies; the dict's key order is
kept. A dict is not claimed by type (that would send every dict here), so the serializer
is chosen by name (``serializer="safetensors"``), per type with
``pk.configure(serializers={...})``, or by wrapping the dict in :class:`TensorDict`,
which it claims.
"""

from __future__ import annotations

import json
from typing import Any

from payloadkit import Serializer
from payloadkit.errors import SerializationError

__all__ = ["SafetensorsSerializer", "TensorDict"]

_MAX_HEADER = 100 * 1024 * 1024  # the limit safetensors itself enforces
_KEYS = "payloadkit.keys"


class TensorDict(dict[str, Any]):
    """A ``dict`` of arrays that payloadkit stores as safetensors by default.

    It loads back as a ``TensorDict``; a plain ``dict`` saved with
    ``serializer="safetensors"`` loads back as a plain ``dict``.
    """


def _framework(key: object, value: object) -> str:
    """``"np"`` or ``"pt"`` for one entry, or SerializationError saying what is wrong."""
    if not isinstance(key, str):
        raise SerializationError(
            f"safetensors keys must be str; got {type(key).__name__} {str(key)[:60]!r}"
        )
    if key == "__metadata__":
        raise SerializationError("the key '__metadata__' is reserved by the safetensors format")
    module = type(value).__module__.split(".")[0]
    if module == "numpy":
        import numpy as np

        if type(value) is np.ndarray:
            return "np"
    if module == "torch":
        import torch  # type: ignore[import-not-found,unused-ignore]  # optional, untyped here

        if isinstance(value, torch.Tensor):
            return "pt"
    raise SerializationError(
        f"safetensors stores numpy arrays or torch tensors; the value of {key[:60]!r} is a "
        f"{type(value).__module__}.{type(value).__qualname__}"
    )


def _check(obj: Any) -> str:
    """The framework of every value of ``obj`` (``"np"`` for an empty dict)."""
    if not isinstance(obj, dict):
        raise SerializationError(
            f"the safetensors serializer stores dicts of arrays, not {type(obj).__name__}"
        )
    frameworks = {_framework(key, value) for key, value in obj.items()}
    if len(frameworks) > 1:
        raise SerializationError(
            "safetensors payloads hold numpy arrays or torch tensors, not both; "
            "convert them to one kind"
        )
    return frameworks.pop() if frameworks else "np"


def _header_metadata(data: memoryview) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors header, after checking its bounds."""
    if data.nbytes < 8:
        raise ValueError("too short to be a safetensors file")
    size = int.from_bytes(data[:8], "little")
    if size > min(_MAX_HEADER, data.nbytes - 8):
        raise ValueError(f"header length {size} does not fit in the {data.nbytes} bytes")
    header = json.loads(bytes(data[8 : 8 + size]))
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(metadata, dict):
        return {}
    return {k: v for k, v in metadata.items() if isinstance(k, str) and isinstance(v, str)}


def _ordered(loaded: dict[str, Any], metadata: dict[str, str]) -> dict[str, Any]:
    """``loaded`` in the key order recorded at save time (when the record is sound)."""
    try:
        keys = json.loads(metadata.get(_KEYS, "null"))
    except ValueError:
        return loaded
    if isinstance(keys, list) and sorted(keys) == sorted(loaded):
        return {key: loaded[key] for key in keys}
    return loaded


class SafetensorsSerializer(Serializer):
    """``dict[str, numpy.ndarray | torch.Tensor]`` <-> safetensors."""

    name = "safetensors"
    version = "1"
    types = ("payloadkit_safetensors.TensorDict",)
    extension = ".safetensors"
    libraries = ("safetensors", "numpy", "torch")
    runs_code_on_load = False

    def dumps(self, obj: Any) -> bytes:
        """The safetensors bytes of a dict of arrays (validated first)."""
        framework = _check(obj)
        metadata = {"format": framework, _KEYS: json.dumps(list(obj))}
        try:
            if framework == "pt":
                from safetensors.torch import save as save_torch

                return save_torch({k: v.contiguous() for k, v in obj.items()}, metadata)
            import numpy as np
            from safetensors.numpy import save as save_numpy

            return save_numpy({k: np.ascontiguousarray(v) for k, v in obj.items()}, metadata)
        except Exception as exc:  # the library's own error type varies across versions
            raise SerializationError(f"safetensors cannot store this dict: {exc}") from exc

    def loads(self, data: memoryview) -> Any:
        """A dict of numpy arrays (or torch tensors, if they were saved) from the bytes."""
        return self.load(data, "builtins.dict")

    def load(self, data: memoryview, type_name: str) -> Any:
        """Like :meth:`loads`, as a :class:`TensorDict` when one was saved."""
        metadata = _header_metadata(data)
        if metadata.get("format") == "pt":
            try:
                from safetensors.torch import load as load_torch
            except ImportError as exc:
                raise ImportError(
                    f"this payload holds torch tensors; install torch to load it ({exc})"
                ) from None
            loaded = load_torch(bytes(data))
        else:
            from safetensors.numpy import load as load_numpy

            loaded = load_numpy(bytes(data))
        ordered = _ordered(loaded, metadata)
        saved_as_tensor_dict = type_name == f"{TensorDict.__module__}.{TensorDict.__qualname__}"
        return TensorDict(ordered) if saved_as_tensor_dict else ordered
