"""Works from modules a worker cannot import travel by value; importable modules by name."""

from __future__ import annotations

import importlib.util
import pickle
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import payloadkit as pk
from payloadkit.app._travel import dumps, importable

MODULE = """
import payloadkit as pk


class Doubler(pk.Work):
    def __init__(self):
        super().__init__()
        self.out = 0

    def run(self, x):
        self.out = helper(x)


def helper(x):
    return 2 * x


class Root(pk.Flow):
    def __init__(self):
        super().__init__()
        self.double = Doubler()

    def run(self):
        self.double.run(21)
"""


def _load_from(path: Path, name: str) -> ModuleType:
    """Import ``path`` under ``name`` the way pytest's importlib mode or a tool does."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def loose(tmp_path: Path) -> Iterator[ModuleType]:
    """A module loaded by file path from a folder that is not on ``sys.path``."""
    folder = tmp_path / "elsewhere" / "pkg"
    folder.mkdir(parents=True)
    (folder / "flows.py").write_text(textwrap.dedent(MODULE))
    name = f"pkg_{tmp_path.name}.flows"
    yield _load_from(folder / "flows.py", name)
    sys.modules.pop(name, None)


def test_a_module_loaded_by_path_is_not_importable(loose: ModuleType) -> None:
    assert importable(loose) is False


def test_installed_and_checkout_modules_are_importable() -> None:
    """payloadkit itself (an editable or a wheel install) and the standard library are found."""
    assert importable(sys.modules["payloadkit.app._work"])
    assert importable(sys.modules["json"])
    assert importable(sys.modules["sys"])  # built in: no file


def test_an_installed_module_shadowed_on_the_path_stays_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An installed module stays importable when another copy of its package is put first
    on ``sys.path`` (a checkout's ``src/``, as a docs build does): pickling it by value
    would drag its module globals (locks, caches) along and fail."""
    import sysconfig

    import cloudpickle

    installed = sys.modules["cloudpickle"]
    purelib = Path(sysconfig.get_paths()["purelib"]).resolve()
    if not Path(installed.__file__ or "").resolve().is_relative_to(purelib):
        pytest.skip("cloudpickle is not installed in site-packages here")
    copy = tmp_path / "checkout" / "cloudpickle"
    copy.mkdir(parents=True)
    (copy / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "checkout"))
    assert importable(installed)
    assert len(dumps(cloudpickle.Pickler)) < 100


def test_importable_classes_still_pickle_by_name() -> None:
    """A class whose module a worker can import is pickled as a reference, a few bytes."""
    data = dumps(pk.Work)
    assert len(data) < 100
    assert pickle.loads(data) is pk.Work


def test_classes_of_a_loose_module_pickle_by_value(loose: ModuleType) -> None:
    """Their code travels: unpickled where the module is gone, they still run."""
    data = dumps(loose.Doubler())
    name = loose.__name__
    del sys.modules[name]
    try:
        work = pickle.loads(data)
        assert type(work).__module__ == name
        work.run(4)
        assert work.out == 8
    finally:
        sys.modules[name] = loose


@pytest.mark.parametrize("executor", ["process", pytest.param("dask", marks=pytest.mark.dask)])
def test_a_flow_from_a_loose_module_runs_in_workers(
    loose: ModuleType, executor: str, store: pk.Store, request: pytest.FixtureRequest
) -> None:
    """A worker process that could not import the module runs its Work and sends state back."""
    chosen = request.getfixturevalue("dask_client") if executor == "dask" else executor
    app = pk.App(loose.Root(), storage=store, executor=chosen)
    app.run()
    assert app.root.double.out == 42
