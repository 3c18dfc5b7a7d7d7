"""``L.storage.Path``: a file or folder one Work writes and other Works read.

A Path is a ``pathlib.Path`` relative to the Work's working directory (``lit://`` is
accepted and dropped). When the state of the Work holding it is taken (after its run,
or live while it runs), an existing file or folder is saved to the App's store as a
payload, content-addressed and verified like any other, and the Path travels as its
reference. A Work that receives the Path as a ``run`` argument finds the file in place
before its code starts; any Work can fetch it with `Path.get`.
"""

from __future__ import annotations

import os
import pathlib
import sys
from typing import Any

from payloadkit._payload import Payload
from payloadkit._ref import PayloadRef
from payloadkit.app._state import takes_files
from payloadkit.errors import PayloadNotFoundError
from payloadkit.stores import Store

__all__ = ["Path", "path_from_state"]

_KIND = "payloadkit.lightning.Path"
_LIT = "lit://"
_Base: Any = type(pathlib.Path())


def _strip(part: Any) -> Any:
    if isinstance(part, str) and part.startswith(_LIT):
        return part[len(_LIT) :]
    return part


class Path(_Base):  # type: ignore[misc]
    """A path whose file or folder moves between Works through the store.

    ```python
    import payloadkit.lightning as L

    path = L.storage.Path("lit://models/model.pt")
    assert str(path) == "models/model.pt"
    assert path.exists_remote() is False
    ```
    """

    def __new__(cls, *parts: Any) -> Path:
        return super().__new__(cls, *(_strip(p) for p in parts))  # type: ignore[no-any-return]

    if sys.version_info >= (3, 12):  # pathlib takes the parts in __init__ from 3.12 on

        def __init__(self, *parts: Any) -> None:
            super().__init__(*(_strip(p) for p in parts))

    @property
    def origin_name(self) -> str:
        """The name of the Work that wrote the file ('' until one did)."""
        return str(getattr(self, "_pk_origin", ""))

    @property
    def hash(self) -> str | None:
        """The digest of the saved file or folder, or None before it was saved."""
        ref = self._pk_ref
        return ref.digest if ref is not None else None

    @property
    def _pk_ref(self) -> PayloadRef | None:
        return getattr(self, "_pk_saved", None)

    def exists_local(self) -> bool:
        """True when the file or folder is here."""
        return bool(self.exists())

    def exists_remote(self) -> bool:
        """True when the file or folder was saved to the store."""
        return self._pk_ref is not None

    def get(self, overwrite: bool = False) -> None:
        """Fetch the file or folder from the store to this path (files already here are kept
        unless ``overwrite``)."""
        ref = self._pk_ref
        if ref is None:
            raise PayloadNotFoundError(
                f"The Path {str(self)!r} was never saved: the Work writing it "
                f"({self.origin_name or 'none yet'}) must create it in its run() first."
            )
        if self.is_file() and not overwrite:
            return
        contents: dict[str, bytes] = Payload.from_ref(ref).value
        for relative, data in contents.items():
            target = pathlib.Path(self, relative) if relative else pathlib.Path(self)
            if target.exists() and not overwrite:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)

    def to_dict(self) -> dict[str, Any]:
        """Lightning's dict form: the path, its origin and its saved reference."""
        ref = self._pk_ref
        payload = {"kind": "payloadkit.Payload", "ref": ref.to_dict()} if ref else None
        return {"kind": _KIND, "path": str(self), "origin": self.origin_name, "payload": payload}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Path:
        """The Path `to_dict` described."""
        return path_from_state(data)

    _pk_saved: PayloadRef | None
    _pk_origin: str

    def _pk_state(self, store: Store) -> dict[str, Any]:
        # The file is read where the Work that writes it ran (or when never saved yet);
        # elsewhere (the Flow passing the Path on) the saved reference travels as it is.
        if takes_files() or self._pk_ref is None:
            contents = _contents(pathlib.Path(self))
            if contents is not None:
                self._pk_saved = store.put(contents, serializer="pickle")
        return self.to_dict()

    def _pk_arrive(self) -> None:
        """Where a Work receives the Path as an argument: fetch the file if it is not here."""
        if self._pk_ref is not None:
            self.get()

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (path_from_state, (self.to_dict(),))


def path_from_state(data: dict[str, Any]) -> Path:
    """The Path whose dict form is ``data``."""
    path = Path(data["path"])
    path._pk_origin = data.get("origin") or ""
    payload = data.get("payload")
    path._pk_saved = PayloadRef.from_dict(payload["ref"]) if payload else None
    return path


def _contents(path: pathlib.Path) -> dict[str, bytes] | None:
    """A file as {"": bytes}, a folder as {relative path: bytes}; None when it is not there."""
    if path.is_file():
        return {"": path.read_bytes()}
    if not path.is_dir():
        return None
    found: dict[str, bytes] = {}
    for folder, _, files in os.walk(path):
        for name in files:
            full = pathlib.Path(folder, name)
            found[full.relative_to(path).as_posix()] = full.read_bytes()
    return found
