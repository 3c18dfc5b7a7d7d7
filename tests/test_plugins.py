"""Serializer plugins found through entry points: loading, reporting, blocking, precedence."""

from __future__ import annotations

import collections
import decimal
import fractions
import sys
import warnings
from pathlib import Path

import hypothesis
import pytest
from hypothesis import strategies as st

import payloadkit as pk
from payloadkit._registry import registry
from payloadkit.errors import ConfigurationError, UnknownSerializerError

DECIMAL_PLUGIN = """
import decimal
import payloadkit as pk

class DecimalText(pk.Serializer):
    name = "decimal-text"
    version = "1"
    types = ("decimal.Decimal",)
    extension = ".txt"

    def dumps(self, obj):
        return str(obj).encode()

    def loads(self, data):
        return decimal.Decimal(bytes(data).decode())

INSTANCE = DecimalText()

class Other(DecimalText):
    name = "decimal-other"
"""

BROKEN_PLUGIN = "import a_module_that_is_not_installed\n"


def _info(name: str) -> pk.SerializerInfo:
    matches = [i for i in pk.serializers() if i.name == name]
    assert len(matches) == 1, matches
    return matches[0]


def test_plugin_is_chosen_by_type_without_import(fake_plugins, local_store: pk.Store) -> None:
    """An installed plugin serializes its type with no import by the user, and is listed."""
    fake_plugins.add(
        "fake-decimal",
        "fake_decimal",
        DECIMAL_PLUGIN,
        serializers={"decimal-text": "fake_decimal:DecimalText"},
    )
    ref = local_store.put(decimal.Decimal("1.50"))
    assert ref.serializer == "decimal-text"
    assert local_store.get(ref) == decimal.Decimal("1.50")
    assert local_store.info(ref).distribution == "fake-decimal"
    info = _info("decimal-text")
    assert (info.origin, info.distribution, info.status) == ("plugin", "fake-decimal", "ok")
    assert info.types == ("decimal.Decimal",)


def test_plugin_declared_as_an_instance(fake_plugins, memory_store: pk.Store) -> None:
    """An entry point may name a Serializer instance instead of a class."""
    fake_plugins.add(
        "fake-decimal",
        "fake_decimal",
        DECIMAL_PLUGIN,
        serializers={"decimal-text": "fake_decimal:INSTANCE"},
    )
    assert memory_store.put(decimal.Decimal(2)).serializer == "decimal-text"
    assert registry.get("decimal-text") is sys.modules["fake_decimal"].INSTANCE


def test_discovery_is_lazy(fake_plugins) -> None:
    """Plugins are imported on the first listing, not when payloadkit is imported."""
    fake_plugins.add(
        "fake-decimal",
        "fake_decimal",
        DECIMAL_PLUGIN,
        serializers={"decimal-text": "fake_decimal:DecimalText"},
    )
    assert "fake_decimal" not in sys.modules
    pk.serializers()
    assert "fake_decimal" in sys.modules


def test_broken_plugin_is_reported_and_harmless(fake_plugins, memory_store: pk.Store) -> None:
    """A plugin that fails to import is listed with its error and warned about; others work."""
    fake_plugins.add(
        "fake-broken", "fake_broken", BROKEN_PLUGIN, serializers={"broken": "fake_broken:X"}
    )
    fake_plugins.add(
        "fake-decimal",
        "fake_decimal",
        DECIMAL_PLUGIN,
        serializers={"decimal-text": "fake_decimal:DecimalText"},
    )
    with pytest.warns(
        pk.PluginWarning, match=r"'broken' from fake-broken was not loaded: ModuleNotFoundError"
    ):
        ref = memory_store.put({"a": 1})
    assert memory_store.get(ref) == {"a": 1}
    assert memory_store.put(decimal.Decimal(3)).serializer == "decimal-text"
    info = _info("broken")
    assert (info.status, info.distribution, info.origin) == ("error", "fake-broken", "plugin")
    assert info.error is not None
    assert "a_module_that_is_not_installed" in info.error
    with pytest.raises(UnknownSerializerError, match=r"failed to load .*ModuleNotFoundError"):
        registry.get("broken")


