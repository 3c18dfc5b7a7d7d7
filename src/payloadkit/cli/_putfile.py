"""Reading a file into the object ``payloadkit put --as-object`` stores, by the file's suffix."""

from __future__ import annotations

import json
import os
from typing import Any

from payloadkit.errors import SerializationError

__all__ = ["load_file"]


def load_file(path: str) -> tuple[Any, str | None]:
    """The object ``path`` holds and the serializer that keeps its format.

    ``.parquet``/``.csv`` -> a pandas DataFrame (``parquet``), ``.npy`` -> an ndarray
    (``numpy``), ``.arrow``/``.feather`` -> a pyarrow Table (``arrow``), ``.json`` -> JSON
    values (``json``); any other suffix is refused (store its bytes without --as-object).
    """
    suffix = os.path.splitext(path)[1].lower()
    try:
        if suffix == ".parquet":
            import pandas as pd

            return pd.read_parquet(path), "parquet"
        if suffix == ".csv":
            import pandas as pd

            return pd.read_csv(path), "parquet"
        if suffix == ".npy":
            import numpy as np

            return np.load(path, allow_pickle=False), "numpy"
        if suffix in (".arrow", ".feather"):
            import pyarrow.feather as feather

            return feather.read_table(path, memory_map=False), "arrow"
        if suffix == ".json":
            with open(path, encoding="utf-8") as f:
                return json.load(f), "json"
        raise SerializationError(
            f"--as-object reads .parquet, .csv, .npy, .arrow, .feather and .json files, not "
            f"{suffix or 'files without a suffix'}; store {path} as its bytes (without "
            "--as-object), or convert it first."
        )
    except ImportError as exc:
        raise SerializationError(
            f"Reading {path} needs {exc.name}: pip install 'payloadkit[dataframe,numpy]'."
        ) from None
    except OSError as exc:
        raise SerializationError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    except ValueError as exc:
        raise SerializationError(
            f"{path} is not a valid {suffix} file ({exc}); store its bytes without "
            "--as-object, or fix the file."
        ) from None
