"""Import optional libraries on first use, with an error that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from payloadkit.errors import ConfigurationError

__all__ = ["require"]

_EXTRAS = {
    "pandas": "dataframe",
    "pyarrow": "dataframe",
    "pyarrow.parquet": "dataframe",
    "pyarrow.ipc": "dataframe",
    "numpy": "numpy",
    "dill": "dill",
    "s3fs": "s3",
    "distributed": "dask",
}


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` or explain which extra provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = _EXTRAS.get(module, module.split(".")[0])
        raise ConfigurationError(
            f"{purpose} needs the {module.split('.')[0]!r} package, which is not installed "
            f"({exc}). Install it with: pip install 'payloadkit[{extra}]'"
        ) from None
