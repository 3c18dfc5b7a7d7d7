"""The objects the benchmarks move: deterministic, and built the same way in every process."""

from __future__ import annotations

from typing import Any

MIB = 1 << 20


def make_array(mib: int) -> Any:
    """A float64 array of ``mib`` MiB of random values (incompressible, like real data)."""
    import numpy as np

    return np.random.default_rng(0).random(mib * MIB // 8)


def make_frame(rows: int) -> Any:
    """A DataFrame with an int64, a float64 and a 100-category column."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(1)
    categories = [f"category-{i:03d}" for i in range(100)]
    return pd.DataFrame(
        {
            "id": rng.integers(0, 1 << 40, rows),
            "value": rng.random(rows),
            "kind": pd.Categorical.from_codes(rng.integers(0, 100, rows), categories),
        }
    )


def make_wide_frame(rows: int) -> Any:
    """``rows`` x 10 float64 columns: 80 MB at a million rows."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(2)
    return pd.DataFrame({f"c{i}": rng.random(rows) for i in range(10)})


def make_small_dict(n: int) -> dict[str, Any]:
    """A dict whose pickle is about 1 KB; ``n`` makes each one distinct."""
    return {"n": n, **{f"key-{i:02d}": f"value {i:02d} " + "x" * 12 for i in range(30)}}


def frame_nbytes(frame: Any) -> int:
    """Bytes of a DataFrame's columns (categoricals count their codes)."""
    return int(frame.memory_usage(index=False, deep=False).sum())
