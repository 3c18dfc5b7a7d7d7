"""Relaying a worker's stdout or stderr to ours, line by line, prefixed with the Work's name.

The relay reads in chunks and holds at most about `CHUNK` bytes: a line longer than
that is passed on in pieces, so very large output streams through. A reader of our
output that goes away (``payloadkit run app.py | head -1``) ends the writing quietly; the
relay keeps draining the worker's pipe, so the worker never blocks on a full pipe and the
run finishes. The sync markers a worker writes after each call are taken out of the
stream and counted, so that the host reports a call done once its output is through.
"""

from __future__ import annotations

import codecs
import sys
import threading
from typing import IO

from payloadkit.app._executors._worker import SYNC_MARK

__all__ = ["CHUNK", "Relay"]

#: Read size, and the longest piece of a line held before it is passed on.
CHUNK = 64 * 1024


class Relay:
    """Relays one output stream of a worker to ours, noting the sync markers it passes."""

    def __init__(self, name: str, pipe: IO[bytes], stream: str, synced: threading.Condition):
        self.prefix = f"[{name}] "
        self.stream = stream
        self.seq = 0
        #: True once our side of the stream could not be written (its reader went away).
        self.closed = False
        self._pipe = pipe
        self._synced = synced
        self._mid_line = False
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.thread = threading.Thread(target=self._relay, name=f"{name}-{stream}", daemon=True)
        self.thread.start()

    def _relay(self) -> None:
        held = b""
        try:
            while chunk := self._pipe.read1(CHUNK):  # type: ignore[attr-defined]
                held = self._take(held + chunk)
        except (OSError, ValueError):
            pass  # the pipe was closed under us: the worker is gone
        if held:
            self._line(held)
        self._pipe.close()

    def _take(self, data: bytes) -> bytes:
        """Pass on the complete lines of ``data`` (and a long partial); what is held back."""
        *lines, rest = data.split(b"\n")
        for line in lines:
            self._line(line + b"\n")
        if len(rest) > CHUNK:  # a very long line: pass on all but a possible marker's start
            keep = len(SYNC_MARK) + 24
            self._write(rest[:-keep], complete=False)
            rest = rest[-keep:]
        return rest

    def _line(self, line: bytes) -> None:
        before, mark, after = line.partition(SYNC_MARK)
        if before:
            self._write(before, complete=True)
        if mark:
            with self._synced:
                self.seq = int(after.strip() or 0)
                self._synced.notify_all()

    def _write(self, data: bytes, complete: bool) -> None:
        if self.closed:
            return
        text = self._decoder.decode(data)
        if complete and not text.endswith("\n"):
            text += "\n"
        if not self._mid_line:
            text = self.prefix + text
        self._mid_line = not text.endswith("\n")
        try:
            out = getattr(sys, self.stream)
            out.write(text)
            out.flush()
        except (OSError, ValueError):  # a broken pipe, or a stream closed under us
            self.closed = True  # from now on, drain only
