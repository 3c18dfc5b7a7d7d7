"""Import optional libraries on first use, with an error that names the extra to install."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterable
from types import ModuleType

from payloadkit.errors import ConfigurationError

__all__ = ["BUILTIN_REQUIRES", "install_hint", "missing_modules", "require"]

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


#: Top-level modules each built-in serializer cannot work without (pandas only matters for
#: DataFrames, so parquet and arrow work with pyarrow alone).
BUILTIN_REQUIRES: dict[str, tuple[str, ...]] = {
    "dill": ("dill",),
    "numpy": ("numpy",),
    "parquet": ("pyarrow",),
    "arrow": ("pyarrow",),
    "frame": ("pandas", "numpy"),
}


def missing_modules(modules: Iterable[str]) -> list[str]:
    """The modules of ``modules`` that cannot be imported here, found without importing any
    (`importlib.util.find_spec` of top-level names only looks on ``sys.path``)."""
    missing = []
    for module in modules:
        top = module.split(".")[0]
        try:
            found = importlib.util.find_spec(top) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(top)
    return missing


def install_hint(modules: Iterable[str]) -> str:
    """``pip install 'payloadkit[dataframe]'`` for modules an extra brings, else the modules."""
    extras = sorted({_EXTRAS[m] for m in modules if m in _EXTRAS})
    others = sorted(m for m in modules if m not in _EXTRAS)
    parts = [f"'payloadkit[{','.join(extras)}]'"] if extras else []
    return "pip install " + " ".join(parts + others)


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
