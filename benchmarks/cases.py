"""The benchmark cases: each compares payloadkit with doing the same job by hand.

Every case returns a :class:`Result` (also for cases that cannot run here, marked
``skipped`` with the reason), so the results file always lists every case.
"""

from __future__ import annotations

import os
import pickle
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import data
import harness
from harness import Variant

#: Lightning's Payload handing an 80 MB DataFrame from one Work to another (seconds).
LIGHTNING_HANDOVER_S = 3.1


@dataclass
class Config:
    """Sizes and repetitions of one run."""

    array_mib: int = 256
    rows: int = 2_000_000
    repeat: int = 15
    small_repeat: int = 1000
    import_repeat: int = 11
    handover_rows: int = 1_000_000
    workdir: str = ""
    script: str = ""
    quick: bool = False

    @classmethod
    def smoke(cls, **overrides: Any) -> Config:
        """Small sizes and few repetitions: a smoke run of every case."""
        base = {
            "array_mib": 16,
            "rows": 50_000,
            "repeat": 3,
            "small_repeat": 30,
            "import_repeat": 3,
            "handover_rows": 20_000,
            "quick": True,
        }
        return cls(**{**base, **overrides})


@dataclass
class Result:
    """One row of the results table."""

    name: str
    title: str
    target: str
    unit: str = "s"
    payloadkit: float | None = None
    raw: float | None = None
    raw_label: str = ""
    ratio: float | None = None
    #: The largest ratio that meets the target, for targets stated as a ratio.
    limit: float | None = None
    met: bool | None = None
    status: str = "ok"
    note: str = ""
    peak_mib: dict[str, float] = field(default_factory=dict)
    samples: dict[str, list[float]] = field(default_factory=dict)

    @property
    def noise(self) -> dict[str, float]:
        """Spread of each side's samples: interquartile range over the median."""
        spread = {}
        for side, values in self.samples.items():
            if len(values) >= 4:
                q1, _, q3 = statistics.quantiles(values, n=4)
                spread[side] = (q3 - q1) / statistics.median(values)
        return spread

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "noise": self.noise}


def _ratio_result(
    name: str, title: str, target: str, raw_label: str, limit: float, s: Any
) -> Result:
    pk, raw = s.medians
    ratio = pk / raw
    return Result(
        name,
        title,
        target,
        payloadkit=pk,
        raw=raw,
        raw_label=raw_label,
        ratio=ratio,
        limit=limit,
        met=ratio <= limit,
        samples={"payloadkit": s.payloadkit, "raw": s.raw},
    )


