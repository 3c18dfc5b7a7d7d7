"""Store plugins: a new URL scheme, a replaced fsspec scheme, broken and blocked plugins."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

import payloadkit as pk
from payloadkit.errors import ConfigurationError, StoreError
from payloadkit.stores import Backend, FsspecStore
from payloadkit.testing import BackendTests, StoreTests

STORE_PLUGIN = '''
import fsspec
from payloadkit.stores import FsspecStore

class KVStore(FsspecStore):
    """A store for kv:// URLs, kept on fsspec's memory filesystem under /kv/<name>."""

    def __init__(self, url, **options):
        self.options = options
        super().__init__(fsspec.filesystem("memory"), "/kv/" + url.split("://", 1)[1], url)

class ReplacedMemory(FsspecStore):
    """Replaces fsspec's memory:// store and says so."""

    replaced = True

    def __init__(self, url, **options):
        super().__init__(fsspec.filesystem("memory"), "/" + url.split("://", 1)[1], url)

def failing(url, **options):
    raise RuntimeError("login refused for " + options["token"])

def not_a_store(url, **options):
    return object()

NOT_CALLABLE = 3
'''


@pytest.fixture
def kv_plugin(fake_plugins):
    """The fake distribution ``fake-kv`` providing stores for kv:// and memory://."""
    fake_plugins.add(
        "fake-kv",
        "fake_kv",
        STORE_PLUGIN,
        stores={"kv": "fake_kv:KVStore", "memory": "fake_kv:ReplacedMemory"},
    )
    return fake_plugins


def test_store_plugin_for_a_new_scheme(kv_plugin) -> None:
    """A plugin provides a store for a scheme fsspec does not know, with the storage options."""
    store = pk.open_store("kv://bucket-1", colour="blue")
    assert type(store).__name__ == "KVStore"
    assert store.options == {"colour": "blue"}
    ref = store.put({"a": 1})
    assert ref.store == "kv://bucket-1"
    assert store.get(ref) == {"a": 1}


def test_store_plugin_replaces_fsspec_for_a_scheme(kv_plugin) -> None:
    """A plugin named after an fsspec scheme takes precedence over fsspec's store."""
    store = pk.open_store(f"memory://{uuid.uuid4().hex}")
    assert getattr(store, "replaced", False)
    assert store.get(store.put([1, 2])) == [1, 2]


def test_local_paths_are_never_replaced(kv_plugin, tmp_path) -> None:
    """Local directories always open as LocalStore, whatever plugins declare."""
    assert isinstance(pk.open_store(tmp_path / "here"), pk.stores.LocalStore)


@pytest.mark.parametrize("blocked", ["memory", "fake-kv"])
def test_blocked_store_plugin_falls_back_to_fsspec(kv_plugin, monkeypatch, blocked) -> None:
    """A store plugin blocked by name or distribution is skipped for fsspec's implementation."""
    monkeypatch.setenv("PAYLOADKIT_DISABLE_PLUGINS", blocked)
    store = pk.open_store(f"memory://{uuid.uuid4().hex}")
    assert type(store) is FsspecStore


def test_autoload_off_skips_store_plugins(kv_plugin, monkeypatch) -> None:
    """With PAYLOADKIT_PLUGIN_AUTOLOAD=0, a scheme only a plugin knows cannot be opened."""
    monkeypatch.setenv("PAYLOADKIT_PLUGIN_AUTOLOAD", "0")
    assert type(pk.open_store(f"memory://{uuid.uuid4().hex}")) is FsspecStore
    with pytest.raises(ConfigurationError, match="kv://"):
        pk.open_store("kv://x")


def test_broken_store_plugin_falls_back_with_a_warning(fake_plugins) -> None:
    """A store plugin that fails to import is reported and fsspec's store is used instead."""
    fake_plugins.add(
        "fake-broken",
        "fake_broken",
        "raise ImportError('no')\n",
        stores={"memory": "fake_broken:S"},
    )
    with pytest.warns(
        pk.PluginWarning, match="'memory' from fake-broken was not loaded: ImportError: no"
    ):
        store = pk.open_store(f"memory://{uuid.uuid4().hex}")
    assert type(store) is FsspecStore


def test_broken_store_plugin_for_an_unknown_scheme(fake_plugins) -> None:
    """When the only provider of a scheme is broken, the error says why."""
    fake_plugins.add("fake-kv", "fake_kv", STORE_PLUGIN, stores={"kv": "fake_kv:NOT_CALLABLE"})
    with (
        pytest.warns(pk.PluginWarning),
        pytest.raises(
            ConfigurationError,
            match="store plugin for kv:// from fake-kv was not loaded: TypeError",
        ),
    ):
        pk.open_store("kv://x")


def test_store_plugin_errors_hide_options(fake_plugins) -> None:
    """A plugin's failure while opening is a StoreError that never shows option values."""
    fake_plugins.add("fake-kv", "fake_kv", STORE_PLUGIN, stores={"kv": "fake_kv:failing"})
    with pytest.raises(StoreError, match="'kv' from fake-kv could not open kv://x") as caught:
        pk.open_store("kv://x", token="s3cr3t-token")
    assert "s3cr3t-token" not in str(caught.value)
    assert "***" in str(caught.value)


def test_store_plugin_returning_something_else(fake_plugins) -> None:
    """A plugin returning something that is not a Store is a ConfigurationError."""
    fake_plugins.add("fake-kv", "fake_kv", STORE_PLUGIN, stores={"kv": "fake_kv:not_a_store"})
    with pytest.raises(
        ConfigurationError, match="returned object for kv://x, not a payloadkit Backend or Store"
    ):
        pk.open_store("kv://x")


def test_two_store_plugins_for_one_scheme(fake_plugins) -> None:
    """Two providers of one scheme: the first is used and a warning names both."""
    fake_plugins.add("fake-kv", "fake_kv", STORE_PLUGIN, stores={"kv": "fake_kv:KVStore"})
    fake_plugins.add("fake-kv2", "fake_kv2", STORE_PLUGIN, stores={"kv": "fake_kv2:KVStore"})
    with pytest.warns(
        pk.PluginWarning, match="Several distributions provide a payloadkit store for kv://"
    ):
        store = pk.open_store("kv://x")
    assert type(store).__module__ in ("fake_kv", "fake_kv2")


class TestKVStorePlugin(StoreTests):
    """The plugin store passes the conformance suite shipped for store plugins."""

    @pytest.fixture
    def store(self, kv_plugin) -> pk.Store:
        return pk.open_store(f"kv://{uuid.uuid4().hex}")


def _dict_backend_from_the_guide() -> type[Backend]:
    """The DictBackend of the plugin guide's store section, as the page defines it."""
    from tests.test_docs import ROOT, _blocks

    page = ROOT / "docs" / "guide" / "plugins.md"
    block = next(b for b in _blocks(page) if "class DictBackend" in b)
    namespace: dict[str, Any] = {}
    exec(compile(block, str(page), "exec"), namespace)
    backend: type[Backend] = namespace["DictBackend"]
    return backend


class TestGuideBackend(BackendTests):
    """The plugin guide's example backend passes the backend conformance suite."""

    @pytest.fixture
    def backend(self) -> Backend:
        return _dict_backend_from_the_guide()("dict://conformance")


class TestGuideStore(StoreTests):
    """A Store on the plugin guide's example backend passes the store conformance suite."""

    @pytest.fixture
    def store(self) -> pk.Store:
        return pk.Store(_dict_backend_from_the_guide()("dict://conformance"))
