"""``payloadkit run`` and ``payloadkit demo`` in a fresh process, as a user types them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import payloadkit as pk

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "lightning_payload.py"
SRC = Path(pk.__file__).resolve().parents[1]


def _cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("PAYLOADKIT_")}
    full["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), full.get("PYTHONPATH", "")) if p)
    return subprocess.run(
        [sys.executable, "-m", "payloadkit.cli", *args],
        cwd=cwd,
        env={**full, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("executor", ["process", "inline"])
def test_run_lightning_example(executor: str, tmp_path: Path) -> None:
    """The Lightning docs example prints the source and destination DataFrames and exits 0."""
    result = _cli("run", str(EXAMPLE), "--executor", executor, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    prefix = {"process": ("[root.src] ", "[root.dst] "), "inline": ("", "")}[executor]
    lines = result.stdout.splitlines()
    src_at = lines.index(prefix[0] + "src    col1  col2")
    dst_at = lines.index(prefix[1] + "dst    col1  col2")
    assert src_at < dst_at
    for start, who in ((src_at, prefix[0]), (dst_at, prefix[1])):
        assert lines[start + 1 : start + 3] == [who + "0     1     3", who + "1     2     4"]
    assert "succeeded" in result.stderr
    runs = list((tmp_path / ".payloadkit" / "records" / "runs").glob("*.json"))
    record = json.loads(runs[0].read_text())
    assert record["app"] == "lightning_payload:Flow"
    assert record["outcome"] == "succeeded"


def test_run_with_storage_option(tmp_path: Path) -> None:
    """--storage sends payloads and the run record to the given store."""
    result = _cli("run", str(EXAMPLE), "--storage", str(tmp_path / "elsewhere"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    store = pk.open_store(tmp_path / "elsewhere")
    (run_id,) = store.list_records("runs")
    assert len(store.get_record("runs", run_id)["payloads"]) == 1


FAILING_APP = """
import payloadkit as pk

class Bad(pk.Work):
    def run(self):
        raise RuntimeError("the data was wrong")

class Main(pk.Flow):
    def __init__(self):
        super().__init__()
        self.bad = Bad()

    def run(self):
        self.bad.run()

app = pk.App(Main())

if __name__ == "__main__":
    raise SystemExit("payloadkit run must not run this block")
"""


def test_run_failing_app(tmp_path: Path) -> None:
    """A failing Work makes `payloadkit run` exit 1 naming the Work and its error."""
    (tmp_path / "bad_app.py").write_text(FAILING_APP)
    result = _cli("run", "bad_app.py", cwd=tmp_path)
    assert result.returncode == 1
    assert "Work root.bad failed: RuntimeError: the data was wrong" in result.stderr
    assert "must not run" not in result.stderr


def test_run_file_without_app(tmp_path: Path) -> None:
    """A file that defines no App is refused with what to write."""
    (tmp_path / "empty.py").write_text("x = 1\n")
    result = _cli("run", "empty.py", cwd=tmp_path)
    assert result.returncode == 1
    assert "defines no App" in result.stderr


SCRIPT_APP = """
import os
import payloadkit as pk

class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y

class Make(pk.Work):
    def __init__(self):
        super().__init__()
        self.point = None

    def run(self):
        self.point = pk.Payload(Point(2, 3))

class Use(pk.Work):
    def __init__(self):
        super().__init__()
        self.pid = None

    def run(self, point):
        self.pid = os.getpid()
        print("sum", point.value.x + point.value.y)

class Main(pk.Flow):
    def __init__(self):
        super().__init__()
        self.make, self.use = Make(), Use()

    def run(self):
        self.make.run()
        self.use.run(self.make.point)