def fresh_dir(cfg: Config, name: str) -> str:
    path = os.path.join(cfg.workdir, name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def _store(cfg: Config, name: str) -> Any:
    import payloadkit as pk

    return pk.open_store(fresh_dir(cfg, name))


# -- the round trips, shared by the timed cases and the memory children ---------------
def pk_roundtrip(store: Any, obj: Any, serializer: str | None) -> Variant:
    """put+get through ``store``; reset deletes the payload so every put writes."""
    refs: list[Any] = []

    def run() -> object:
        ref = store.put(obj, serializer=serializer)
        refs.append(ref)
        return store.get(ref)

    def reset() -> None:
        while refs:
            store.delete(refs.pop())

    return Variant(run, reset)


def file_roundtrip(path: str, dump: Callable[[str], None], load: Callable[[str], Any]) -> Variant:
    """dump to ``path`` and load it back; reset removes the file."""

    def run() -> object:
        dump(path)
        return load(path)

    return Variant(run, lambda: os.unlink(path))


def pickle_dump(obj: Any) -> Callable[[str], None]:
    def dump(path: str) -> None:
        with open(path, "wb") as f:
            pickle.dump(obj, f, protocol=5)

    return dump


def pickle_load(path: str) -> Any:
    with open(path, "rb") as f:
        return pickle.load(f)


def parquet_variants(
    cfg: Config, frame: Any, store: Any, serializer: str
) -> tuple[Variant, Variant]:
    """payloadkit and by-hand variants for a DataFrame as parquet or Arrow/Feather."""
    import pandas as pd

    if serializer == "parquet":
        path = os.path.join(cfg.workdir, "frame.parquet")
        raw = file_roundtrip(path, frame.to_parquet, pd.read_parquet)
    else:
        path = os.path.join(cfg.workdir, "frame.feather")
        raw = file_roundtrip(path, frame.to_feather, pd.read_feather)
    return pk_roundtrip(store, frame, serializer), raw


# -- timed cases ---------------------------------------------------------------------
def case_array(cfg: Config, serializer: str) -> Result:
    """put+get of the array (digest verified on read) vs pickle protocol 5 to a file."""
    array = data.make_array(cfg.array_mib)
    store = _store(cfg, f"array-{serializer}")
    pk = pk_roundtrip(store, array, serializer)
    path = os.path.join(cfg.workdir, "array.pkl")
    raw = file_roundtrip(path, pickle_dump(array), pickle_load)
    samples = harness.compare(pk, raw, cfg.repeat, array.nbytes * 5 // 4)
    return _ratio_result(
        f"array_{serializer}",
        f"put+get {cfg.array_mib} MiB float64 array ({serializer}), verified",
        "<= 0.85x pickle-5 dump+load to a file",
        "pickle.dump+load (protocol 5, file)",
        0.85,
        samples,
    )


def case_frame(cfg: Config, serializer: str) -> Result:
    """put+get of a DataFrame as parquet (vs pandas parquet) or arrow (vs Feather)."""
    frame = data.make_frame(cfg.rows)
    store = _store(cfg, f"frame-{serializer}")
    pk, raw = parquet_variants(cfg, frame, store, serializer)
    samples = harness.compare(pk, raw, cfg.repeat, 4 * data.frame_nbytes(frame))
    by_hand = "to_parquet+read_parquet" if serializer == "parquet" else "to_feather+read_feather"
    return _ratio_result(
        f"frame_{serializer}",
        f"put+get {cfg.rows:,}-row DataFrame ({serializer})",
        f"<= 1.05x {by_hand}",
        by_hand,
        1.05,
        samples,
    )


def _stat_key(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_ino, st.st_mtime_ns


def case_dedup(cfg: Config) -> Result:
    """put of an array already stored vs hashing its bytes with blake3 on all cores."""
    import blake3

    array = data.make_array(cfg.array_mib)
    store = _store(cfg, "dedup")
    ref = store.put(array)
    manifest = store.info(ref)
    files = [
        os.path.join(store.root, *manifest.object_key.split("/")),
        os.path.join(store.root, *store.info(ref).key.split("/")),
    ]
    before = [_stat_key(p) for p in files]
    view = memoryview(array).cast("B")
    pk = Variant(lambda: store.put(array))
    raw = Variant(lambda: blake3.blake3(view, max_threads=blake3.blake3.AUTO).hexdigest())
    samples = harness.compare(pk, raw, cfg.repeat, 0)
    wrote = [_stat_key(p) for p in files] != before
    result = _ratio_result(
        "dedup_hit",
        f"put of a {cfg.array_mib} MiB array already stored",
        "<= 1.0x hashing it (5% noise allowance), no write",
        "blake3 of the bytes (all threads)",
        1.05,
        samples,
    )
    result.met = bool(result.met) and not wrote
    result.note = "the stored object and manifest were rewritten" if wrote else "no file written"
    return result


def case_small(cfg: Config) -> Result:
    """put+get of a ~1 KB dict vs pickle dump+load to a file, one call at a time."""
    store = _store(cfg, "small")
    directory = fresh_dir(cfg, "small-pickles")
    pk_times: list[float] = []
    raw_times: list[float] = []
    warmup = 20

    def by_hand(obj: Any, path: str) -> float:
        # A new file each time: rewriting one file in place makes ext4 flush it on close
        # (auto_da_alloc), which would time the disk rather than pickle.
        start = time.perf_counter()
        pickle_dump(obj)(path)
        pickle_load(path)
        elapsed = time.perf_counter() - start
        os.unlink(path)
        return elapsed

    def through_store(obj: Any) -> float:
        start = time.perf_counter()
        store.get(store.put(obj))
        return time.perf_counter() - start

    for i in range(cfg.small_repeat + warmup):
        obj = data.make_small_dict(i)
        path = os.path.join(directory, f"{i}.pkl")
        if i % 2:
            raw_time, pk_time = by_hand(obj, path), through_store(obj)
        else:
            pk_time, raw_time = through_store(obj), by_hand(obj, path)
        if i >= warmup:
            pk_times.append(pk_time)
            raw_times.append(raw_time)
    pk, raw = statistics.median(pk_times), statistics.median(raw_times)
    return Result(
        "small_dict",
        "put+get of a 1 KB dict",
        "<= 1 ms median (ratio to pickle reported)",
        payloadkit=pk,
        raw=raw,
        raw_label="pickle.dump+load (file)",
        ratio=pk / raw,
        met=pk <= 0.001,
        samples={"payloadkit": pk_times, "raw": raw_times},
    )


def case_import(cfg: Config) -> Result:
    """``import payloadkit`` vs ``import fsspec`` in fresh interpreters, interleaved."""
    pk_times: list[float] = []
    raw_times: list[float] = []
    for i in range(cfg.import_repeat):
        pair = [("payloadkit", pk_times), ("fsspec", raw_times)]
        for module, times in pair if i % 2 == 0 else reversed(pair):
            times.append(harness.import_time(module))
    pk, raw = statistics.median(pk_times), statistics.median(raw_times)
    return Result(
        "import_time",
        "import payloadkit",
        "<= import fsspec + 50 ms",
        payloadkit=pk,
        raw=raw,
        raw_label="import fsspec",
        ratio=pk / raw,
        met=pk - raw <= 0.050,
        note=f"difference {1000 * (pk - raw):+.1f} ms",
        samples={"payloadkit": pk_times, "raw": raw_times},
    )


# -- peak memory (each measured in a fresh subprocess) --------------------------------
def _child_args(cfg: Config, op: str) -> list[str]:
    return [
        op,
        "--array-mib",
        str(cfg.array_mib),
        "--rows",
        str(cfg.rows),
        "--workdir",
        fresh_dir(cfg, "child"),
    ]


def peak(cfg: Config, op: str) -> float:
    """Extra peak resident MiB of child operation ``op``."""
    return float(harness.measure_peak(cfg.script, _child_args(cfg, op))["peak_mib"])


def case_memory(cfg: Config, phase: str) -> Result:
    """Extra peak memory to save (or load) the array, payloadkit vs pickle-5 by hand."""
    measured = {
        side: harness.measure_peak(cfg.script, _child_args(cfg, f"array_{phase}:{side}"))
        for side in ("payloadkit", "raw")
    }
    pk, raw = measured["payloadkit"]["peak_mib"], measured["raw"]["peak_mib"]
    share = pk / cfg.array_mib
    limit = 0.10 if phase == "save" else 1.05
    target = (
        "<= 10% of the array" if phase == "save" else "<= one array's worth (+5% interpreter noise)"
    )
    return Result(
        f"memory_{phase}",
        f"extra peak memory to {phase} a {cfg.array_mib} MiB array",
        target,
        unit="MiB",
        payloadkit=pk,
        raw=raw,
        raw_label=f"pickle.{'dump' if phase == 'save' else 'load'} (file)",
        ratio=share,
        met=share <= limit,
        note=f"{100 * share:.1f}% of the array; measured by {measured['payloadkit']['method']}",
    )


def child_operation(op: str, cfg: Config) -> Callable[[], object]:
    """Set up child operation ``op`` (untimed) and return the operation to measure."""
    import payloadkit as pk

    case, side = op.split(":")
    store = pk.open_store(os.path.join(cfg.workdir, "store"))
    if case.startswith("array_"):
        return _array_child(case, side, cfg, store)
    frame = data.make_frame(cfg.rows)
    pk_variant, raw_variant = parquet_variants(cfg, frame, store, case.split("_")[1])
    return pk_variant.run if side == "payloadkit" else raw_variant.run


def _array_child(case: str, side: str, cfg: Config, store: Any) -> Callable[[], object]:
    array = data.make_array(cfg.array_mib)
    path = os.path.join(cfg.workdir, "array.pkl")
    if case == "array_save":
        if side == "payloadkit":
            return lambda: store.put(array)
        return lambda: pickle_dump(array)(path)
    if case == "array_load":
        if side == "payloadkit":
            ref = store.put(array)
            del array
            return lambda: store.get(ref)
        pickle_dump(array)(path)
        del array
        return lambda: pickle_load(path)
    serializer = case.split("_", 2)[2]
    if side == "payloadkit":
        return pk_roundtrip(store, array, serializer).run
    return file_roundtrip(path, pickle_dump(array), pickle_load).run