def test_warning_as_error_leaves_the_registry_complete(
    fake_plugins, memory_store: pk.Store
) -> None:
    """With warnings turned into errors, the first dispatch raises but every plugin is loaded."""
    fake_plugins.add(
        "fake-broken", "fake_broken", BROKEN_PLUGIN, serializers={"broken": "fake_broken:X"}
    )
    fake_plugins.add(
        "fake-decimal",
        "fake_decimal",
        DECIMAL_PLUGIN,
        serializers={"decimal-text": "fake_decimal:DecimalText"},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(pk.PluginWarning):
            memory_store.put(1)
        assert memory_store.put(decimal.Decimal(4)).serializer == "decimal-text"
        assert memory_store.get(memory_store.put([1])) == [1]


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ("fake_decimal:Other", "names a serializer called 'decimal-other'"),
        ("fake_decimal:decimal", "is not a payloadkit.Serializer"),
        ("fake_decimal:Missing", "AttributeError"),
    ],
)
def test_malformed_entry_points_are_reported(fake_plugins, spec: str, error: str) -> None:
    """An entry point naming the wrong serializer, a non-serializer or nothing is an error row."""
    fake_plugins.add(
        "fake-decimal", "fake_decimal", DECIMAL_PLUGIN, serializers={"decimal-text": spec}
    )
    with pytest.warns(pk.PluginWarning, match="'decimal-text' from fake-decimal"):
        info = _info("decimal-text")
    assert info.status == "error"
    assert info.error is not None
    assert error in info.error


def test_plugin_with_a_taken_name(fake_plugins, memory_store: pk.Store) -> None:
    """A plugin named like a built-in is reported beside it; the built-in keeps the name."""
    source = DECIMAL_PLUGIN + "\nclass Json(DecimalText):\n    name = 'json'\n"
    fake_plugins.add("fake-json", "fake_json", source, serializers={"json": "fake_json:Json"})
    with pytest.warns(pk.PluginWarning, match="already taken by the built-in serializer 'json'"):
        rows = [i for i in pk.serializers() if i.name == "json"]
    assert sorted((r.origin, r.status) for r in rows) == [("builtin", "ok"), ("plugin", "error")]
    assert memory_store.get(memory_store.put({"x": [1]}, serializer="json")) == {"x": [1]}
    assert registry.distribution_of("json") == "payloadkit"


def test_plugin_with_bad_types_is_refused_whole(fake_plugins, memory_store: pk.Store) -> None:
    """A plugin whose types are malformed is not registered at all (no half-claimed types)."""
    source = (
        DECIMAL_PLUGIN + "\nclass Bad(DecimalText):\n    types = ('decimal.Decimal', 'Fraction')\n"
    )
    fake_plugins.add("fake-bad", "fake_bad", source, serializers={"decimal-text": "fake_bad:Bad"})
    with pytest.warns(pk.PluginWarning, match="'Fraction' is not a class"):
        ref = memory_store.put(decimal.Decimal(1))
    assert ref.serializer == "pickle"


@pytest.mark.parametrize(
    "blocked", ["decimal-text", "fake-decimal", "Fake_Decimal", "x, decimal-text"]
)
def test_disabled_plugin(
    fake_plugins, memory_store: pk.Store, monkeypatch: pytest.MonkeyPatch, blocked: str
) -> None:
    """PAYLOADKIT_DISABLE_PLUGINS blocks by entry-point or distribution name; it is listed as disabled."""
    fake_plugins.add(
        "fake-decimal",
        "fake_decimal",
        DECIMAL_PLUGIN,
        serializers={"decimal-text": "fake_decimal:DecimalText"},
    )
    monkeypatch.setenv("PAYLOADKIT_DISABLE_PLUGINS", blocked)
    assert memory_store.put(decimal.Decimal(5)).serializer == "pickle"
    assert "fake_decimal" not in sys.modules
    info = _info("decimal-text")
    assert (info.status, info.distribution) == ("disabled", "fake-decimal")
    with pytest.raises(UnknownSerializerError, match="blocked by PAYLOADKIT_DISABLE_PLUGINS"):
        pk.Payload(decimal.Decimal(5), serializer="decimal-text").save(memory_store)


