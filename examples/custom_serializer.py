"""A custom serializer: Decimals stored as their exact text, registered in code.

A distribution would declare the class under the ``payloadkit.serializers`` entry point
instead of calling ``register_serializer``; see the plugin guide.
"""

from __future__ import annotations

import decimal

import payloadkit as pk
from payloadkit.errors import SerializationError


class DecimalText(pk.Serializer):
    """Stores a ``decimal.Decimal`` as UTF-8 text: exact, readable, runs no code on load."""

    name = "decimal-text"
    version = "1"
    types = (decimal.Decimal,)
    extension = ".txt"

    def dumps(self, obj: object) -> bytes:
        if not isinstance(obj, decimal.Decimal):
            raise SerializationError(f"decimal-text stores Decimals, not {type(obj).__name__}")
        return str(obj).encode()

    def loads(self, data: memoryview) -> decimal.Decimal:
        return decimal.Decimal(bytes(data).decode())


pk.register_serializer(DecimalText)
print(pk.explain(decimal.Decimal("1.10")))

store = pk.open_store("example-store")
price = decimal.Decimal("19.990")
ref = pk.Payload(price).save(store)
assert ref.serializer == "decimal-text"

loaded = pk.Payload.from_ref(ref).value
assert loaded == price
assert str(loaded) == "19.990"
with open(f"{store.url}/{store.info(ref).object_key}", encoding="utf-8") as f:
    assert f.read() == "19.990"  # a plain text file in the store
print(ref.digest, "->", loaded)
