"""payloadkit: move Python objects between units of work through storage.

```python
import payloadkit as pk

p = pk.Payload({"answer": 42})
ref = p.save(pk.open_store("memory://quickstart"))
assert pk.Payload.from_ref(ref).value == {"answer": 42}
```
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from payloadkit import errors
from payloadkit._chunks import ChunkSource
from payloadkit._config import Settings, configure, settings
from payloadkit._encode import Explanation
from payloadkit._manifest import Manifest
from payloadkit._partial import LazyReader, PayloadHandle, VerifiedFile
from payloadkit._payload import Payload
from payloadkit._ref import PayloadRef
from payloadkit._registry import PluginWarning, SerializerInfo, registry
from payloadkit._serializer import Serializer
from payloadkit.stores import Store, open_store

if TYPE_CHECKING:
    from payloadkit.app import App, Flow, Work

__version__ = "0.1.0"

__all__ = [
    "App",
    "ChunkSource",
    "Explanation",
    "Flow",
    "LazyReader",
    "Manifest",
    "Payload",
    "PayloadHandle",
    "PayloadRef",
    "PluginWarning",
    "Serializer",
    "SerializerInfo",
    "Settings",
    "Store",
    "VerifiedFile",
    "Work",
    "__version__",
    "configure",
    "errors",
    "explain",
    "open_store",
    "register_serializer",
    "serializers",
    "settings",
]


def register_serializer(
    serializer: Serializer | type[Serializer],
    types: tuple[type | str, ...] | list[type | str] | None = None,
    *,
    clobber: bool = False,
) -> Serializer:
    """Register a serializer in code; it becomes the default for ``types`` (else its own).

    ``clobber=True`` replaces a serializer registered under the same name.
    """
    return registry.register(serializer, types, origin="user", clobber=clobber)


def serializers() -> list[SerializerInfo]:
    """Every known serializer: name, version, types, origin, distribution and status."""
    return registry.infos()


def explain(obj: Any, serializer: str | None = None) -> Explanation:
    """Which serializer ``obj`` gets, and why, and the compression its bytes get (``print``
    it for a readable answer).

    ```python
    import payloadkit as pk

    print(pk.explain(lambda x: x))   # function -> cloudpickle: ... pickle refused it
    ```
    """
    from payloadkit._encode import explain as _explain

    return _explain(obj, serializer)


def __getattr__(name: str) -> Any:
    # The Work/Flow/App layer is imported on first use, keeping `import payloadkit` light.
    if name in ("App", "Flow", "Work"):
        from payloadkit import app

        return getattr(app, name)
    raise AttributeError(f"module 'payloadkit' has no attribute {name!r}")
