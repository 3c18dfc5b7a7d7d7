"""Crash safety and concurrent writers on a local store, with real processes.

Writers are separate Python processes (``_writer.py``) killed with SIGKILL at random
moments, racing on the same digest, or writing overlapping content; afterwards every
payload the store lists must load and verify.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import payloadkit as pk
from payloadkit._gc import collect_garbage
from payloadkit._maintenance import verify_store

pytest.importorskip("numpy")

WRITER = str(Path(__file__).with_name("_writer.py"))


def _writer(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.Popen(
        [*prefix, sys.executable, WRITER, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _audit(store: pk.Store) -> dict[str, int]:
    """Load every listed payload and classify every file; counts of each kind."""
    root = Path(store.url)
    counts = {"listed": 0, "partial": 0, "tmp": 0, "orphans": 0}
    kept: set[Path] = set()
    for ref in store:
        counts["listed"] += 1
        try:
            store.get(ref)
        except pk.errors.PayloadkitError:
            counts["partial"] += 1
        kept |= {root / store.info(ref).object_key, root / store.info(ref).key}
    for path in root.rglob("*"):
        if path.is_dir() or path in kept or path.name == "payloadkit-store.json":
            continue
        relative = path.relative_to(root).parts
        if relative[0] == "tmp":
            counts["tmp"] += 1
        elif relative[0] == "objects":
            counts["orphans"] += 1
        else:
            raise AssertionError(f"unexpected file {path}")
    return counts


def _wait_for(writer: subprocess.Popen[str], wanted: str) -> None:
    assert writer.stdout is not None
    while (line := writer.stdout.readline().strip()) != wanted:
        assert line, writer.stderr.read() if writer.stderr else "writer exited"


def _kill_rounds(tmp_path: Path, rounds: int, report_figure: Any) -> None:
    rng = random.Random(20260101)
    totals = dict.fromkeys(
        ("listed", "partial", "tmp", "orphans", "tmp_removed", "orphans_removed"), 0
    )
    during_put = 0
    for n in range(rounds):
        root = tmp_path / f"crash-{n}"
        writer = _writer("crash", str(root), str(n))
        # Time the first put, then kill at a random moment of a later one (numpy or pickle).
        _wait_for(writer, "start 0")
        began = time.monotonic()
        _wait_for(writer, "done 0")
        duration = time.monotonic() - began
        wanted = f"start {rng.choice([1, 2])}"
        _wait_for(writer, wanted)
        time.sleep(rng.uniform(0.0, 1.2 * duration))
        writer.send_signal(signal.SIGKILL)
        lines = [wanted, *writer.communicate()[0].splitlines()]
        assert writer.returncode == -signal.SIGKILL
        during_put += lines[-1].startswith("start")
        counts = _audit(pk.open_store(root))
        for key, value in counts.items():
            totals[key] += value
        assert counts["partial"] == 0, counts
        cleaned = _clean_up_after(pk.open_store(root), counts)
        for key, value in cleaned.items():
            totals[key] += value
        shutil.rmtree(root)
    report_figure(
        f"kill-during-write: {rounds} SIGKILLs ({during_put} inside a 256 MiB put), {totals['partial']} partial "
        f"objects visible, verify clean; {totals['listed']} complete payloads listed and verified; "
        f"leftovers: {totals['tmp']} tmp files ({totals['tmp_removed']} removed by the next "
        f"writer once stale), {totals['orphans']} objects without a manifest "
        f"({totals['orphans_removed']} removed by gc)"
    )


def _clean_up_after(store: pk.Store, counts: dict[str, int]) -> dict[str, int]:
    """After a crash: verify is clean; once the leftovers are old, the next writer removes
    the temporary files and gc the objects without a manifest."""
    report = verify_store(store)
    assert report.ok, report.problems
    root = Path(store.url)
    hours_ago = time.time() - 2 * 3600
    for path in [*root.glob("tmp/*"), *root.glob("objects/*/*/*")]:
        os.utime(path, (hours_ago, hours_ago))
    writer = pk.open_store(root)
    writer.put("the next write")
    assert _audit(writer)["tmp"] == 0
    removed = {"tmp_removed": counts["tmp"]}
    gc = collect_garbage(writer, older_than=timedelta(hours=1), dry_run=False)
    removed["orphans_removed"] = sum(f.kind == "orphan" for f in gc.removed)
    after = _audit(writer)
    assert after["tmp"] == after["orphans"] == after["partial"] == 0
    report = verify_store(writer)
    assert report.ok
    assert not report.in_progress
    return removed


def test_kill_during_write(tmp_path: Path, report_figure: Any) -> None:
    """20 writers killed with SIGKILL at random moments of 256 MiB puts leave 0 partial payloads."""
    _kill_rounds(tmp_path, 20, report_figure)


@pytest.mark.slow
def test_kill_during_write_long(tmp_path: Path, report_figure: Any) -> None:
    """The long variant: 100 SIGKILLs."""
    _kill_rounds(tmp_path, 100, report_figure)


def test_concurrent_writers_of_one_digest(tmp_path: Path, report_figure: Any) -> None:
    """Four processes putting the same 64 MiB payload at once all succeed, leaving one intact object."""
    root, go = tmp_path / "same", tmp_path / "go"
    writers = [_writer("same", str(root), "7", str(go)) for _ in range(4)]
    time.sleep(1.0)
    go.touch()
    digests = set()
    for writer in writers:
        out, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
        digests.add(out.strip())
    store = pk.open_store(root)
    assert len(digests) == 1
    assert [r.digest for r in store] == list(digests)
    assert len(list((root / "objects").rglob("*.pk?"))) == 1  # .pkl, or .pkf for a container
    assert list((root / "tmp").iterdir()) == []
    array = store.get(digests.pop())["array"]
    assert int(array[0]) == 7
    report_figure("same-digest writers: 4 processes, 4 succeeded, 1 intact object, 0 tmp leftovers")


def test_eight_processes_hundred_puts(
    tmp_path: Path, report_figure: Any, writer_totals: Any
) -> None:
    """8 processes x 100 puts of overlapping content, each read back, give 0 corrupt or missing reads."""
    root = tmp_path / "mix"
    writers = [_writer("mix", str(root), str(proc), "100") for proc in range(8)]
    totals = writer_totals(writers)
    counts = _audit(pk.open_store(root))
    assert totals["corrupt"] == totals["missing"] == 0
    assert counts["partial"] == 0
    assert counts["tmp"] == counts["orphans"] == 0
    report_figure(
        f"concurrency (local): 8 processes x 100 puts, {totals['reads']} reads, "
        f"{totals['corrupt']} corrupt, {totals['missing']} missing; {counts['listed']} distinct payloads"
    )


@pytest.mark.skipif(
    shutil.which("fiu-run") is None, reason="needs fiu-run (apt-get install fiu-utils)"
)
def test_enospc_mid_put(tmp_path: Path, report_figure: Any) -> None:
    """With write(2) failing with ENOSPC at random, a put raises StoreError and nothing partial is visible."""
    outcomes = {0: 0, 10: 0}
    for n in range(12):
        probability = (0.3, 0.6, 1.0)[n % 3]
        root = tmp_path / f"full-{n}"
        command = f"enable_random name=posix/io/rw/write,probability={probability},failinfo=28"
        writer = _writer("enospc", str(root), prefix=("fiu-run", "-x", "-f", "", "-c", command))
        writer.communicate(timeout=120)
        assert writer.returncode in outcomes, writer.returncode
        outcomes[writer.returncode] += 1
        counts = _audit(pk.open_store(root))
        assert counts["partial"] == counts["tmp"] == 0
        assert counts["listed"] == (1 if writer.returncode == 0 else 0)
    assert outcomes[10] > 0
    report_figure(
        f"ENOSPC mid-put: 12 writers with failing write(2), {outcomes[10]} StoreError, "
        f"{outcomes[0]} completed, 0 partial visible, 0 tmp leftovers"
    )


def test_next_writer_removes_stale_temporary_files(tmp_path: Path) -> None:
    """A store's first write removes writers' temporary files untouched for over an hour, only those."""
    store = pk.open_store(tmp_path / "store")
    store.put("first")  # makes tmp/; this store object has swept it already
    tmp = tmp_path / "store" / "tmp"
    names = {
        "stale-part": f"{os.getpid()}-{'a' * 32}.part",
        "stale-spool": "spool-x1y2z3.parquet",
        "young-part": f"{os.getpid()}-{'b' * 32}.part",
        "gc-aside": f"gc-{int(time.time()) - 7200}-{'c' * 32}",
        "foreign": "notes.txt",
    }
    two_hours_ago = time.time() - 7200
    for role, name in names.items():
        (tmp / name).write_bytes(b"left over")
        if role != "young-part":
            os.utime(tmp / name, (two_hours_ago, two_hours_ago))
    store.put("second")  # the same store object does not sweep again
    assert len(list(tmp.iterdir())) == 5
    pk.open_store(tmp_path / "store").put("third")
    left = {path.name for path in tmp.iterdir()}
    assert left == {names["young-part"], names["gc-aside"], names["foreign"]}
