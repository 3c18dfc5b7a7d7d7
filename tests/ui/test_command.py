"""``payloadkit ui`` as a command: it serves a store on loopback and refuses a non-store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests._s3server import free_port

import payloadkit as pk


def test_command_serves_the_store(local_store: pk.Store, tmp_path: Path) -> None:
    """`payloadkit ui STORE --port N` answers on 127.0.0.1 and stops on SIGINT."""
    ref = local_store.put({"a": 1}, serializer="json")
    port = free_port()
    argv = [sys.executable, "-m", "payloadkit.cli", "ui", local_store.url, "--port", str(port)]
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        body = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not body:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/payloads", timeout=10) as r:
                    body = r.read().decode()
            except OSError:
                assert child.poll() is None, child.communicate()
                time.sleep(0.1)
        assert ref.digest.split(":")[1][:12] in body
    finally:
        os.kill(child.pid, signal.SIGINT)
        out, _err = child.communicate(timeout=60)
    assert f"http://127.0.0.1:{port}/" in out


def test_command_refuses_a_location_that_is_not_a_store(tmp_path: Path) -> None:
    """Pointing the UI at a directory of foreign files fails with a message, serving nothing."""
    (tmp_path / "notes.txt").write_text("not a store")
    argv = [sys.executable, "-m", "payloadkit.cli", "ui", str(tmp_path), "--port", str(free_port())]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "payloadkit: error:" in done.stderr
