"""Workers warm up at their start: plugins scanned, likely serializers' libraries imported."""

from __future__ import annotations

import subprocess
import sys
import threading
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import payloadkit as pk
from payloadkit._registry import registry
from payloadkit.app._warmup import start_warm_up, warm_up


class _Text(pk.Serializer):
    name = "warm-text"
    types = ("payloadkit_warmup_fake.Thing",)
    warmed = 0

    def dumps(self, obj: Any) -> bytes:
        return b""

    def loads(self, data: memoryview) -> Any:
        return None

    def warm_up(self) -> None:
        type(self).warmed += 1


class _Broken(_Text):
    name = "warm-broken"
    types = ("payloadkit_warmup_fake.Other",)

    def warm_up(self) -> None:
        raise RuntimeError("cannot warm up")


@pytest.fixture
def fake_module() -> Iterator[types.ModuleType]:
    """A module ``payloadkit_warmup_fake`` with classes Thing and Other, removed afterwards."""
    module = types.ModuleType("payloadkit_warmup_fake")
    module.Thing = type("Thing", (), {})  # type: ignore[attr-defined]
    module.Other = type("Other", (), {})  # type: ignore[attr-defined]
    yield module
    sys.modules.pop(module.__name__, None)
    registry.reset()


def test_likely_follows_imported_modules(fake_module: types.ModuleType) -> None:
    """A serializer for a type counts as likely once the type's module is imported."""
    pk.register_serializer(_Text())
    names = [s.name for s in registry.likely()]
    assert "warm-text" not in names
    assert names[-2:] == ["pickle", "cloudpickle"]
    sys.modules[fake_module.__name__] = fake_module
    assert "warm-text" in [s.name for s in registry.likely()]


def test_user_choices_are_likely(fake_module: types.ModuleType) -> None:
    """A per-type choice from configure(serializers=...) is warmed when its type is imported."""
    sys.modules[fake_module.__name__] = fake_module
    pk.configure(serializers={"payloadkit_warmup_fake.Thing": "json"})
    assert "json" in [s.name for s in registry.likely()]


def test_failing_warm_up_is_ignored(fake_module: types.ModuleType) -> None:
    """A serializer whose warm_up raises is skipped; the others still warm up."""
    sys.modules[fake_module.__name__] = fake_module
    pk.register_serializer(_Broken())
    pk.register_serializer(_Text())
    before = _Text.warmed
    warm_up()
    assert _Text.warmed == before + 1
    start_warm_up().join()
    assert _Text.warmed == before + 2


def test_warm_up_imports_what_dataframes_need() -> None:
    """In a fresh process that imported pandas, warming up imports pyarrow.parquet."""
    pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    code = (
        "import sys, pandas\n"
        "from payloadkit.app._warmup import warm_up\n"
        "assert 'pyarrow.parquet' not in sys.modules\n"
        "warm_up()\n"
        "print('pyarrow.parquet' in sys.modules)\n"
    )
    src = str(Path(pk.__file__).resolve().parent.parent)
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": src, "PATH": ""},
    )
    assert out.stdout.strip() == "True"


class Probe(pk.Work):
    """Reports whether pandas came with the Work and pyarrow.parquet with the warm-up."""

    def __init__(self, frame_type: type) -> None:
        super().__init__()
        self._frame_type = frame_type  # unpickling the Work imports pandas in the worker
        self.pandas_at_start = False
        self.parquet_ready = False

    def run(self) -> None:
        self.pandas_at_start = "pandas" in sys.modules
        for thread in threading.enumerate():
            if thread.name == "payloadkit-warm-up":
                thread.join()
        self.parquet_ready = "pyarrow.parquet" in sys.modules


class ProbeFlow(pk.Flow):
    def __init__(self, frame_type: type) -> None:
        super().__init__()
        self.probe = Probe(frame_type)

    def run(self) -> None:
        self.probe.run()


# distributed's cluster start-up sometimes leaves a never-connected probe socket to the
# garbage collector, reported as unraisable; only that exact message is ignored (as in tests/app).
_DASK_SOCKET_NOISE = pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <socket.socket fd=.*laddr=\\('0.0.0.0', 0\\)"
    ":pytest.PytestUnraisableExceptionWarning"
)


@pytest.fixture(
    params=["process", pytest.param("dask", marks=[pytest.mark.dask, _DASK_SOCKET_NOISE])]
)
def executor(request: pytest.FixtureRequest) -> Iterator[Any]:
    """'process', or a Client of a one-worker LocalCluster on 127.0.0.1."""
    if request.param == "process":
        yield "process"
        return
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        yield client


def test_worker_warms_up_before_any_save(tmp_path: Path, executor: Any) -> None:
    """A worker whose Work uses pandas has pyarrow.parquet loaded by its warm-up alone."""
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    flow = ProbeFlow(pd.DataFrame)
    pk.App(flow, storage=tmp_path / "store", executor=executor).run()
    assert flow.probe.pandas_at_start
    assert flow.probe.parquet_ready
