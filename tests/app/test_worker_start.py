"""How the process executor starts workers: forks of a clean template, reused by no Work.

Each Work's worker is forked from one template interpreter per App process (see
``payloadkit.app._executors._forkserver``): it starts as clean as a fresh interpreter
whatever Works ran before, keeps the Work's private attributes between the Work's own
calls, dies with the App's process (SIGKILL included) and takes the template along.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import payloadkit as pk
from payloadkit.app._executors import _forkserver

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="workers are forked from a template on Linux"
)

SRC = Path(pk.__file__).resolve().parents[1]
PATIENCE = 120.0


class Dirties(pk.Work):
    """Leaves marks on its process, then reports what marks it found when it started."""

    def __init__(self) -> None:
        super().__init__(cache_calls=False)
        self.found: dict[str, Any] = {}
        self.pid = 0
        self.parent = 0

    def run(self, mark: str) -> None:
        import json  # a module every worker has: its attribute is a process-wide mark

        self.found = {
            "env": os.environ.get("PK_TEST_DIRT"),
            "cwd": os.getcwd(),
            "module": getattr(json, "pk_test_dirt", None),
            "path": [p for p in sys.path if p.endswith("pk-test-dirt")],
            "modules": sorted(m for m in sys.modules if m.startswith("pk_test_dirt")),
            "private": getattr(self, "_kept", None),
        }
        self.pid, self.parent = os.getpid(), os.getppid()
        os.environ["PK_TEST_DIRT"] = mark
        os.chdir("/")
        json.pk_test_dirt = mark  # type: ignore[attr-defined]
        sys.path.append(f"/nowhere/{mark}/pk-test-dirt")
        sys.modules["pk_test_dirt_" + mark] = json
        self._kept = mark


class Twice(pk.Flow):
    def __init__(self) -> None:
        super().__init__()
        self.first = Dirties()
        self.second = Dirties()
        self.initial: dict[str, Any] = {}
        self.again: dict[str, Any] = {}

    def run(self) -> None:
        self.first.run("a")
        self.initial = dict(self.first.found)
        self.second.run("b")
        self.first.run("c")
        self.again = dict(self.first.found)


def test_a_worker_starts_clean_whatever_ran_before(store: pk.Store, tmp_path: Path) -> None:
    """No Work sees another's environment, directory, module state, path or imports, in
    the same App run or the next; its own private attributes stay between its calls."""
    os.chdir(tmp_path)
    clean = {
        "env": None,
        "cwd": str(tmp_path),
        "module": None,
        "path": [],
        "modules": [],
        "private": None,
    }
    for _ in range(2):
        app = pk.App(Twice(), storage=store, executor="process")
        app.run()
        assert app.root.initial == clean
        assert app.root.second.found == clean
        # The same Work's next call runs in the same worker: its marks are its own.
        assert app.root.again["private"] == "a"
        assert app.root.again["env"] == "a"
        assert app.root.first.pid != app.root.second.pid
        # Forked from the template, not started by this process.
        assert app.root.first.parent != os.getpid()
        assert app.root.first.parent == app.root.second.parent


def test_a_changed_environment_gets_a_new_template(
    store: pk.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An environment variable set between runs reaches the next run's workers."""
    app = pk.App(Twice(), storage=store, executor="process")
    app.run()
    before = app.root.second.parent
    monkeypatch.setenv("PK_TEST_DIRT", "set-by-the-app")
    app = pk.App(Twice(), storage=store, executor="process")
    app.run()
    assert app.root.second.found["env"] == "set-by-the-app"
    assert app.root.second.parent != before


