"""Compression cases: what ``"auto"`` saves on text, and what it costs on noise.

* ``compression_text``: the stored size of a pickle of text-heavy records (log-like
  messages drawn from a vocabulary, user names, tags, timestamps) against the size of
  ``pickle.dumps`` of the same object. Target: <= 40 % of the raw size.
* ``compression_floats``: put+get of an incompressible float64 array in the pickle
  container with ``compression="auto"`` against ``compression=None``, interleaved in
  the same run. Target: <= 1.03x (auto's samples are all it adds).

Run alone with ``python benchmarks/bench_compression.py [--quick] [--text-mb N] [--array-mib N]``,
or as part of ``benchmarks/run.py`` (``--only compression``).
"""

from __future__ import annotations

import argparse
import os
import pickle
import random
import sys
import tempfile
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import cases  # noqa: E402  (benchmarks/ is put on sys.path just above)
import harness  # noqa: E402
from cases import Config, Result  # noqa: E402

#: Megabytes of pickled text in the text case (the target is stated for 100 MB).
TEXT_MB = 100
QUICK_TEXT_MB = 8
TEXT_LIMIT = 0.40
FLOATS_LIMIT = 1.03


def make_records(megabytes: int, seed: int = 0) -> list[dict[str, Any]]:
    """Log-like records whose pickle is about ``megabytes`` MB."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocabulary = [
        "".join(rng.choice(letters) for _ in range(rng.randint(2, 10))) for _ in range(5000)
    ]
    levels = ["DEBUG", "INFO", "WARNING", "ERROR"]
    records: list[dict[str, Any]] = []
    size, target = 0, megabytes * 1_000_000
    while size < target:
        batch = [
            {
                "id": len(records) + i,
                "time": f"2026-12-03T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:"
                f"{rng.randint(0, 59):02d}.{rng.randint(0, 999999):06d}Z",
                "level": rng.choice(levels),
                "user": f"user-{rng.randint(0, 50_000)}",
                "message": " ".join(rng.choices(vocabulary, k=rng.randint(8, 40))),
                "tags": rng.sample(vocabulary[:200], k=rng.randint(0, 4)),
            }
            for i in range(10_000)
        ]
        size += len(pickle.dumps(batch, protocol=5))
        records.extend(batch)
    return records


def case_text(cfg: Config, megabytes: int) -> Result:
    """Stored size of the text-heavy pickle under the default (auto) against its raw size."""
    import payloadkit as pk

    records = make_records(megabytes)
    raw = len(pickle.dumps(records, protocol=5))
    store = pk.open_store(cases.fresh_dir(cfg, "compression-text"))
    ref = store.put(records)
    codec = store.info(ref).compression
    ratio = ref.size / raw
    return Result(
        "compression_text",
        f"stored size of a {raw / 1e6:.0f} MB pickle of text-heavy records (auto)",
        f"<= {TEXT_LIMIT:.0%} of the raw pickle",
        unit="MiB",
        payloadkit=ref.size / (1 << 20),
        raw=raw / (1 << 20),
        raw_label="pickle.dumps",
        ratio=ratio,
        limit=TEXT_LIMIT,
        met=ratio <= TEXT_LIMIT,
        note=f"codec: {codec.codec if codec else 'none'}, suffix {store.info(ref).extension}",
    )


def case_floats(cfg: Config, mib: int) -> Result:
    """put+get of an incompressible float array (pickle container): auto against None."""
    import numpy as np

    import payloadkit as pk

    array = np.random.default_rng(0).random(mib * (1 << 20) // 8)
    store = pk.open_store(cases.fresh_dir(cfg, "compression-floats"))

    def roundtrip(compression: str | None) -> harness.Variant:
        refs: list[Any] = []

        def run() -> object:
            ref = store.put(array, serializer="pickle", compression=compression)
            refs.append(ref)
            return store.get(ref)

        def reset() -> None:
            while refs:
                store.delete(refs.pop())

        return harness.Variant(run, reset)

    samples = harness.compare(roundtrip("auto"), roundtrip(None), cfg.repeat, array.nbytes * 5 // 4)
    auto, none = samples.medians
    ratio = auto / none
    return Result(
        "compression_floats",
        f"put+get {mib} MiB incompressible float64 array (pickle), compression='auto'",
        f"<= {FLOATS_LIMIT:.2f}x compression=None",
        payloadkit=auto,
        raw=none,
        raw_label="compression=None",
        ratio=ratio,
        limit=FLOATS_LIMIT,
        met=ratio <= FLOATS_LIMIT,
        samples={"payloadkit": samples.payloadkit, "raw": samples.raw},
    )


def run_cases(cfg: Config, text_mb: int | None = None) -> list[Result]:
    """Both cases; ``--quick`` sizes when ``cfg.quick``."""
    import importlib.util

    if importlib.util.find_spec("zstandard") is None:
        skipped = Result("compression", "compression (auto)", "", status="skipped")
        skipped.note = "zstandard is not installed (pip install 'payloadkit[compression]')"
        return [skipped]
    megabytes = text_mb or (QUICK_TEXT_MB if cfg.quick else TEXT_MB)
    return [case_text(cfg, megabytes), case_floats(cfg, cfg.array_mib)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repetitions")
    parser.add_argument("--text-mb", type=int, help=f"MB of pickled text (default {TEXT_MB})")
    parser.add_argument("--array-mib", type=int, help="size of the float array (MiB)")
    parser.add_argument("--repeat", type=int, help="timed runs per side")
    args = parser.parse_args(argv)
    sizes = {k: v for k, v in (("array_mib", args.array_mib), ("repeat", args.repeat)) if v}
    with tempfile.TemporaryDirectory(prefix="pk-bench-compression-") as workdir:
        make = Config.smoke if args.quick else Config
        cfg = make(**sizes, workdir=workdir)
        for result in run_cases(cfg, args.text_mb):
            ratio = "-" if result.ratio is None else f"{result.ratio:.3f}"
            print(f"{result.name}: {result.title}: ratio {ratio} (target {result.target}) ", end="")
            print("met" if result.met else result.status if result.status != "ok" else "NOT met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
