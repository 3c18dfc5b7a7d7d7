"""``file``: a file's own bytes, stored byte for byte under the file's own suffix.

``payloadkit put STORE FILE`` stores files this way: the stored object *is* the file (its
digest is the digest of the file's bytes), and ``payloadkit get`` writes it back
unchanged. In Python a `File` is what is saved and what loads:

```python
import payloadkit as pk
from payloadkit._serializers._file import File, file_serializer

store = pk.open_store("memory://file-doc")
ref = store.put(File(data=b"a,b\\n1,2\\n"), file_serializer(".csv"))
assert bytes(store.get(ref)) == b"a,b\\n1,2\\n"
```
"""

from __future__ import annotations

import functools
import re
import shutil
from typing import Any

from payloadkit._serializer import Buffer, Serializer
from payloadkit.errors import SerializationError

__all__ = ["File", "FileSerializer", "file_serializer", "suffix_of"]

#: Suffixes a store can record (as its layout allows): up to three parts like ``.tar.gz``.
_SUFFIX_RE = re.compile(r"(?:\.[A-Za-z0-9_-]{1,16}){1,3}\Z")
_COPY_CHUNK = 1 << 20


class File:
    """A file's bytes: a local ``path`` to read them from, or the ``data`` itself.

    A loaded File holds ``data`` (a writable view of the verified bytes); ``bytes(f)``
    gives them as bytes and `write_to` saves them to a path.
    """

    def __init__(self, path: str | None = None, *, data: Buffer | None = None) -> None:
        if (path is None) == (data is None):
            raise SerializationError("A File is given either a path or data, not both or neither.")
        self.path = path
        self.data = None if data is None else memoryview(data)

    def __bytes__(self) -> bytes:
        if self.data is not None:
            return bytes(self.data)
        with open(str(self.path), "rb") as f:
            return f.read()

    def __repr__(self) -> str:
        if self.data is not None:
            return f"File(<{self.data.nbytes} bytes>)"
        return f"File({self.path!r})"

    def write_to(self, target: str) -> None:
        """Write the bytes to the local file ``target``, in chunks."""
        with open(target, "wb") as out:
            if self.data is not None:
                out.write(self.data)
                return
            with open(str(self.path), "rb") as source:
                shutil.copyfileobj(source, out, _COPY_CHUNK)


class FileSerializer(Serializer):
    """The bytes of a `File`, unchanged; chosen by name only (it claims no type)."""

    name = "file"
    version = "1"
    writes_files = True
    writes_sequentially = True

    def dump_file(self, obj: Any, path: str) -> None:
        if not isinstance(obj, File):
            raise SerializationError(
                f"the file serializer stores payloadkit File objects, not {type(obj).__name__}"
            )
        obj.write_to(path)

    def loads(self, data: memoryview) -> File:
        return File(data=data)


def suffix_of(name: str) -> str:
    """The suffix a stored copy of the file ``name`` keeps (``""`` when it has none a store
    can record): ``frame.parquet`` -> ``.parquet``, ``logs.tar.gz`` -> ``.tar.gz``."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].lstrip(".")
    stem, dot, last = base.rpartition(".")
    if not dot:
        return ""
    suffix = "." + last
    if stem.lower().endswith(".tar"):
        suffix = ".tar" + suffix
    return suffix if _SUFFIX_RE.match(suffix) else ""


@functools.cache
def file_serializer(suffix: str) -> FileSerializer:
    """The ``file`` serializer storing objects under ``suffix`` (``""``: no suffix)."""
    if suffix and not _SUFFIX_RE.match(suffix):
        raise SerializationError(f"{suffix!r} is not a suffix a store can record.")
    cls = type("FileSerializer", (FileSerializer,), {"extension": suffix})
    return cls()  # type: ignore[no-any-return]
