"""``L.storage.Drive``: a named folder shared by every Work of an App, kept in its store.

Each file put in a Drive is saved as a payload (content-addressed, verified) and listed
by one record of kind ``drives`` in the store (``records/drives/<drive>.<key>.json``)
holding the file's relative path and its payload reference. One record per file means
Works putting files at the same time never overwrite each other's entries. Every run
record lists the payloads of all Drive records present when the run ended (see
`payloadkit.app._record`), so garbage collection keeps Drive files.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import re
from typing import Any

from payloadkit._payload import Payload
from payloadkit._ref import PayloadRef
from payloadkit.app._record import DRIVES_KIND
from payloadkit.errors import ConfigurationError, PayloadNotFoundError
from payloadkit.stores import Store
from payloadkit.stores._opened import default_store, store_for_url

__all__ = ["Drive", "drive_from_state"]

_KIND = "payloadkit.lightning.Drive"
_FILE = "payloadkit.lightning.drive-file"
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")


class Drive:
    """A shared folder: ``Drive("lit://data")``; ``put``, ``get``, ``list`` and ``delete``.

    Paths are relative to the working directory of the Work that calls the method.

    ```python
    import payloadkit.lightning as L

    drive = L.storage.Drive("lit://drive-doc")
    assert drive.name == "drive-doc"
    ```
    """

    def __init__(
        self,
        id: str,
        allow_duplicates: bool = False,
        component_name: str | None = None,
        root_folder: str | None = None,
    ) -> None:
        if not isinstance(id, str) or not id.startswith("lit://"):
            raise ConfigurationError(
                f"A Drive id starts with 'lit://' (Drive('lit://data')), not {id!r}."
            )
        name = id[len("lit://") :].strip("/")
        if not _NAME.fullmatch(name):
            raise ConfigurationError(
                f"The Drive name {name!r} may hold only letters, digits, '.', '_' and '-'."
            )
        self.id, self.name = id, name
        self.component_name = component_name or ""
        self.allow_duplicates = allow_duplicates
        self.root_folder = root_folder
        self._pk_store_url: str | None = None

    def put(self, path: str) -> None:
        """Save the file (or every file of the folder) ``path`` into the Drive."""
        local = pathlib.Path(path)
        if not local.exists():
            raise FileNotFoundError(f"Drive.put: no file or folder {path!r} here.")
        files = [local] if local.is_file() else sorted(p for p in local.rglob("*") if p.is_file())
        store = self._store()
        for file in files:
            ref = store.put(file.read_bytes(), serializer="pickle")
            record: dict[str, Any] = {"kind": _FILE, "drive": self.name}
            record["path"] = _relative(file)
            record |= {"component": self.component_name, "payload": _payload(ref)}
            store.put_record(DRIVES_KIND, self._record_name(_relative(file)), record)

    def list(self, path: str = ".", component_name: str | None = None) -> list[str]:
        """The names of the files and folders directly inside ``path`` in the Drive."""
        prefix = _prefix(path)
        found = {
            entry[len(prefix) :].split("/", 1)[0]
            for entry in self._entries()
            if entry.startswith(prefix)
        }
        return sorted(found)

    def get(
        self,
        path: str,
        component_name: str | None = None,
        timeout: float | None = None,
        overwrite: bool = False,
    ) -> None:
        """Fetch the file (or every file below the folder) ``path`` from the Drive to here."""
        entries = self._entries()
        wanted = _prefix(path)
        chosen = {k: v for k, v in entries.items() if k == path.strip("/") or k.startswith(wanted)}
        if not chosen:
            raise FileNotFoundError(f"The Drive {self.name!r} holds no {path!r}.")
        for relative, ref in chosen.items():
            target = pathlib.Path(relative)
            if target.exists() and not overwrite:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(Payload.from_ref(ref).value)

    def delete(self, path: str) -> None:
        """Remove the file (or every file below the folder) ``path`` from the Drive."""
        store = self._store()
        wanted = _prefix(path)
        removed = [k for k in self._entries() if k == path.strip("/") or k.startswith(wanted)]
        if not removed:
            raise FileNotFoundError(f"The Drive {self.name!r} holds no {path!r}.")
        for relative in removed:
            store.delete_record(DRIVES_KIND, self._record_name(relative))

    def _entries(self) -> dict[str, PayloadRef]:
        store = self._store()
        entries: dict[str, PayloadRef] = {}
        for name in store.list_records(DRIVES_KIND):
            if not name.startswith(self.name + "."):
                continue
            try:
                record = store.get_record(DRIVES_KIND, name)
            except PayloadNotFoundError:
                continue  # deleted meanwhile
            if record.get("kind") == _FILE and record.get("drive") == self.name:
                entries[str(record["path"])] = PayloadRef.from_dict(record["payload"]["ref"])
        return entries

    def _record_name(self, relative: str) -> str:
        return f"{self.name}.{hashlib.sha256(relative.encode()).hexdigest()[:40]}"

    def _store(self) -> Store:
        if self._pk_store_url is not None:
            return store_for_url(self._pk_store_url)
        from payloadkit.app._runtime import active_runtime

        runtime = active_runtime()
        return runtime.store if runtime is not None else default_store()

    def _pk_state(self, store: Store) -> dict[str, Any]:
        self._pk_store_url = store.url
        return {"kind": _KIND, "id": self.id, "component_name": self.component_name} | {
            "store": store.url
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Drive) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"Drive({self.id!r})"


def drive_from_state(data: dict[str, Any]) -> Drive:
    """The Drive whose state form is ``data``."""
    drive = Drive(data["id"], component_name=data.get("component_name") or None)
    drive._pk_store_url = data.get("store")
    return drive


def _relative(file: pathlib.Path) -> str:
    return pathlib.Path(os.path.relpath(file)).as_posix()


def _prefix(path: str) -> str:
    cleaned = path.strip().strip("/")
    return "" if cleaned in ("", ".") else cleaned + "/"


def _payload(ref: PayloadRef) -> dict[str, Any]:
    return {"kind": "payloadkit.Payload", "ref": ref.to_dict()}
