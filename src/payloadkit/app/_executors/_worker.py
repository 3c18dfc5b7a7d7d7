"""The main program of a worker process: ``python -m payloadkit.app._executors._worker FD PID``.

The parent (process ``PID``) passes one end of a socket pair as file descriptor ``FD``.
Over it flow the messages of `payloadkit.app._protocol`: first a ``Bootstrap`` that
configures this process (the App's store, its storage options, signing keys, and the
parent's ``sys.path``) and carries the pickled Work; then calls, each answered with a
``Status`` when it starts, ``StateUpdate`` messages while it sets attributes, and an
``Outcome`` when it ends. The settings travel only
through this private channel. Once the Work is loaded, the worker warms up in the
background (``payloadkit.app._warmup``), so that its first call does not pay for first
use. After each call the worker writes a sync marker on stdout and stderr, so that the
parent prints everything the run printed before it reports the run done. The worker
ends with its parent, its Work's child processes with it (``die_with_parent``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from multiprocessing.connection import Connection

SYNC_MARK = b"\x1epayloadkit-sync "


def _sync(seq: int) -> None:
    for stream, fd in ((sys.stdout, 1), (sys.stderr, 2)):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
        with contextlib.suppress(OSError):
            os.write(fd, SYNC_MARK + str(seq).encode() + b"\n")


def serve(conn: Connection) -> None:
    """Answer calls until the parent says stop or goes away."""
    from payloadkit.app._host import WorkHost, apply_settings, failure
    from payloadkit.app._protocol import Call, Ready, Stop
    from payloadkit.app._warmup import start_warm_up

    lock = threading.Lock()

    def send(message: object) -> None:  # live state comes from other threads too
        with lock:
            conn.send(message)

    boot = conn.recv()
    try:
        host = WorkHost(boot.name, boot.work, apply_settings(boot.settings), events=send)
    except BaseException as exc:
        send(failure(0, exc))
        return
    # With the Work loaded, its modules are imported: warm up what its payloads will use.
    start_warm_up()
    send(Ready(os.getpid()))
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if isinstance(message, Stop):
            return
        if isinstance(message, Call):
            outcome = host.execute(message)  # sends a Status first, StateUpdates meanwhile
            _sync(outcome.seq)
            send(outcome)


def main() -> None:
    """Entry point: serve the Work on the inherited descriptor."""
    from payloadkit.app._signals import die_with_parent

    # Ctrl-C in the terminal is the App's to handle: it stops its workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(int(sys.argv[1]))
    die_with_parent(int(sys.argv[2]))
    try:
        serve(conn)
    finally:
        conn.close()


if __name__ == "__main__":
    main()
