"""The `serializers` and `explain` commands, end to end through the command-line entry point."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import payloadkit
from payloadkit.cli import main

DECIMAL_PLUGIN = """
import decimal
import payloadkit as pk

class DecimalText(pk.Serializer):
    name = "decimal-text"
    types = ("decimal.Decimal",)

    def dumps(self, obj):
        return str(obj).encode()

    def loads(self, data):
        return decimal.Decimal(bytes(data).decode())
"""


def _json_out(capsys: pytest.CaptureFixture[str], argv: list[str]) -> object:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_serializers_table_lists_builtins(capsys: pytest.CaptureFixture[str]) -> None:
    """The table shows every built-in with its types, origin and whether loading runs code."""
    assert main(["serializers"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "version", "types", "origin", "runs", "code", "status"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert {"pickle", "cloudpickle", "dill", "numpy", "parquet", "arrow", "json"} <= set(rows)
    assert "DataFrame, Table" in rows["parquet"]
    assert rows["pickle"].split()[-2:] == ["yes", "ok"]
    assert rows["json"].split()[-2:] == ["no", "ok"]


def test_serializers_reports_plugins_broken_and_disabled(
    fake_plugins, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A working, a broken and a disabled plugin each appear with distribution and status."""
    fake_plugins.add(
        "fake-decimal",
        "fake_decimal",
        DECIMAL_PLUGIN,
        serializers={"decimal-text": "fake_decimal:DecimalText"},
    )
    fake_plugins.add(
        "fake-broken",
        "fake_broken",
        "raise RuntimeError('boom')\n",
        serializers={"broken": "fake_broken:X"},
    )
    fake_plugins.add(
        "fake-off", "fake_off", DECIMAL_PLUGIN, serializers={"off": "fake_off:DecimalText"}
    )
    monkeypatch.setenv("PAYLOADKIT_DISABLE_PLUGINS", "fake-off")
    with pytest.warns(payloadkit.PluginWarning, match="'broken' from fake-broken"):
        rows = {r["name"]: r for r in _json_out(capsys, ["serializers", "--json"])}  # type: ignore[union-attr]
    assert rows["decimal-text"]["distribution"] == "fake-decimal"
    assert rows["decimal-text"]["status"] == "ok"
    assert rows["broken"]["status"] == "error"
    assert "RuntimeError: boom" in rows["broken"]["error"]
    assert rows["off"]["status"] == "disabled"
    assert main(["serializers"]) == 0
    table = capsys.readouterr().out
    assert "plugin (fake-broken)" in table
    assert "error: RuntimeError: boom" in table
    assert "disabled: blocked by PAYLOADKIT_DISABLE_PLUGINS" in table


def test_explain_expression(capsys: pytest.CaptureFixture[str]) -> None:
    """An expression using the pd alias is evaluated and explained as a save would choose."""
    assert main(["explain", "pd.DataFrame({'a': [1]})"]) == 0
    assert capsys.readouterr().out.strip() == (
        "pandas.DataFrame -> parquet: registered for pandas.DataFrame (built in)"
    )


