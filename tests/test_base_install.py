"""payloadkit installed without extras, as `pip install payloadkit` leaves it: a real venv
holding the wheel and only the base dependencies (fsspec, cloudpickle, blake3)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BASE = ("fsspec", "cloudpickle", "blake3")
PIP = (sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check")


def _site_packages(venv: Path) -> Path:
    found = list((venv / "lib").glob("python3*/site-packages"))
    assert len(found) == 1, found
    return found[0]


def _link_base_dependencies(target: Path) -> None:
    """A directory holding only the base dependencies (and their metadata), linked from here."""
    target.mkdir()
    for name in BASE:
        spec = importlib.util.find_spec(name)
        assert spec is not None
        assert spec.origin is not None
        source = Path(spec.origin)
        source = source.parent if source.name == "__init__.py" else source
        (target / source.name).symlink_to(source)
        for info in source.parent.glob(f"{name}-*.dist-info"):
            (target / info.name).symlink_to(info)


@pytest.fixture(scope="module")
def base_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The interpreter of a fresh venv with payloadkit's wheel and nothing else but its base
    dependencies."""
    if importlib.util.find_spec("hatchling") is None:
        pytest.skip("building the wheel offline needs hatchling (tox -e tests has it)")
    root = tmp_path_factory.mktemp("base")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = _site_packages(venv)
    install = subprocess.run(
        [*PIP, "--no-deps", "--no-index", "--no-build-isolation", "--target", str(site), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert install.returncode == 0, install.stderr
    _link_base_dependencies(root / "base-deps")
    (site / "base-deps.pth").write_text(str(root / "base-deps") + "\n")
    return venv / "bin" / "python"


def _run(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAYLOADKIT_", "PYTHON"))}
    return subprocess.run(
        [str(python), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
        check=False,
    )


def test_the_venv_has_no_extras(base_python: Path, tmp_path: Path) -> None:
    """The base venv imports payloadkit from the wheel, and none of the optional libraries."""
    code = (
        "import importlib.util, payloadkit; print(payloadkit.__file__); "
        "print([m for m in ('numpy', 'pandas', 'pyarrow', 'dill', 'tqdm') "
        "if importlib.util.find_spec(m)])"
    )
    done = _run(base_python, "-c", code, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    where, found = done.stdout.splitlines()
    assert str(ROOT / "src") not in where
    assert found == "[]"


def test_serializers_report_what_is_missing_and_the_extra(
    base_python: Path, tmp_path: Path
) -> None:
    """`payloadkit serializers` marks dill, numpy, parquet and arrow as needing their extra."""
    done = _run(base_python, "-m", "payloadkit.cli", "serializers", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)}
    for name, extra in {
        "dill": "dill",
        "numpy": "numpy",
        "parquet": "dataframe",
        "arrow": "dataframe",
    }.items():
        assert rows[name]["available"] is False, name
        assert rows[name]["install"] == f"pip install 'payloadkit[{extra}]'"
    for name in ("pickle", "cloudpickle", "json", "file"):
        assert rows[name]["available"] is True, name
    table = _run(base_python, "-m", "payloadkit.cli", "serializers", cwd=tmp_path).stdout
    parquet = next(line for line in table.splitlines() if line.startswith("parquet"))
    assert parquet.split()[-2:] == ["needs", "dataframe"]
    assert "pip install 'payloadkit[dataframe]'" in table


def test_demo_names_the_extras_before_starting_a_worker(base_python: Path, tmp_path: Path) -> None:
    """`payloadkit demo` on a base install exits 1 naming what to install; no run happens."""
    done = _run(base_python, "-m", "payloadkit.cli", "demo", cwd=tmp_path)
    assert done.returncode == 1
    assert "pip install 'payloadkit[dataframe,numpy]'" in done.stderr
    assert "Traceback" not in done.stderr
    assert "ModuleNotFoundError" not in done.stderr
    assert not (tmp_path / ".payloadkit").exists()


def test_files_round_trip_on_a_base_install(base_python: Path, tmp_path: Path) -> None:
    """put/get of a .parquet file needs no extra: its bytes are stored as they are."""
    source = tmp_path / "frame.parquet"
    source.write_bytes(b"PAR1" + os.urandom(1000) + b"PAR1")
    done = _run(
        base_python, "-m", "payloadkit.cli", "put", "store", "frame.parquet", "--json", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    digest = json.loads(done.stdout)["digest"]
    done = _run(
        base_python, "-m", "payloadkit.cli", "get", "store", digest, "-o", "back", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "back.parquet").read_bytes() == source.read_bytes()
