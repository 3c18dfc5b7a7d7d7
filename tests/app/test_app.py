"""App behaviour around the flows: configuration errors, output, crashes, Lightning names."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

import payloadkit as pk
import payloadkit.lightning as L
from payloadkit.app._executors._dask import is_loopback
from payloadkit.errors import ConfigurationError, WorkError


class Talk(pk.Work):
    def run(self, text: str) -> None:
        print(text)
        print("to stderr", file=sys.stderr)


class Dies(pk.Work):
    def run(self) -> None:
        os._exit(3)


class One(pk.Flow):
    def __init__(self, work: pk.Work, *args: Any) -> None:
        super().__init__()
        self.work = work
        self.args = list(args)

    def run(self) -> None:
        self.work.run(*self.args)


class Produce(pk.Work):
    def __init__(self) -> None:
        super().__init__()
        self.numbers: pk.Payload | None = None

    def run(self) -> None:
        self.numbers = pk.Payload(list(range(100)))


class Consume(pk.Work):
    def __init__(self) -> None:
        super().__init__()
        self.total: int | None = None

    def run(self, numbers: pk.Payload) -> None:
        self.total = sum(numbers.value)


class HandOver(pk.Flow):
    def __init__(self) -> None:
        super().__init__()
        self.produce = Produce()
        self.consume = Consume()

    def run(self) -> None:
        self.produce.run()
        self.consume.run(self.produce.numbers)


@pytest.mark.s3
@pytest.mark.parametrize("given", ["store-object", "app-options", "configured"])
@pytest.mark.parametrize("kind", ["process", pytest.param("dask", marks=pytest.mark.dask)])
def test_s3_options_reach_workers(
    given: str,
    kind: str,
    s3_server: Any,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    """S3 options given to open_store, to the App or to configure reach the workers; no secret is recorded."""
    monkeypatch.setenv("PAYLOADKIT_CACHE", str(tmp_path / "cache"))
    url, options = s3_server.url(), s3_server.options()
    storage: Any = url
    app_options: dict[str, Any] | None = None
    if given == "store-object":
        storage = pk.open_store(url, **options)
    elif given == "app-options":
        app_options = options
    else:
        pk.configure(storage=url, storage_options=options)
    executor = request.getfixturevalue("dask_client") if kind == "dask" else kind
    app = pk.App(HandOver(), storage=storage, executor=executor, storage_options=app_options)
    record = app.run()
    root: Any = app.root
    assert root.consume.total == sum(range(100))
    assert root.produce.numbers.ref.store == url
    assert s3_server.secret not in repr(record)
    pk.configure(reset=True)  # read back with this process's own options only
    reader = pk.open_store(url, **options)
    raw = reader.backend.read(f"records/runs/{record['run_id']}.json", 1 << 30)
    assert s3_server.secret.encode() not in raw
    assert reader.get(root.produce.numbers.ref) == list(range(100))


def test_memory_store_refused_with_process_executor() -> None:
    """A memory store cannot serve worker processes: a ConfigurationError says so."""
    app = pk.App(One(Talk(), "x"), storage="memory://not-shared", executor="process")
    with pytest.raises(ConfigurationError, match="memory store"):
        app.run()


@pytest.mark.dask
def test_memory_store_refused_with_dask(dask_client: Any) -> None:
    """A memory store cannot serve Dask workers either."""
    app = pk.App(One(Talk(), "x"), storage="memory://not-shared", executor=dask_client)
    with pytest.raises(ConfigurationError, match="memory store"):
        app.run()


def test_unknown_executor() -> None:
    """An executor name that means nothing is refused with the names that work."""
    with pytest.raises(ConfigurationError, match="inline"):
        pk.App(One(Talk(), "x"), executor="threads").run()


def test_root_must_be_a_flow() -> None:
    """An App built on something other than a Flow is refused at once."""
    with pytest.raises(ConfigurationError, match="Flow"):
        pk.App(Talk())  # type: ignore[arg-type]


def test_remote_scheduler_addresses() -> None:
    """Loopback scheduler addresses count as local; others make a local store warn."""
    assert is_loopback("tcp://127.0.0.1:8786")
    assert is_loopback("inproc://x/1/2")
    assert is_loopback("tcp://localhost:8786")
    assert is_loopback("tcp://[::1]:8786")
    assert not is_loopback("tcp://10.0.0.5:8786")


def test_worker_output_is_prefixed(capfd: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    """What a Work prints in its worker process reaches the terminal prefixed with its name."""
    pk.App(One(Talk(), "hello"), storage=tmp_path / "s", executor="process").run()
    out, err = capfd.readouterr()
    assert "[root.work] hello\n" in out
    assert "[root.work] to stderr\n" in err


def test_dead_worker_is_reported(tmp_path: Any) -> None:
    """A worker process that exits in the middle of a run is a WorkError naming the Work."""
    app = pk.App(One(Dies()), storage=tmp_path / "s", executor="process")
    with pytest.raises(WorkError, match="ended unexpectedly with exit code 3") as caught:
        app.run()
    assert caught.value.work == "root.work"


def test_work_outside_an_app_is_a_plain_object() -> None:
    """Without an App, run is an ordinary method call on the object."""
    work = Talk()
    work.run("plain")
    assert work.parallel is False
    assert work.cache_calls is True


def test_lightning_app_does_not_run_when_built(tmp_path: Any) -> None:
    """Building a LightningApp runs nothing; run() calls the root Flow until it stops."""

    class Counter(L.LightningFlow):
        def __init__(self) -> None:
            super().__init__()
            self.runs = 0

        def run(self) -> None:
            self.runs += 1
            if self.runs == 3:
                self.stop()

    app = L.LightningApp(Counter(), storage=tmp_path / "s", executor="inline")
    assert app.root.runs == 0  # type: ignore[attr-defined]
    app.run()
    assert app.root.runs == 3  # type: ignore[attr-defined]


class _Cloudy(L.LightningWork):
    def run(self) -> None:
        pass


def test_lightning_arguments_are_ignored_with_one_warning() -> None:
    """Lightning-only arguments are accepted; one warning names them, repeats stay silent."""
    with pytest.warns(L.LightningCompatWarning, match="cloud_compute, port") as caught:
        _Cloudy(parallel=True, cloud_compute="gpu", port=8000)
    assert len(caught) == 1
    work = _Cloudy(parallel=True, cloud_compute="cpu", port=1)  # no second warning
    assert work.parallel is True
    assert work.cache_calls is True


def test_lightning_storage_names() -> None:
    """L.storage.Payload is a payloadkit Payload; Path and Drive exist; Mount explains itself."""
    assert issubclass(L.storage.Payload, pk.Payload)
    assert L.storage.Path("lit://a/b") == L.storage.Path("a/b")
    with pytest.raises(AttributeError, match="Drive or a Payload"):
        L.storage.Mount  # noqa: B018


def test_import_stays_light() -> None:
    """Importing payloadkit.app and payloadkit.lightning does not import distributed or pandas."""
    code = (
        "import sys, payloadkit.app, payloadkit.lightning\n"
        "print(','.join(m for m in ('distributed', 'pandas', 'numpy') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""