app = pk.App(Main(), executor="process")
app.run()
print("flow pid differs:", app.root.use.pid != os.getpid())
"""


def test_script_classes_travel_by_value(tmp_path: Path) -> None:
    """Works and payload classes defined in a script run as __main__ work in worker processes."""
    (tmp_path / "script.py").write_text(textwrap.dedent(SCRIPT_APP))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYLOADKIT_")}
    env["PYTHONPATH"] = str(SRC)
    result = subprocess.run(
        [sys.executable, "script.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "[root.use] sum 5" in result.stdout
    assert "flow pid differs: True" in result.stdout


def test_demo(tmp_path: Path) -> None:
    """`payloadkit demo` hands a DataFrame to another process on the default store and exits 0."""
    result = _cli("demo", "--rows", "1000", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "[root.dst] dst received:" in result.stdout
    assert "1,000 rows x 10 columns" in result.stdout
    assert "hand-over" in result.stdout
    assert (tmp_path / ".payloadkit" / "records" / "runs").is_dir()


def test_demo_on_a_directory_store(tmp_path: Path) -> None:
    """`payloadkit demo --storage DIR` writes its payload and run record there, for `ls`."""
    result = _cli("demo", "--rows", "500", "--storage", "mine", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"store       {tmp_path / 'mine'}" in result.stdout
    assert not (tmp_path / ".payloadkit").exists()
    listed = _cli("ls", "mine", "--json", cwd=tmp_path)
    assert [m["serializer"] for m in json.loads(listed.stdout)] == ["frame"]


@pytest.mark.s3
def test_demo_and_run_on_s3_with_storage_options(tmp_path: Path, s3_server: Any) -> None:
    """--storage s3://... with --storage-option reaches an S3-compatible server; creds from env."""
    bucket = s3_server.create_bucket("demo-cli")
    endpoint = f"endpoint_url={s3_server.endpoint_url}"
    env = s3_server.aws_env()
    for args in (
        ("demo", "--rows", "500"),
        ("run", str(EXAMPLE)),
    ):
        url = f"s3://{bucket}/{args[0]}"
        result = _cli(*args, "--storage", url, "--storage-option", endpoint, cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        assert s3_server.secret not in result.stdout + result.stderr
        store = pk.open_store(url, **s3_server.options())
        assert len(store.list_records("runs")) == 1
    assert not (tmp_path / ".payloadkit").exists()


def test_storage_option_without_storage_is_a_usage_error(tmp_path: Path) -> None:
    """--storage-option alone would be silently ignored: it is refused with exit code 2."""
    for args in (("demo",), ("run", str(EXAMPLE))):
        result = _cli(*args, "--storage-option", "anon=true", cwd=tmp_path)
        assert result.returncode == 2
        assert "--storage-option needs --storage URL" in result.stderr


@pytest.mark.dask
def test_run_on_dask_scheduler_address(tmp_path: Path, dask_client: object) -> None:
    """`payloadkit run --executor tcp://...` ships the app file's classes to Dask workers by value."""
    address = dask_client.scheduler.address  # type: ignore[attr-defined]
    result = _cli("run", str(EXAMPLE), "--executor", address, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "[root.src] src    col1  col2" in result.stdout
    assert "[root.dst] dst    col1  col2" in result.stdout
    assert "dask executor" in result.stderr


@pytest.mark.s3
def test_run_on_s3_with_credentials_from_the_environment(tmp_path: Path, s3_server: Any) -> None:
    """`payloadkit run --storage s3://...` works with AWS_* credentials and endpoint from the
    environment; the secret appears in no output and no object the run wrote."""
    url = s3_server.url()
    env = {
        **s3_server.aws_env(),
        "AWS_ENDPOINT_URL_S3": s3_server.endpoint_url,
        "PAYLOADKIT_CACHE": str(tmp_path / "cache"),
    }
    result = _cli("run", str(EXAMPLE), "--storage", url, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "[root.dst] dst    col1  col2" in result.stdout
    store = pk.open_store(url, **s3_server.options())
    (run_id,) = store.list_records("runs")
    (digest,) = store.get_record("runs", run_id)["payloads"]
    assert list(store.get(digest)["col1"]) == [1, 2]
    written = [store.backend.read(i.key, 1 << 30) for i in store.backend.list("")]
    assert [text for text in (result.stdout, result.stderr) if s3_server.secret in text] == []
    assert [data for data in written if s3_server.secret.encode() in data] == []


SLEEPY_APP = """
import time
import payloadkit as pk

class Sleepy(pk.Work):
    def run(self):
        time.sleep(600)

class Main(pk.Flow):
    def __init__(self):
        super().__init__()
        self.sleepy = Sleepy()

    def run(self):
        self.sleepy.run()

app = pk.App(Main())
"""


def test_run_with_work_timeout(tmp_path: Path) -> None:
    """--work-timeout stops a Work past the limit: exit 1, the Work and the limit named, the
    run recorded as timed out."""
    (tmp_path / "sleepy.py").write_text(SLEEPY_APP)
    result = _cli("run", "sleepy.py", "--work-timeout", "0.5", cwd=tmp_path)
    assert result.returncode == 1
    assert "Work root.sleepy timed out: it ran past its time limit of 0.5 s" in result.stderr
    (run,) = (tmp_path / ".payloadkit" / "records" / "runs").glob("*.json")
    assert json.loads(run.read_text())["outcome"] == "timed out"


def test_bad_work_timeout_is_a_usage_error(tmp_path: Path) -> None:
    """A --work-timeout that is not a positive number is refused with exit code 2."""
    result = _cli("run", str(EXAMPLE), "--work-timeout", "-3", cwd=tmp_path)
    assert result.returncode == 2
    assert "positive number of seconds" in result.stderr


def test_mistyped_storage_option_does_not_echo_its_value(tmp_path: Path) -> None:
    """A --storage-option without '=' is refused without repeating what was typed."""
    secret = "AKIAEXAMPLESECRET0123456789"
    result = _cli("run", str(EXAMPLE), "--storage", "x", "--storage-option", secret, cwd=tmp_path)
    assert result.returncode == 2
    assert "KEY=VALUE" in result.stderr
    assert secret not in result.stderr + result.stdout
