"""Objects round-trip across separate processes through a local store, for every serializer."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import payloadkit as pk

_PRELUDE = """
import json, sys
import numpy as np, pandas as pd, pyarrow as pa
import payloadkit as pk
"""

# serializer -> expression building the object, evaluated the same way in both processes
CASES = {
    "pickle": "{'a': [1, 2, (3, 4)], 'b': np.arange(100_000)}",
    "cloudpickle": "{'a': [1, 2], 'f': None}",
    "dill": "[1, 'two', 3.0]",
    "json": "{'a': [1, 2, None], 'u': 'ü'}",
    "numpy": "np.arange(24.0).reshape(2, 3, 4)",
    "parquet": "pd.DataFrame({'i': [1, 2], 'c': pd.Categorical(['x', 'y'])}, index=pd.Index([7, 8], name='k'))",
    "arrow": "pa.table({'x': [1, 2], 's': ['a', 'b']})",
}

_CHILD = (
    _PRELUDE
    + """
expected = eval(sys.argv[2])
store = pk.open_store(sys.argv[1])
ref = pk.PayloadRef.from_json(sys.argv[3])
by_ref = store.get(ref)
by_dict = pk.Payload.from_dict(json.loads(sys.argv[4])).value
for got in (by_ref, by_dict):
    assert type(got) is type(expected), (type(got), type(expected))
    if isinstance(expected, pd.DataFrame):
        pd.testing.assert_frame_equal(got, expected)
    elif isinstance(expected, pa.Table):
        assert got.equals(expected)
    elif isinstance(expected, np.ndarray):
        np.testing.assert_array_equal(got, expected)
    elif isinstance(expected, dict) and "b" in expected:
        np.testing.assert_array_equal(got["b"], expected["b"])
        assert got["a"] == expected["a"]
    else:
        assert got == expected
print("ok", ref.serializer)
"""
)


def _run(code: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("serializer", sorted(CASES))
def test_roundtrip_in_another_process(serializer: str, tmp_path: Path) -> None:
    """A payload saved here loads in a fresh process by ref and by dict form, serializer recorded."""
    namespace: dict[str, object] = {}
    exec(_PRELUDE, namespace)
    obj = eval(CASES[serializer], namespace)
    store = pk.open_store(tmp_path / "shared")
    payload = pk.Payload(obj, serializer=serializer)
    ref = payload.save(store)
    assert ref.serializer == serializer
    out = _run(_CHILD, store.url, CASES[serializer], ref.to_json(), json.dumps(payload.to_dict()))
    assert out.strip() == f"ok {serializer}"


def test_main_module_objects_travel_by_value(tmp_path: Path) -> None:
    """An instance of a class defined in a script's __main__ loads in another process."""
    writer = textwrap.dedent(
        """
        import sys
        import payloadkit as pk

        class Point:
            def __init__(self, x, y):
                self.x, self.y = x, y

        ref = pk.open_store(sys.argv[1]).put(Point(1, 2))
        print(ref.to_json())
        """
    )
    ref = pk.PayloadRef.from_json(_run(writer, str(tmp_path / "s")).strip())
    assert ref.serializer == "cloudpickle"
    reader = "import sys, payloadkit as pk\np = pk.open_store(sys.argv[1]).get(sys.argv[2])\nprint(p.x + p.y)"
    assert _run(reader, str(tmp_path / "s"), ref.digest).strip() == "3"


def test_import_payloadkit_stays_light() -> None:
    """import payloadkit imports none of pandas, pyarrow, numpy, dill, s3fs or distributed."""
    code = (
        "import sys, payloadkit\n"
        "heavy = ['pandas', 'pyarrow', 'numpy', 'dill', 's3fs', 'distributed', 'cloudpickle']\n"
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    assert _run(code).strip() == ""


def test_environment_selects_the_default_store(tmp_path: Path) -> None:
    """PAYLOADKIT_STORAGE names the default store of a new process."""
    code = "import payloadkit as pk\nprint(pk.Payload([1]).save().store)"
    env_store = tmp_path / "from-env"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**_clean_env(), "PAYLOADKIT_STORAGE": str(env_store)},
    )
    assert result.stdout.strip() == str(env_store)


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("PAYLOADKIT_")}