def test_explain_imports_modules_named_in_the_expression(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A module named in the expression is imported for it; the fallback chain is shown."""
    out = _json_out(capsys, ["explain", "--json", "functools.partial(print, 1)"])
    assert out == {
        "type": "functools.partial",
        "serializer": "pickle",
        "reason": "the default for types without a registered serializer",
        "tried": [],
        "origin": "builtin",
        "distribution": "payloadkit",
        "runs_code_on_load": True,
    }


def test_explain_shows_what_was_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """A lambda is explained as cloudpickle, with pickle's refusal listed."""
    out = _json_out(capsys, ["explain", "--json", "lambda x: x"])
    assert out["serializer"] == "cloudpickle"  # type: ignore[index]
    assert [t["serializer"] for t in out["tried"]] == ["pickle"]  # type: ignore[index]


def test_explain_with_a_serializer_that_refuses(capsys: pytest.CaptureFixture[str]) -> None:
    """An explicit serializer that refuses the object exits 1 and says why."""
    assert main(["explain", "--serializer", "json", "{1, 2}"]) == 1
    out = capsys.readouterr().out
    assert "builtins.set -> no serializer" in out
    assert "json refused it: TypeError" in out


def test_explain_plugin_choice(fake_plugins, capsys: pytest.CaptureFixture[str]) -> None:
    """An object claimed by a plugin is explained with the plugin's distribution."""
    fake_plugins.add(
        "fake-decimal",
        "fake_decimal",
        DECIMAL_PLUGIN,
        serializers={"decimal-text": "fake_decimal:DecimalText"},
    )
    out = _json_out(capsys, ["explain", "--json", "decimal.Decimal('1.5')"])
    assert out["serializer"] == "decimal-text"  # type: ignore[index]
    assert out["distribution"] == "fake-decimal"  # type: ignore[index]
    assert "by the plugin distribution fake-decimal" in out["reason"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("name", "write", "expected"),
    [
        (
            "t.parquet",
            lambda p: pd.DataFrame({"a": [1]}).to_parquet(p),
            "pandas.DataFrame -> parquet",
        ),
        ("t.npy", lambda p: np.save(p, np.arange(3)), "numpy.ndarray -> numpy"),
        ("t.json", lambda p: Path(p).write_text('{"a": [1]}'), "builtins.dict -> pickle"),
        ("t.csv", lambda p: Path(p).write_text("a,b\n1,2\n"), "pandas.DataFrame -> parquet"),
        (
            "t.feather",
            lambda p: pd.DataFrame({"a": [1]}).to_feather(p),
            "pyarrow.lib.Table -> parquet",
        ),
    ],
)
def test_explain_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, write, expected: str
) -> None:
    """Files of known formats are read without unpickling and explained."""
    path = tmp_path / name
    write(str(path))
    assert main(["explain", "--file", str(path)]) == 0
    assert capsys.readouterr().out.startswith(expected)


def test_explain_file_refuses_pickles_without_trust(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Another suffix is unpickled only with --trust."""
    path = tmp_path / "obj.pkl"
    path.write_bytes(pickle.dumps({"a": 1}))
    assert main(["explain", "--file", str(path)]) == 1
    assert "Pass --trust if you trust it" in capsys.readouterr().err
    assert main(["explain", "--file", str(path), "--trust"]) == 0
    assert capsys.readouterr().out.startswith("builtins.dict -> pickle")


def test_explain_file_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing file and an unreadable one are errors that name the file."""
    assert main(["explain", "--file", str(tmp_path / "missing.json")]) == 1
    assert "Cannot read" in capsys.readouterr().err
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"not numpy")
    assert main(["explain", "--file", str(bad)]) == 1
    assert "as a .npy file" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("expr", "message"), [("nope(", "not a Python expression"), ("missing_name", "NameError")]
)
def test_explain_bad_expressions(
    capsys: pytest.CaptureFixture[str], expr: str, message: str
) -> None:
    """Expressions that do not parse or fail to evaluate exit 1 with the reason."""
    assert main(["explain", expr]) == 1
    assert message in capsys.readouterr().err


def test_explain_needs_exactly_one_object(capsys: pytest.CaptureFixture[str]) -> None:
    """Giving neither an expression nor --file (or both) is a usage error."""
    with pytest.raises(SystemExit) as caught:
        main(["explain"])
    assert caught.value.code == 2
    with pytest.raises(SystemExit):
        main(["explain", "1", "--file", "x.json"])
    capsys.readouterr()


def test_explain_in_a_subprocess(tmp_path: Path) -> None:
    """`python -m payloadkit.cli explain` works as a command, printing JSON."""
    src = str(Path(payloadkit.__file__).resolve().parents[1])
    run = subprocess.run(
        [sys.executable, "-m", "payloadkit.cli", "explain", "--json", "np.arange(3)"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["serializer"] == "numpy"


def test_explain_binds_no_module_to_local_names(capsys: pytest.CaptureFixture[str]) -> None:
    """Lambda arguments and comprehension targets are not imported as modules."""
    sys.modules.pop("this", None)
    assert main(["explain", "[this for this in range(3)]"]) == 0
    assert "this" not in sys.modules
    assert capsys.readouterr().out.startswith("builtins.list -> pickle")