@pytest.mark.parametrize("value", ["0", "false", "NO", "off"])
def test_autoload_off(
    fake_plugins, memory_store: pk.Store, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """PAYLOADKIT_PLUGIN_AUTOLOAD=0 skips discovery; the serializer can still be registered by hand."""
    fake_plugins.add(
        "fake-decimal",
        "fake_decimal",
        DECIMAL_PLUGIN,
        serializers={"decimal-text": "fake_decimal:DecimalText"},
    )
    monkeypatch.setenv("PAYLOADKIT_PLUGIN_AUTOLOAD", value)
    assert memory_store.put(decimal.Decimal(6)).serializer == "pickle"
    assert "decimal-text" not in [i.name for i in pk.serializers()]
    with pytest.raises(UnknownSerializerError, match="discovery is off"):
        registry.get("decimal-text")
    import fake_decimal  # type: ignore[import-not-found]

    pk.register_serializer(fake_decimal.DecimalText)
    assert memory_store.put(decimal.Decimal(7)).serializer == "decimal-text"


def test_loading_without_the_plugin_names_the_distribution(
    fake_plugins, local_store: pk.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A payload whose plugin is gone fails with UnknownSerializerError naming what to install."""
    fake_plugins.add(
        "fake-decimal",
        "fake_decimal",
        DECIMAL_PLUGIN,
        serializers={"decimal-text": "fake_decimal:DecimalText"},
    )
    ref = local_store.put(decimal.Decimal("8.5"))
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(fake_plugins.site)])
    registry.reset()
    with pytest.raises(UnknownSerializerError) as caught:
        pk.Payload.from_ref(ref).value  # noqa: B018 - loading is the point
    message = str(caught.value)
    assert "'decimal-text'" in message
    assert "pip install --upgrade fake-decimal" in message
    assert ref.digest in message
    assert caught.value.digest == ref.digest


def test_missing_plugin_with_a_malformed_distribution_name(fake_plugins) -> None:
    """A distribution name from a store that is not a valid project name is not suggested."""
    message = registry.missing("nope", "evil; rm -rf /")
    assert "evil" not in message
    assert "install the one providing it" in message


def test_two_plugins_claiming_a_type(fake_plugins, memory_store: pk.Store) -> None:
    """When two plugins claim one type, the first loaded keeps it and a warning says so."""
    fake_plugins.add(
        "fake-a", "fake_a", DECIMAL_PLUGIN, serializers={"decimal-text": "fake_a:DecimalText"}
    )
    fake_plugins.add(
        "fake-b", "fake_b", DECIMAL_PLUGIN, serializers={"decimal-other": "fake_b:Other"}
    )
    with pytest.warns(
        pk.PluginWarning, match="both claim decimal.Decimal; 'decimal-text' keeps it"
    ):
        ref = memory_store.put(decimal.Decimal(9))
    assert ref.serializer == "decimal-text"
    assert (
        memory_store.put(decimal.Decimal(10), serializer="decimal-other").serializer
        == "decimal-other"
    )


def test_precedence_user_over_plugin_over_builtin(fake_plugins, memory_store: pk.Store) -> None:
    """A plugin claiming a built-in's type wins it; register_serializer and configure win over plugins."""
    source = (
        DECIMAL_PLUGIN
        + "\nclass Arrays(DecimalText):\n    name = 'arrays'\n    types = ('numpy.ndarray',)\n"
    )
    fake_plugins.add(
        "fake-arrays", "fake_arrays", source, serializers={"arrays": "fake_arrays:Arrays"}
    )
    np = pytest.importorskip("numpy")
    found = registry.default_for(np.ndarray)
    assert found is not None
    assert found[0] == "arrays"
    assert "by the plugin distribution fake-arrays" in found[1]
    assert "fake-arrays" in str(pk.explain(np.zeros(2)))

    class Mine(pk.Serializer):
        name = "mine"

        def dumps(self, obj: object) -> bytes:
            return b""

    pk.register_serializer(Mine(), types=(np.ndarray,))
    assert registry.default_for(np.ndarray) == (
        "mine",
        "registered for numpy.ndarray (by register_serializer)",
    )
    pk.configure(serializers={np.ndarray: "numpy"})
    found = registry.default_for(np.ndarray)
    assert found is not None
    assert found[0] == "numpy"


def test_register_refuses_a_taken_name_and_bad_types() -> None:
    """register_serializer refuses a taken name (without clobber) and types given as a string."""

    class Json(pk.Serializer):
        name = "json"

    with pytest.raises(
        ConfigurationError, match=r"already registered .*built-in serializer 'json'"
    ):
        pk.register_serializer(Json)

    class Text(pk.Serializer):
        name = "text-like"
        types = "builtins.str"  # type: ignore[assignment]

    with pytest.raises(ConfigurationError, match="must be a tuple"):
        pk.register_serializer(Text)
    assert "text-like" not in list(registry)


def test_unreadable_metadata_is_reported(fake_plugins, memory_store: pk.Store) -> None:
    """A dist-info whose entry_points.txt cannot be decoded is reported, not fatal."""
    fake_plugins.add("fake-decimal", "fake_decimal", DECIMAL_PLUGIN)
    info = next(fake_plugins.site.glob("*.dist-info"))
    (info / "entry_points.txt").write_bytes(b"\xff\xfe[payloadkit.serializers]")
    with pytest.warns(pk.PluginWarning, match="could not read"):
        assert memory_store.get(memory_store.put("ok")) == "ok"


def test_fake_site_is_cleaned(tmp_path: Path) -> None:
    """Without the fixture, no fake plugin is registered (the registry was reset)."""
    assert not [
        i
        for i in pk.serializers()
        if i.origin == "plugin" and i.distribution and i.distribution.startswith("fake-")
    ]


LAZY_CHECK = """
import sys
import payloadkit as pk

pk.configure(storage="memory://lazy")
pk.Payload(1)
assert "fake_decimal" not in sys.modules and "fake_broken" not in sys.modules
try:
    pk.serializers()
except pk.PluginWarning as warning:  # -W error turns the report into an exception
    print("warned:", warning)
assert "fake_decimal" in sys.modules
print([i.name for i in pk.serializers() if i.origin == "plugin" and i.status == "ok"])
"""


def test_import_runs_no_discovery_and_survives_broken_plugins(fake_plugins) -> None:
    """`import payloadkit` (even with -W error and a broken plugin) imports no plugin."""
    import subprocess

    fake_plugins.add(
        "fake-broken", "fake_broken", BROKEN_PLUGIN, serializers={"broken": "fake_broken:X"}
    )
    fake_plugins.add(
        "fake-decimal",
        "fake_decimal",
        DECIMAL_PLUGIN,
        serializers={"decimal-text": "fake_decimal:DecimalText"},
    )
    src = str(Path(pk.__file__).resolve().parents[1])
    run = subprocess.run(
        [sys.executable, "-W", "error", "-c", LAZY_CHECK],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": f"{fake_plugins.site}:{src}", "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("warned: payloadkit serializer plugin 'broken' from fake-broken")
    assert lines[1] == "['decimal-text']"


_CLASSES = [decimal.Decimal, fractions.Fraction, collections.OrderedDict]
_KEYS = [*_CLASSES, "decimal.Decimal", "fractions.Fraction", "collections.OrderedDict"]


@hypothesis.given(
    claims=st.lists(
        st.tuples(
            st.sampled_from(_KEYS), st.sampled_from(["a", "b", "c"]), st.sampled_from([0, 1, 2])
        ),
        max_size=12,
    )
)
def test_type_claims_follow_the_precedence_rule(claims: list[tuple[object, str, int]]) -> None:
    """Whatever the order and form of claims, the highest rank wins; the first plugin, the last user."""
    from payloadkit._registry import _TypeTable

    table = _TypeTable()
    model: dict[type, tuple[int, int, str]] = {}
    for seq, (key, name, rank) in enumerate(claims):
        table.add(key, name, rank)  # type: ignore[arg-type]
        cls = key if isinstance(key, type) else _CLASSES[_KEYS.index(key) - len(_CLASSES)]
        order = seq if rank == 2 else -seq
        if cls not in model or (rank, order) > model[cls][:2]:
            model[cls] = (rank, order, name)
        if seq % 3 == 2:  # lookups between claims resolve pending dotted names early
            table.lookup(cls)
    for cls in _CLASSES:
        hit = table.lookup(cls)
        assert (hit[0] if hit else None) == (model[cls][2] if cls in model else None)
