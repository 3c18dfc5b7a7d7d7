"""End to end: a plugin written from the docs, built and installed with pip, is used by type."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import payloadkit

PYPROJECT = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "payloadkit-fraction-text"
version = "0.1.0"
dependencies = ["payloadkit"]

[project.entry-points."payloadkit.serializers"]
fraction-text = "payloadkit_fraction_text:FractionText"

[tool.hatch.build.targets.wheel]
packages = ["src/payloadkit_fraction_text"]
"""

MODULE = '''\
"""Fractions as text."""
import fractions

import payloadkit as pk


class FractionText(pk.Serializer):
    name = "fraction-text"
    version = "1"
    types = ("fractions.Fraction",)
    extension = ".txt"

    def dumps(self, obj):
        return str(obj).encode()

    def loads(self, data):
        return fractions.Fraction(bytes(data).decode())
'''

USER_CODE = """\
import fractions, json, sys
import payloadkit as pk

assert "payloadkit_fraction_text" not in sys.modules
store = pk.open_store(sys.argv[1])
ref = store.put(fractions.Fraction(3, 4))
print(json.dumps({
    "serializer": ref.serializer,
    "distribution": store.info(ref).distribution,
    "value": str(store.get(ref)),
}))
"""


def _write_plugin(root: Path) -> Path:
    package = root / "payloadkit-fraction-text"
    module = package / "src" / "payloadkit_fraction_text"
    module.mkdir(parents=True)
    (package / "pyproject.toml").write_text(PYPROJECT)
    (module / "__init__.py").write_text(MODULE)
    return package


def _environment(target: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYLOADKIT_")}
    here = str(Path(payloadkit.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([str(target), here])
    return env


def test_pip_installed_plugin_is_used_by_type(tmp_path: Path) -> None:
    """A plugin package built and installed with pip is chosen for its type in a new process."""
    if importlib.util.find_spec("hatchling") is None or importlib.util.find_spec("pip") is None:
        pytest.skip("building the plugin offline needs pip and hatchling (tox -e tests has both)")
    target = tmp_path / "installed"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    offline = ["--no-deps", "--no-index", "--no-build-isolation"]
    install = subprocess.run(
        [*pip, *offline, "--target", str(target), str(_write_plugin(tmp_path))],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert install.returncode == 0, install.stderr
    assert list(target.glob("payloadkit_fraction_text-0.1.0.dist-info/entry_points.txt"))
    env = _environment(target)
    run = subprocess.run(
        [sys.executable, "-c", USER_CODE, str(tmp_path / "store")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {
        "serializer": "fraction-text",
        "distribution": "payloadkit-fraction-text",
        "value": "3/4",
    }
    listing = subprocess.run(
        [sys.executable, "-m", "payloadkit.cli", "serializers", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert listing.returncode == 0, listing.stderr
    (row,) = [r for r in json.loads(listing.stdout) if r["name"] == "fraction-text"]
    assert row["origin"] == "plugin"
    assert row["distribution"] == "payloadkit-fraction-text"
    assert row["types"] == ["fractions.Fraction"]
