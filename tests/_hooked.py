"""A real backend with a hook: runs a callback once, right after a chosen call on a chosen key.

Tests use it to put a writer, a reader or a collection at one exact point of another's
work (between gc's deletion of a manifest and its look at the run records, say), through
the public Backend API only: the wrapped backend does the real work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from payloadkit.stores import Backend, KeyInfo


class Hooked(Backend):
    """Delegates every call to ``inner``; ``when(method, key_test, then)`` arms a one-shot hook."""

    def __init__(self, inner: Backend) -> None:
        super().__init__(inner.url)
        self.inner = inner
        self.supports_mmap = inner.supports_mmap  # type: ignore[misc]
        self.atomic_move = inner.atomic_move  # type: ignore[misc]
        self.remote = inner.remote  # type: ignore[misc]
        self._hooks: list[tuple[str, Callable[[str], bool], Callable[[], None]]] = []
        self.fired: list[str] = []

    def when(self, method: str, key_test: Callable[[str], bool], then: Callable[[], None]) -> None:
        """After the next ``method`` call whose key passes ``key_test``, call ``then`` once."""
        self._hooks.append((method, key_test, then))

    def before(
        self, method: str, key_test: Callable[[str], bool], then: Callable[[], None]
    ) -> None:
        """Before the next ``method`` call whose key passes ``key_test``, call ``then`` once."""
        self._hooks.append((f"before {method}", key_test, then))

    def _after(self, method: str, key: str) -> None:
        for hook in list(self._hooks):
            name, test, then = hook
            if name == method and test(key):
                self._hooks.remove(hook)
                self.fired.append(f"{method} {key}")
                then()

    def read(self, key: str, limit: int) -> bytes:
        data = self.inner.read(key, limit)
        self._after("read", key)
        return data

    def read_object(self, key: str, size: int, callback: Any = None) -> memoryview:
        data = self.inner.read_object(key, size, callback)
        self._after("read_object", key)
        return data

    def write_frames(self, key: str, frames: Sequence[memoryview], callback: Any = None) -> None:
        self.inner.write_frames(key, frames, callback)
        self._after("write", key)

    def write(self, key: str, data: bytes) -> None:
        self.inner.write(key, data)
        self._after("write", key)

    def write_file(
        self, key: str, path: str, callback: Any = None, *, consume: bool = False
    ) -> None:
        self.inner.write_file(key, path, callback)
        self._after("write", key)

    def stat(self, key: str) -> KeyInfo:
        info = self.inner.stat(key)
        self._after("stat", key)
        return info

    def exists(self, key: str) -> bool:
        found = self.inner.exists(key)
        self._after("exists", key)
        return found

    def delete(self, key: str) -> None:
        self._after("before delete", key)
        self.inner.delete(key)
        self._after("delete", key)

    def list(self, prefix: str) -> Iterator[KeyInfo]:
        found = list(self.inner.list(prefix))
        self._after("list", prefix)
        return iter(found)

    def move(self, source: str, target: str) -> None:
        self.inner.move(source, target)
        self._after("move", source)

    def copy(self, source: str, target: str) -> None:
        self.inner.copy(source, target)
        self._after("copy", source)

    def spool_dir(self) -> str | None:
        return self.inner.spool_dir()
