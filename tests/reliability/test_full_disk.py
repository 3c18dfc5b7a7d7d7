"""A store on a full or read-only disk: a StoreError that says so, nothing left open or half
written, and the next put works once there is room. The disk is a real 1 MiB tmpfs."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import payloadkit as pk
from payloadkit.errors import StoreError, WorkError

pd = pytest.importorskip("pandas")
np = pytest.importorskip("numpy")


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs mounted for the test (skipped where mounting is not allowed)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _frame() -> Any:
    """About 8 MB of random floats: more than the tiny disk holds, in any format."""
    values = np.random.default_rng(0).standard_normal((100_000, 10))
    return pd.DataFrame(values, columns=[f"c{i}" for i in range(10)])


def _open_files_under(directory: Path) -> list[str]:
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(directory)):
            found.append(target)
    return found


def _files_under(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file()]


@pytest.mark.parametrize("serializer", ["parquet", None])
def test_full_disk_is_a_store_error(
    serializer: str | None, tiny_disk: Path, report_figure: Any
) -> None:
    """Saving a DataFrame on a full disk says the disk is full (not "cannot serialize"),
    leaves no file open or behind, and a small put right after succeeds."""
    store = pk.open_store(tiny_disk / "store")
    with pytest.raises(StoreError, match="the disk is full") as caught:
        store.put(_frame(), serializer=serializer)
    assert "Cannot serialize" not in str(caught.value)
    open_files = _open_files_under(tiny_disk)
    left = [p for p in _files_under(tiny_disk) if p.name != "payloadkit-store.json"]
    ref = store.put(b"small" * 100)
    report_figure(
        f"DataFrame put on a full 1 MiB disk ({serializer or 'default'} serializer): "
        f"files left open {len(open_files)}, files left behind {len(left)}, next small put ok"
    )
    assert open_files == []
    assert left == []
    assert store.get(ref) == b"small" * 100


def test_read_only_disk_is_a_store_error(tiny_disk: Path) -> None:
    """Saving a DataFrame on a read-only file system says it is read-only."""
    store = pk.open_store(tiny_disk / "store")
    store.put(b"made before the disk turned read-only")
    remount = subprocess.run(
        ["mount", "-o", "remount,ro", str(tiny_disk)], capture_output=True, check=False
    )
    if remount.returncode != 0:
        pytest.skip(f"cannot remount read-only: {remount.stderr.decode().strip()}")
    with pytest.raises(StoreError, match="read-only"):
        store.put(_frame())


class SavesAFrame(pk.Work):
    def __init__(self) -> None:
        super().__init__()
        self.frame: pk.Payload | None = None

    def run(self) -> None:
        self.frame = pk.Payload(_frame())


class Main(pk.Flow):
    def __init__(self) -> None:
        super().__init__()
        self.saves = SavesAFrame()

    def run(self) -> None:
        self.saves.run()


def test_work_saving_on_a_full_disk_names_the_attribute(tiny_disk: Path) -> None:
    """A Work whose payload cannot be saved on the full disk fails naming the Work and the
    attribute, with the disk's error; the (small) run record is still written."""
    store = pk.open_store(tiny_disk / "store")
    app = pk.App(Main(), storage=store, executor="process")
    with pytest.raises(WorkError, match=r"(?i)state attribute frame.*the disk is full") as caught:
        app.run()
    assert caught.value.work == "root.saves"
    (run_id,) = store.list_records("runs")
    record = store.get_record("runs", run_id)
    assert record["outcome"] == "failed"
    assert record["works"]["root.saves"]["status"] == "failed"
