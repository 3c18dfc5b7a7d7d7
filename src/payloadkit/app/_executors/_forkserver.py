"""A fork server: a clean interpreter template from which worker processes are forked.

Starting a fresh interpreter and importing payloadkit costs a fifth of a second or more
per worker; forking a process that has done so once costs a few milliseconds. The process
executor therefore keeps, per owning process, one template interpreter (``python -m
payloadkit.app._executors._forkserver``) that imports what a worker imports before it has
its Work, then does nothing but fork on request. Each worker is a fresh fork of that
template, never a process that hosted another Work, so no Work's state, imports,
environment or working directory reach another.

When a fork of the template is as clean as a freshly started worker:

* The template runs no Work code. It imports only payloadkit's own worker modules, the
  ones every worker imports before it loads its Work, and does the thread-free part of a
  worker's warm-up (the serializer plugin scan, the fallback serializers' first use). It
  starts no thread, native ones included (a fork copies only the forking thread, so a
  lock held by another thread would stay locked): it checks that and says so when it is
  ready; otherwise the executor starts workers as fresh interpreters.
* The template is started with the environment, working directory and interpreter a
  fresh worker would get. The executor keeps it only while those, and the packages
  installed (the modification times of the ``site-packages`` directories), are
  unchanged; otherwise (the App set an environment variable between runs, a plugin was
  installed) it starts a new template.
* Each fork gets its own socket to the App and its own stdout and stderr pipes, passed
  over the template's control socket (``SCM_RIGHTS``), leads its own process group, and
  from there runs exactly what a fresh worker runs (``_worker.serve``).

The template dies with the process that owns it and takes its forks along: it watches
a pipe whose writing end only the owner holds (the kernel closes it however the owner
ends, SIGKILL included) and checks that its parent is still the owner; either way it
kills every fork's process group and exits. Each fork watches the same pipe itself, asks
the kernel for SIGTERM when the template dies (``PR_SET_PDEATHSIG``: the template has one
thread, so the request holds), and checks its parent. The template reaps its forks and
reports how each ended, so that the App can say a worker was killed by a signal.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import pickle
import select
import signal
import socket
import subprocess
import sys
import threading
import traceback
from typing import IO, Any

__all__ = ["ForkServer", "Forked", "fork_server", "serve_forks"]

#: Longest control message (an environment travels in each fork request).
_MAX_MESSAGE = 1 << 20
_READY_WAIT = 60.0
_WATCH_EVERY = 0.5
_PR_SET_PDEATHSIG = 1


class Forked:
    """A worker forked by the template, with what the process executor uses of a Popen."""

    def __init__(self, stdout: IO[bytes], stderr: IO[bytes]) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.returncode: int | None = None
        self._pid: int | None = None
        self._known = threading.Event()
        self._ended = threading.Event()

    @property
    def pid(self) -> int:
        """The worker's process id (waits for the template's answer; 0 if it never came)."""
        self._known.wait(_READY_WAIT)
        return self._pid or 0

    def _started(self, pid: int) -> None:
        self._pid = pid
        self._known.set()

    def _exited(self, code: int | None) -> None:
        self.returncode = code
        self._known.set()
        self._ended.set()

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code (negative: the signal that killed it); TimeoutExpired meanwhile."""
        if not self._ended.wait(timeout):
            raise subprocess.TimeoutExpired("forked worker", timeout or 0.0)
        return self.returncode


