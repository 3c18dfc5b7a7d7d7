"""L.storage on every executor: Path and Drive move files through the store, Payload's API."""

from __future__ import annotations

import os
import pickle
from datetime import timedelta
from typing import Any

import payloadkit as pk
import payloadkit.lightning as L
from payloadkit._gc import collect_garbage
from payloadkit.app._record import record_digests


class Writer(L.LightningWork):
    def __init__(self) -> None:
        super().__init__()
        self.model = L.storage.Path("lit://out/model.txt")
        self.folder = L.storage.Path("lit://out/folder")

    def run(self) -> None:
        os.makedirs("out/folder/sub", exist_ok=True)
        with open(self.model, "w") as handle:
            handle.write("weights")
        with open("out/folder/sub/a.txt", "w") as handle:
            handle.write("a")


class Reader(L.LightningWork):
    def __init__(self) -> None:
        super().__init__()
        self.seen = ""

    def run(self, model: Any, folder: Any) -> None:
        with open(model) as handle:
            self.seen = handle.read()
        with open(os.path.join(folder, "sub", "a.txt")) as handle:
            self.seen += handle.read()


class Moves(L.LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.writer = Writer()
        self.reader = Reader()
        self.digest = ""
        self._removed = False

    def run(self) -> None:
        self.writer.run()
        if self.writer.has_succeeded:
            self.digest = self.writer.model.hash or ""
            if not self._removed:  # once: the reader's copies arrive in this same folder
                self._removed = True
                for path in ("out/model.txt", "out/folder/sub/a.txt"):
                    os.remove(path)  # the reader gets them from the store, not this disk
            self.reader.run(self.writer.model, self.writer.folder)
        if self.reader.has_succeeded:
            self.stop()


def test_path_moves_a_file_and_a_folder(executor: Any, store: pk.Store) -> None:
    """A file and a folder a Work writes reach another Work through the store (verified
    payloads the run record references)."""
    app = L.LightningApp(Moves(), storage=store, executor=executor)
    record = app.run()
    root: Any = app.root
    assert root.reader.seen == "weightsa"
    assert root.digest
    assert root.digest in record_digests(record)
    assert store.exists(root.digest)


class Putter(L.LightningWork):
    def run(self, drive: Any) -> None:
        with open("a.txt", "w") as handle:
            handle.write("Hello World !")
        drive.put("a.txt")
        os.remove("a.txt")


class Getter(L.LightningWork):
    def __init__(self) -> None:
        super().__init__()
        self.listed: list[str] = []
        self.text = ""
        self.before = True
        self.after: list[str] = ["not run"]

    def run(self, drive: Any) -> None:
        self.listed = drive.list("")
        self.before = os.path.exists("a.txt")
        drive.get("a.txt")
        with open("a.txt") as handle:
            self.text = handle.read()
        drive.delete("a.txt")
        self.after = drive.list("")


class Shares(L.LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.drive_1 = L.storage.Drive("lit://drive_1")
        self.work_1 = Putter()
        self.work_2 = Getter()

    def run(self) -> None:
        self.work_1.run(self.drive_1)
        self.work_2.run(self.drive_1)
        self.stop("Application End!")


def test_drive_shares_files(executor: Any, store: pk.Store) -> None:
    """Drive.put in one Work, list/get/delete in another: the file goes through the store."""
    app = L.LightningApp(Shares(), storage=store, executor=executor)
    app.run()
    root: Any = app.root
    assert root.work_2.listed == ["a.txt"]
    assert root.work_2.before is False
    assert root.work_2.text == "Hello World !"
    assert root.work_2.after == []


class Keeps(L.LightningWork):
    def run(self, drive: Any) -> None:
        os.makedirs("data", exist_ok=True)
        with open("data/kept.txt", "w") as handle:
            handle.write("kept")
        drive.put("data")


class KeepFlow(L.LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.drive = L.storage.Drive("lit://kept")
        self.work = Keeps()

    def run(self) -> None:
        self.work.run(self.drive)
        self.stop()


def test_gc_keeps_drive_files(store: pk.Store) -> None:
    """The run record lists every Drive file's payload, so garbage collection keeps them."""
    record = L.LightningApp(KeepFlow(), storage=store, executor="process").run()
    (digests,) = [d for name, d in record["drives"].items() if name.startswith("kept.")]
    report = collect_garbage(store, dry_run=False, older_than=timedelta(0))
    assert all(store.exists(d) for d in digests), report
    assert set(digests) <= set(record["payloads"])


class Upper(L.storage.Payload):
    def save(self, obj: Any, path: str) -> None:
        with open(path, "w") as handle:
            handle.write(obj.upper())

    def load(self, path: str) -> Any:
        with open(path) as handle:
            return handle.read() + "!"


class Makes(L.LightningWork):
    def __init__(self) -> None:
        super().__init__()
        self.text = None

    def run(self) -> None:
        self.text = Upper("hello")


class Uses(L.LightningWork):
    def __init__(self) -> None:
        super().__init__()
        self.got = ""
        self.name_seen = ""

    def run(self, text: Any) -> None:
        self.got = text.value
        self.name_seen = text.name


class CustomFlow(L.LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.makes = Makes()
        self.uses = Uses()

    def run(self) -> None:
        self.makes.run()
        self.uses.run(self.makes.text)


def test_payload_subclass_save_and_load_are_honoured(executor: Any, store: pk.Store) -> None:
    """A Payload subclass's save(obj, path) writes what the store keeps; its load reads it
    back where the payload arrives; the payload keeps its name."""
    app = L.LightningApp(CustomFlow(), storage=store, executor=executor)
    app.run()
    root: Any = app.root
    assert root.uses.got == "HELLO!"
    assert root.uses.name_seen == "text"
    assert isinstance(root.makes.text, Upper)
    assert root.makes.text.exists_remote()
    assert root.makes.text.hash == root.makes.text.ref.digest


def test_payload_api_names(store: pk.Store) -> None:
    """name, hash (the digest), exists_remote() and get() work on a Lightning Payload, which
    pickles as its reference."""
    payload = L.storage.Payload({"a": 1})
    assert payload.exists_remote() is False
    ref = payload._pk_save(store)
    assert payload.hash == ref.digest
    assert payload.exists_remote() is True
    copy = pickle.loads(pickle.dumps(payload))
    assert isinstance(copy, L.storage.Payload)
    assert copy.get() == {"a": 1}