def test_spawn_start_is_still_available(store: pk.Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """PAYLOADKIT_WORKER_START=spawn starts each worker as a fresh interpreter."""
    monkeypatch.setenv("PAYLOADKIT_WORKER_START", "spawn")
    app = pk.App(Twice(), storage=store, executor="process")
    app.run()
    assert app.root.first.parent == os.getpid()
    assert app.root.second.found["env"] is None


class Crashes(pk.Work):
    def __init__(self) -> None:
        super().__init__(cache_calls=False)
        self.pids: list[int] = []

    def run(self, crash: bool) -> None:
        self.pids = [*self.pids, os.getpid()]
        if crash:
            os.kill(os.getpid(), signal.SIGKILL)


class CrashThenRun(pk.Flow):
    def __init__(self) -> None:
        super().__init__()
        self.work = Crashes()
        self.error = ""

    def run(self) -> None:
        try:
            self.work.run(True)
        except pk.errors.WorkError as exc:
            self.error = str(exc)
        self.work.run(False)


def test_a_crashed_forked_worker_is_reported_and_replaced(store: pk.Store) -> None:
    app = pk.App(CrashThenRun(), storage=store, executor="process")
    app.run()
    assert "killed by signal SIGKILL" in app.root.error
    (pid,) = app.root.work.pids  # the crashed call's state never came back
    assert pid != os.getpid()


_HOLDER = """
import os, pathlib, sys, time
import payloadkit as pk

PIDS = pathlib.Path(sys.argv[1])

class Waits(pk.Work):
    def __init__(self):
        super().__init__(parallel=True)

    def run(self):
        (PIDS / f"worker-{os.getpid()}").write_text("")
        (PIDS / f"template-{os.getppid()}").write_text("")
        time.sleep(600)

class Main(pk.Flow):
    def __init__(self):
        super().__init__()
        self.works = [Waits(), Waits()]

    def run(self):
        for work in self.works:
            work.run()

class Quick(pk.Work):
    def run(self):
        pass

class Once(pk.Flow):
    def __init__(self):
        super().__init__()
        self.work = Quick()

    def run(self):
        self.work.run()

pk.App(Once(), storage=sys.argv[2], executor="process").run()  # the template stays
pk.App(Main(), storage=sys.argv[2], executor="process").run()
"""


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its reaper counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def _wait_for(condition: Any) -> bool:
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("how", ["SIGKILL", "exit"])
def test_template_and_workers_die_with_their_process(how: str, tmp_path: Path) -> None:
    """The template outlives App runs but not its process: killed outright (SIGKILL) or
    ending normally, the process leaves neither the template nor a worker behind."""
    pids = tmp_path / "pids"
    pids.mkdir()
    code = _HOLDER
    if how == "exit":  # end the process while the Works run: the main thread exits
        code = code.replace(
            'pk.App(Main(), storage=sys.argv[2], executor="process").run()',
            "import threading\n"
            "threading.Thread(target=pk.App(Main(), storage=sys.argv[2], "
            "executor='process').run, daemon=True).start()\n"
            "while len(list(PIDS.iterdir())) < 3: time.sleep(0.05)\n"
            "os._exit(0)",
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYLOADKIT_")}
    env["PYTHONPATH"] = str(SRC)
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(pids), str(tmp_path / "store")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    assert _wait_for(lambda: len(list(pids.iterdir())) >= 3 or holder.poll() is not None)
    recorded = {p.name: int(p.name.rsplit("-", 1)[1]) for p in pids.iterdir()}
    assert sum(name.startswith("worker-") for name in recorded) == 2
    if how == "SIGKILL":
        assert all(_alive(pid) for pid in recorded.values())
        holder.kill()
    holder.wait(timeout=PATIENCE)
    _wait_for(lambda: not any(_alive(pid) for pid in recorded.values()))
    left = [name for name, pid in recorded.items() if _alive(pid)]
    for name in left:
        os.kill(recorded[name], signal.SIGKILL)
    assert left == []


def test_template_is_shared_by_app_runs_and_closed_on_request(store: pk.Store) -> None:
    """Two runs in one process fork from one template; shutdown() ends and reaps it."""
    parents = set()
    for _ in range(2):
        app = pk.App(Twice(), storage=store, executor="process")
        app.run()
        parents.add(app.root.first.parent)
    (template,) = parents
    assert _alive(template)
    _forkserver.shutdown()
    assert not _alive(template)


_FORKS_ITSELF = """
import os, sys
import payloadkit as pk

class Parent(pk.Work):
    def __init__(self):
        super().__init__()
        self.parent = 0

    def run(self):
        self.parent = os.getppid()

class Main(pk.Flow):
    def __init__(self):
        super().__init__()
        self.work = Parent()

    def run(self):
        self.work.run()

def template():
    app = pk.App(Main(), storage=sys.argv[1], executor="process")
    app.run()
    return app.root.work.parent

before = template()
child = os.fork()
if child == 0:  # the forked program runs an App of its own, then exits normally
    mine = template()
    sys.exit(0 if mine not in (before, os.getppid()) else 3)
_, status = os.waitpid(child, 0)
assert os.waitstatus_to_exitcode(status) == 0, status
assert template() == before  # the child neither used nor ended this process's template
print("ok")
"""


def test_a_forked_program_leaves_its_parents_template_alone(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYLOADKIT_")}
    env["PYTHONPATH"] = str(SRC)
    done = subprocess.run(
        [sys.executable, "-c", _FORKS_ITSELF, str(tmp_path / "store")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    )
    assert done.returncode == 0, done.stderr
    assert "ok" in done.stdout