class ForkServer:
    """The App's side of one template process: asks it for forks and hears how they end."""

    def __init__(self, env: dict[str, str], key: tuple[Any, ...]) -> None:
        self.key = key
        self.owner = os.getpid()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        life_r, self._life_w = os.pipe()  # neither end is inherited by other children
        try:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "payloadkit.app._executors._forkserver",
                    str(theirs.fileno()),
                    str(life_r),
                    str(os.getpid()),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(), life_r),
                env=env,
                process_group=0,
            )
        finally:
            theirs.close()
            os.close(life_r)
        self._sock = ours
        self._send_lock = threading.Lock()
        self._lock = threading.Lock()
        self._waiting: dict[int, Forked] = {}
        self._running: dict[int, Forked] = {}
        self._tokens = 0
        self._ready = threading.Event()
        self.usable = False
        self.closed = False
        self._reader = threading.Thread(target=self._read, name="payloadkit-forks", daemon=True)
        self._reader.start()

    def wait_ready(self, timeout: float = _READY_WAIT) -> bool:
        """True once the template is up and fit to fork (no thread besides its main one)."""
        self._ready.wait(timeout)
        return self.usable and not self.closed

    def fork(self, conn_fd: int, env: dict[str, str], cwd: str) -> Forked:
        """A new worker serving the socket ``conn_fd`` (which the caller then closes)."""
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        handle = Forked(os.fdopen(out_r, "rb"), os.fdopen(err_r, "rb"))
        try:
            with self._lock:
                self._tokens += 1
                token = self._tokens
                self._waiting[token] = handle
            message = pickle.dumps(("fork", token, env, cwd))
            try:
                with self._send_lock:
                    socket.send_fds(self._sock, [message], [conn_fd, out_w, err_w])
            except OSError:
                with self._lock:
                    self._waiting.pop(token, None)
                self.closed = True
                handle._exited(None)
        finally:
            os.close(out_w)
            os.close(err_w)
        return handle

    def _read(self) -> None:
        try:
            while True:
                data = self._sock.recv(_MAX_MESSAGE)
                if not data:
                    break
                self._receive(pickle.loads(data))
        except OSError:
            pass
        self.closed = True
        self._ready.set()
        with self._lock:
            orphans = [*self._waiting.values(), *self._running.values()]
            self._waiting.clear()
            self._running.clear()
        for handle in orphans:  # the template is gone, and its forks with it
            handle._exited(None)

    def _receive(self, message: tuple[Any, ...]) -> None:
        match message:
            case ("ready", _pid, fit):
                self.usable = bool(fit)
                self._ready.set()
            case ("forked", token, pid):
                with self._lock:
                    handle = self._waiting.pop(token)
                    self._running[pid] = handle
                handle._started(pid)
            case ("failed", token):
                with self._lock:
                    handle = self._waiting.pop(token)
                handle._exited(None)
            case ("exited", pid, code):
                with self._lock:
                    ended = self._running.pop(pid, None)
                if ended is not None:
                    ended._exited(code)

    def close(self) -> None:
        """End the template (it kills forks still running) and reap it.

        Only the process that started it does so: a process forked from it (by the
        user's code) inherited this object, and the template is not its to end.
        """
        if os.getpid() != self.owner:
            return
        self.closed = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            os.close(self._life_w)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self._reader.join(timeout=10)
        self._sock.close()


_server: ForkServer | None = None
_server_lock = threading.Lock()
_at_exit = False


def fork_server(env: dict[str, str]) -> ForkServer | None:
    """This process's template for workers started with ``env``, or None where forking
    is not available or not safe (then workers start as fresh interpreters)."""
    global _server
    if not sys.platform.startswith("linux") or os.environ.get("PAYLOADKIT_WORKER_START") == (
        "spawn"
    ):
        return None
    key = (sys.executable, os.getcwd(), tuple(sorted(env.items())), os.getpid(), _installed())
    with _server_lock:
        if _server is not None and (_server.key != key or _server.closed):
            old, _server = _server, None
            old.close()
        if _server is None:
            global _at_exit
            if not _at_exit:
                atexit.register(shutdown)  # reaped at exit (it would end by itself anyway)
                _at_exit = True
            _server = ForkServer(env, key)
        server = _server
    if not server.wait_ready():
        with _server_lock:
            if _server is server:
                _server = None
        server.close()
        return None
    return server


def _forget_in_child() -> None:
    """In a process forked from the owner: its template is the owner's, not this one's."""
    global _server
    _server = None


os.register_at_fork(after_in_child=_forget_in_child)


def _installed() -> tuple[tuple[str, int], ...]:
    """The modification times of the import path's package directories: installing or
    removing a package (a serializer plugin, say) changes them; a new template is started."""
    found = []
    for entry in sys.path:
        if os.path.basename(entry) not in ("site-packages", "dist-packages"):
            continue
        with contextlib.suppress(OSError):
            found.append((entry, os.stat(entry or ".").st_mtime_ns))
    return tuple(found)


def shutdown() -> None:
    """End this process's template, if it has one (at exit it ends by itself anyway)."""
    global _server
    with _server_lock:
        server, _server = _server, None
    if server is not None:
        server.close()


# -- the template's side -------------------------------------------------------------------


