"""The main program of a worker process: ``python -m payloadkit.app._executors._worker FD``.

The parent passes one end of a socket pair as file descriptor ``FD``. Over it, the first
message configures this process (the App's store, its storage options, signing keys, and
the parent's ``sys.path``) and carries the pickled Work; later messages are calls, each
answered with an Outcome. The settings travel only through this private channel. Once
the Work is loaded, the worker warms up in the background (``payloadkit.app._warmup``),
so that its first call does not pay for first use. After each call the worker writes a
sync marker on stdout and stderr, so that the parent prints everything the run printed
before it reports the run done.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from multiprocessing.connection import Connection
from typing import Any

SYNC_MARK = b"\x1epayloadkit-sync "


def _sync(seq: int) -> None:
    for stream, fd in ((sys.stdout, 1), (sys.stderr, 2)):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
        os.write(fd, SYNC_MARK + str(seq).encode() + b"\n")


def serve(conn: Connection) -> None:
    """Answer calls until the parent says stop or goes away."""
    from payloadkit.app._host import WorkHost, apply_settings, failure
    from payloadkit.app._warmup import start_warm_up

    _, name, work, blob = conn.recv()
    try:
        host = WorkHost(name, work, apply_settings(blob))
    except Exception as exc:
        conn.send(("failed", failure(0, exc)))
        return
    # With the Work loaded, its modules are imported: warm up what its payloads will use.
    start_warm_up()
    conn.send(("ready", None))
    while True:
        try:
            message: Any = conn.recv()
        except EOFError:
            return
        if message[0] == "stop":
            return
        outcome = host.execute(message[1])
        _sync(outcome.seq)
        conn.send(("done", outcome))


def main() -> None:
    """Entry point: serve the Work on the inherited descriptor."""
    # Ctrl-C in the terminal is the App's to handle: it stops its workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(int(sys.argv[1]))
    try:
        serve(conn)
    finally:
        conn.close()


if __name__ == "__main__":
    main()
