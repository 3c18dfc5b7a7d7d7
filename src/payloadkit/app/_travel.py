"""Pickling for objects that travel to another process: by value where import would fail.

cloudpickle pickles a class or function by reference (module and name) whenever its module
is in ``sys.modules``, assuming the receiving process can import that module. A module
loaded from a file path rather than found on ``sys.path`` breaks that assumption: a test
module under pytest's importlib mode, a script run with ``runpy``, a file executed by a
tool. The receiving process then fails with ``ModuleNotFoundError``.

`dumps` checks, once per module, whether the import system would find the module's file
again from ``sys.path`` (which the worker inherits); a module it would not find has its
classes and functions pickled by value, as ``__main__``'s are.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.machinery
import io
import os
import site
import sys
import sysconfig
import types
from typing import Any

import cloudpickle

__all__ = ["dumps", "importable"]

_checked: dict[str, bool] = {}


def dumps(obj: Any) -> bytes:
    """``obj`` pickled (protocol 5, in band), by value for what a worker could not import."""
    out = io.BytesIO()
    _Pickler(out, protocol=5).dump(obj)
    return out.getvalue()


class _Pickler(cloudpickle.Pickler):  # type: ignore[misc]
    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, (type, types.FunctionType)):
            _by_value_unless_importable(getattr(obj, "__module__", None))
        return super().reducer_override(obj)


def _by_value_unless_importable(name: str | None) -> None:
    if not name or name == "__main__" or name in _checked:
        return
    module = sys.modules.get(name)
    if module is None:
        return
    found = importable(module)
    _checked[name] = found
    if not found:
        cloudpickle.register_pickle_by_value(module)


def importable(module: types.ModuleType) -> bool:
    """Whether importing ``module.__name__`` afresh from ``sys.path`` finds this module's file.

    Modules without a file (built-ins, namespace packages, modules made in memory) count
    as importable: cloudpickle's own rules decide for them.
    """
    filename = getattr(module, "__file__", None)
    if not isinstance(filename, str) or _installed(filename):
        return True
    parts = module.__name__.split(".")
    path: list[str] | None = None
    spec = None
    for depth in range(1, len(parts) + 1):
        spec = _find(".".join(parts[:depth]), path)
        if spec is None:
            return False
        locations = spec.submodule_search_locations
        path = list(locations) if locations is not None else None
        if path is None and depth < len(parts):
            return False
    origin = spec.origin if spec is not None else None
    if not isinstance(origin, str) or not os.path.exists(origin):
        return False
    try:
        return os.path.samefile(origin, filename)
    except OSError:
        return False


def _installed(filename: str) -> bool:
    """Whether ``filename`` lies in an installation directory (site-packages, the standard
    library): a worker imports such a module by name whatever else is on its path, even
    when another copy (a checkout put first on ``sys.path``) would be found first."""
    real = os.path.realpath(filename)
    return any(real.startswith(directory) for directory in _install_directories())


@functools.cache
def _install_directories() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    found = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
    with contextlib.suppress(AttributeError):  # site is trimmed in some embedded Pythons
        found.update(site.getsitepackages())
    return tuple(os.path.join(os.path.realpath(d), "") for d in sorted(found) if d)


def _find(fullname: str, path: list[str] | None) -> importlib.machinery.ModuleSpec | None:
    """The spec the meta path finders give ``fullname``, without looking in ``sys.modules``."""
    for finder in sys.meta_path:
        find_spec = getattr(finder, "find_spec", None)
        if find_spec is None:
            continue
        try:
            spec = find_spec(fullname, path)
        except Exception:  # a third-party finder that breaks on a name it does not own
            continue
        if spec is not None:
            return spec  # type: ignore[no-any-return]
    return None
