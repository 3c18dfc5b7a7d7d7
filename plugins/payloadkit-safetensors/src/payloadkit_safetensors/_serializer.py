"""The ``safetensors`` serializer: named arrays in a format whose loading runs no code.

A safetensors file is a JSON header (names, dtypes, shapes, offsets) followed by the raw
array bytes, so loading one can never execute code: stores that must not hold pickles
can hold these, and ``runs_code_on_load`` is False (no signature is needed to load).

What it stores: a ``dict`` whose keys are ``str`` and whose values are all plain
``numpy.ndarray`` of a numeric or bool dtype, or all ``torch.Tensor`` (where torch is
installed; it is never required). Anything else raises ``SerializationError``.
Saving uses safetensors' own file writer; loading parses the header strictly and returns
arrays that are views of the verified bytes (copy-on-write in local stores, so writable
and independent of the store) in native byte order; the dict's key order is kept. A dict is not claimed by type (that would send every dict here), so the serializer
is chosen by name (``serializer="safetensors"``), per type with
``pk.configure(serializers={...})``, or by wrapping the dict in :class:`TensorDict`,
which it claims.
"""

from __future__ import annotations

import json
from typing import Any

from payloadkit import Serializer
from payloadkit.errors import SerializationError
from payloadkit_safetensors._format import numpy_arrays, read_header

__all__ = ["SafetensorsSerializer", "TensorDict"]

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

    writes_files = True

    def dump_file(self, obj: Any, path: str) -> None:
        """Write the dict to ``path`` with safetensors' own file writer."""
        tensors, metadata, framework = _prepare(obj)
        try:
            if framework == "pt":
                from safetensors.torch import save_file as save_torch

                save_torch(tensors, path, metadata)
            else:
                from safetensors.numpy import save_file as save_numpy

                save_numpy(tensors, path, metadata)
        except Exception as exc:  # the library's own error type varies across versions
            raise SerializationError(f"safetensors cannot store this dict: {exc}") from exc

    def dumps(self, obj: Any) -> bytes:
        """The safetensors bytes of a dict of arrays (validated first)."""
        tensors, metadata, framework = _prepare(obj)
        try:
            if framework == "pt":
                from safetensors.torch import save as save_torch

                return save_torch(tensors, metadata)
            from safetensors.numpy import save as save_numpy

            return save_numpy(tensors, metadata)
        except Exception as exc:  # the library's own error type varies across versions
            raise SerializationError(f"safetensors cannot store this dict: {exc}") from exc

    def loads(self, data: memoryview) -> Any:
        """A dict of numpy arrays (or torch tensors, if they were saved) from the bytes."""
        return self.load(data, "builtins.dict")

    def load(self, data: memoryview, type_name: str) -> Any:
        """Like :meth:`loads`, as a :class:`TensorDict` when one was saved."""
        header = read_header(data)
        if header.metadata.get("format") == "pt":
            loaded = _load_torch(data)
        else:
            arrays = numpy_arrays(data, header)
            loaded = arrays if arrays is not None else _load_numpy_library(data)
        ordered = _ordered(loaded, header.metadata)
        saved_as_tensor_dict = type_name == f"{TensorDict.__module__}.{TensorDict.__qualname__}"
        return TensorDict(ordered) if saved_as_tensor_dict else ordered


def _prepare(obj: Any) -> tuple[dict[str, Any], dict[str, str], str]:
    """Contiguous tensors, the metadata to record, and the framework, after validation."""
    framework = _check(obj)
    metadata = {"format": framework, _KEYS: json.dumps(list(obj))}
    if framework == "pt":
        return {k: v.contiguous() for k, v in obj.items()}, metadata, framework
    import numpy as np

    return {k: np.ascontiguousarray(v) for k, v in obj.items()}, metadata, framework


def _load_torch(data: memoryview) -> dict[str, Any]:
    try:
        from safetensors.torch import load as load_torch
    except ImportError as exc:
        raise ImportError(
            f"this payload holds torch tensors; install torch to load it ({exc})"
        ) from None
    return load_torch(bytes(data))  # type: ignore[no-any-return,unused-ignore]


def _load_numpy_library(data: memoryview) -> dict[str, Any]:
    """Dtypes numpy lacks (bfloat16, float8): safetensors' numpy loader says what it can't do."""
    from safetensors.numpy import load as load_numpy

    return load_numpy(bytes(data))
