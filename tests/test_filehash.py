"""Hashing a file while its writer writes it: the digest is always that of the finished file."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from payloadkit import _filehash
from payloadkit._digest import hash_buffers


def _digest_of(path: Path) -> tuple[str, int]:
    data = memoryview(path.read_bytes())
    return hash_buffers([data]), data.nbytes


def _appender(path: Path, chunks: list[bytes], pause: float = 0.0) -> None:
    with open(path, "ab") as f:
        for chunk in chunks:
            f.write(chunk)
            f.flush()
            if pause:
                time.sleep(pause)


def test_appended_file_hashes_like_the_whole_file(tmp_path: Path) -> None:
    """Chunks appended with pauses (the follower catches up and waits) give the file's digest."""
    path = tmp_path / "out.bin"
    path.touch()
    chunks = [os.urandom(n) for n in (10, 3 << 20, 1, 0, 70_000, (1 << 20) + 3)]
    result = _filehash.hash_while_writing(str(path), lambda: _appender(path, chunks, 0.005))
    assert result == _digest_of(path)
    assert result[1] == sum(map(len, chunks))


def test_sha256_and_empty_files(tmp_path: Path) -> None:
    """A writer that writes nothing gives the empty digest; sha256 follows like blake3."""
    path = tmp_path / "empty.bin"
    path.touch()
    assert _filehash.hash_while_writing(str(path), lambda: None) == (hash_buffers([]), 0)
    data = os.urandom(5000)
    result = _filehash.hash_while_writing(
        str(path), lambda: _appender(path, [data]), algorithm="sha256"
    )
    assert result == (hash_buffers([memoryview(data)], "sha256"), 5000)


def test_writer_replacing_the_file_is_hashed_again(tmp_path: Path) -> None:
    """A writer that puts a new file at the path gets that file's digest, not the old one's."""
    path = tmp_path / "out.bin"
    path.write_bytes(b"old contents that the writer replaces")

    def replace() -> None:
        fresh = tmp_path / "fresh.bin"
        fresh.write_bytes(os.urandom(4096))
        os.replace(fresh, path)

    assert _filehash.hash_while_writing(str(path), replace) == _digest_of(path)


def test_writer_error_propagates_and_stops_the_follower(tmp_path: Path) -> None:
    """A failing writer's exception reaches the caller and no hashing thread outlives it."""
    path = tmp_path / "out.bin"
    path.touch()

    def fail() -> None:
        _appender(path, [b"partial"])
        raise ValueError("writer failed")

    with pytest.raises(ValueError, match="writer failed"):
        _filehash.hash_while_writing(str(path), fail)
    assert not [t for t in threading.enumerate() if t.name == "payloadkit-hash"]
