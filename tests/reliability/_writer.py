"""Writer processes for the crash and concurrency tests (run as a script, not collected).

Usage: ``python _writer.py MODE STORE ARGS...``; see each function. Storage options for
a remote store come as JSON in the environment variable ``WRITER_STORAGE_OPTIONS`` (not
on the command line, where other users of the machine could read them).
"""

from __future__ import annotations

import json
import os
import random
import sys
import time

import numpy as np

import payloadkit as pk

MIB = 1 << 20


def content(seed: int, nbytes: int) -> np.ndarray:
    """Deterministic array of ``nbytes`` bytes for ``seed`` (element 0 holds the seed)."""
    array = np.arange(nbytes // 8, dtype=np.uint64)
    array *= np.uint64(2654435761)
    array ^= np.uint64(seed)
    array[0] = seed
    return array


def crash(store_url: str, seed: str) -> None:
    """Put 256 MiB payloads forever (numpy, then pickle with an out-of-band buffer); say when each starts."""
    store = pk.open_store(store_url)
    for i in range(10**6):
        array = content(int(seed) * 1000 + i, 256 * MIB)
        obj = array if i % 2 == 0 else {"i": i, "array": array}
        print(f"start {i}", flush=True)
        store.put(obj)
        print(f"done {i}", flush=True)


def same(store_url: str, seed: str, go_file: str) -> None:
    """Wait for ``go_file``, then put the payload of ``seed`` and print its digest."""
    store = pk.open_store(store_url)
    obj = {"array": content(int(seed), 64 * MIB)}
    while not os.path.exists(go_file):
        time.sleep(0.001)
    print(store.put(obj, serializer="pickle").digest, flush=True)


def _open(store_url: str) -> pk.Store:
    options = json.loads(os.environ.get("WRITER_STORAGE_OPTIONS", "{}"))
    return pk.open_store(store_url, **options)


def mix(store_url: str, proc: str, count: str) -> None:
    """``count`` puts of overlapping content, each followed by reads; print JSON counts."""
    store = _open(store_url)
    rng = random.Random(int(proc))
    seen: dict[int, str] = {}
    stats = {"puts": 0, "reads": 0, "corrupt": 0, "missing": 0}
    for j in range(int(count)):
        key = (int(proc) * 37 + j * 11) % 60
        seen[key] = store.put(_mixed(key)).digest
        stats["puts"] += 1
        for other in (key, rng.choice(list(seen))):
            stats["reads"] += 1
            try:
                value = store.get(seen[other])
            except pk.errors.PayloadNotFoundError:
                stats["missing"] += 1
                continue
            except pk.errors.IntegrityError:
                stats["corrupt"] += 1
                continue
            if not _equal(value, _mixed(other)):
                stats["corrupt"] += 1
    print(json.dumps(stats), flush=True)


def _mixed(key: int) -> object:
    """Payload number ``key``: small dicts, small arrays, and 2 MiB arrays (mapped reads)."""
    if key % 3 == 0:
        return {"key": key, "items": list(range(key))}
    return content(key, (2 * MIB) if key % 3 == 1 else 4096)


def _equal(a: object, b: object) -> bool:
    if isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and bool(np.array_equal(a, b))
    return a == b


def enospc(store_url: str) -> None:
    """One put of a multi-frame payload; the exit code says how it ended (no output: writes fail)."""
    store = pk.open_store(store_url)
    obj = {"a": content(1, 4 * MIB), "b": content(2, 4 * MIB)}
    try:
        store.put(obj, serializer="pickle")
    except pk.errors.StoreError as exc:
        os._exit(10 if "No space left" in str(exc) else 11)
    except BaseException:
        os._exit(12)
    os._exit(0)


if __name__ == "__main__":
    {"crash": crash, "same": same, "mix": mix, "enospc": enospc}[sys.argv[1]](*sys.argv[2:])
