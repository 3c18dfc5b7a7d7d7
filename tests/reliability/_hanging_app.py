"""An app whose two parallel Works each start a child process and then wait, for signal tests.

Run as ``payloadkit run _hanging_app.py`` with ``PIDS_DIR`` set: each Work writes its
worker's pid and its child's pid there, one file per process, then sleeps until stopped.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import time

import payloadkit as pk

PIDS = pathlib.Path(os.environ["PIDS_DIR"])


class Waits(pk.Work):
    def __init__(self) -> None:
        super().__init__(parallel=True)
        self.done = False

    def run(self, name: str) -> None:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        (PIDS / f"{name}-child-{child.pid}").write_text("")
        (PIDS / f"{name}-worker-{os.getpid()}").write_text("")
        print(f"{name} waiting", flush=True)
        time.sleep(600)
        self.done = True


class Main(pk.Flow):
    def __init__(self) -> None:
        super().__init__()
        self.first, self.second = Waits(), Waits()

    def run(self) -> None:
        self.first.run("first")
        self.second.run("second")
        print("both done:", self.first.done and self.second.done)


app = pk.App(Main(), executor="process")
