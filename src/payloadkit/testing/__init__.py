"""Conformance suites for serializers and stores, shipped for plugin authors.

Every built-in serializer, backend and store passes these; a plugin's own tests subclass them:

```python
import pytest
from payloadkit.testing import BackendTests, SerializerTests, StoreTests
```

Importing this module needs pytest and Hypothesis (test dependencies, not payloadkit's).
"""

from __future__ import annotations

from payloadkit.testing._backend_tests import BackendTests
from payloadkit.testing._serializer_tests import SerializerTests
from payloadkit.testing._store_tests import StoreTests
from payloadkit.testing._tag_tests import TagTests

__all__ = ["BackendTests", "SerializerTests", "StoreTests", "TagTests"]