def serve_forks(sock: socket.socket, life: int, owner: int) -> None:
    """The template's loop: fork on request, report exits, end with the owner."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    signal.set_wakeup_fd(wake_w)
    children: set[int] = set()

    def send(message: tuple[Any, ...]) -> None:
        with contextlib.suppress(OSError):
            sock.send(pickle.dumps(message))

    def reap() -> None:
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                children.clear()
                return
            if pid == 0:
                return
            children.discard(pid)
            send(("exited", pid, os.waitstatus_to_exitcode(status)))

    fit = _single_threaded()
    send(("ready", os.getpid(), fit))
    try:
        while os.getppid() == owner:
            watched = [sock.fileno(), life, wake_r]
            readable, _, _ = select.select(watched, [], [], _WATCH_EVERY)
            if life in readable:
                return  # the owner's end of the pipe closed: it is gone
            if wake_r in readable:
                with contextlib.suppress(OSError):
                    os.read(wake_r, 4096)
            reap()
            if sock.fileno() in readable:
                try:
                    data, fds, _flags, _addr = socket.recv_fds(sock, _MAX_MESSAGE, 3)
                except OSError:
                    return
                if not data:
                    return  # the owner closed the template
                _kind, token, env, cwd = pickle.loads(data)
                if not fit or len(fds) != 3:
                    for fd in fds:
                        os.close(fd)
                    send(("failed", token))
                    continue
                pid = os.fork()
                if pid == 0:
                    _become_worker(fds, env, cwd, life, (sock, wake_r, wake_w))
                for fd in fds:
                    os.close(fd)
                with contextlib.suppress(OSError):
                    os.setpgid(pid, pid)  # also done by the fork itself: no race either way
                children.add(pid)
                send(("forked", token, pid))
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        for pid in list(children):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _become_worker(
    fds: list[int], env: dict[str, str], cwd: str, life: int, close: tuple[Any, ...]
) -> None:
    """In the fork: take the worker's descriptors and run a worker; never returns."""
    code = 1
    try:
        with contextlib.suppress(OSError):
            os.setpgid(0, 0)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        sock, wake_r, wake_w = close
        sock.close()
        os.close(wake_r)
        os.close(wake_w)
        conn_fd, out_w, err_w = fds
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.close(out_w)
        os.close(err_w)
        if dict(os.environ) != env:
            os.environ.clear()
            os.environ.update(env)
        os.chdir(cwd)
        template = os.getppid()
        _die_with_template(template, life)

        from multiprocessing.connection import Connection

        from payloadkit.app._executors._worker import serve

        conn = Connection(conn_fd)
        try:
            serve(conn)
        finally:
            conn.close()
        code = 0
    except BaseException:
        with contextlib.suppress(Exception):
            traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _die_with_template(template: int, life: int) -> None:
    """End this fork's group when the template or the App's process is gone."""
    from payloadkit.app._signals import _end_group

    signal.signal(signal.SIGTERM, _end_group)
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != template:
        _end_group(signal.SIGTERM, None)

    def watch() -> None:
        while os.getppid() == template:
            readable, _, _ = select.select([life], [], [], _WATCH_EVERY)
            if readable:
                break
        _end_group(signal.SIGTERM, None)

    threading.Thread(target=watch, name="template-watch", daemon=True).start()


def _preload() -> None:
    """Import what every worker imports before it has its Work (see `_worker.serve`), and
    do the part of a worker's warm-up that starts no thread: the plugin scan, and the
    fallback serializers' first use. A fork then has it done already."""
    import multiprocessing.connection  # noqa: F401

    import payloadkit.app._executors._worker
    import payloadkit.app._host
    import payloadkit.app._protocol
    import payloadkit.app._warmup  # noqa: F401
    from payloadkit._registry import registry

    with contextlib.suppress(Exception):  # the same error surfaces where it is used
        for serializer in registry.likely():
            serializer.warm_up()


def _single_threaded() -> bool:
    """True when this process runs one thread, native ones counted (Linux's task list)."""
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return threading.active_count() == 1


def main() -> None:
    """Entry point: ``python -m payloadkit.app._executors._forkserver SOCK LIFE OWNER``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the App's to handle
    sock = socket.socket(fileno=int(sys.argv[1]))
    life, owner = int(sys.argv[2]), int(sys.argv[3])
    if os.getppid() != owner:
        return
    _preload()
    serve_forks(sock, life, owner)


if __name__ == "__main__":
    main()
