"""Loading an app file for ``payloadkit run``: find the App it defines, ship its classes by value.

The file is imported under a module name of its own (not ``__main__``, so an
``if __name__ == "__main__":`` block does not run), and registered with cloudpickle to
travel by value: workers that cannot import the file by name still get its classes.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys

import cloudpickle

from payloadkit.app._app import App
from payloadkit.errors import ConfigurationError

__all__ = ["load_app"]


def load_app(path: str | os.PathLike[str]) -> App:
    """Import the Python file at ``path`` and return the one App (or LightningApp) it defines."""
    filename = os.path.abspath(os.fspath(path))
    if not os.path.isfile(filename):
        raise ConfigurationError(f"No app file {filename}: give the path of a Python file.")
    name = _module_name(filename)
    spec = importlib.util.spec_from_file_location(name, filename)
    if spec is None or spec.loader is None:
        raise ConfigurationError(f"{filename} cannot be imported as Python code.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    cloudpickle.register_pickle_by_value(module)
    directory = os.path.dirname(filename)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    spec.loader.exec_module(module)
    apps = list({id(v): v for v in vars(module).values() if isinstance(v, App)}.values())
    if len(apps) != 1:
        found = "no App" if not apps else f"{len(apps)} Apps"
        raise ConfigurationError(
            f"{filename} defines {found} at module level; `payloadkit run` needs exactly one, "
            "e.g. `app = pk.App(MyFlow())` or `app = L.LightningApp(MyFlow())`."
        )
    return apps[0]


def _module_name(filename: str) -> str:
    stem = os.path.splitext(os.path.basename(filename))[0]
    if stem.isidentifier() and stem not in sys.modules:
        return stem
    return "payloadkit_app_" + re.sub(r"\W", "_", stem)
