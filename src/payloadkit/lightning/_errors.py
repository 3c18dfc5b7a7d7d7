"""The errors Lightning raises where payloadkit.lightning follows its rules.

Each is a `payloadkit.errors.PayloadkitError` and also the built-in class Lightning
raises (``AttributeError``, ``TypeError``), so code catching either works.
"""

from __future__ import annotations

from payloadkit.errors import ConfigurationError, WorkError

__all__ = [
    "LightningAttributeError",
    "LightningFlowException",
    "LightningTypeError",
    "LightningWorkException",
]


class LightningAttributeError(ConfigurationError, AttributeError):
    """An attribute a Lightning component may not take (undeclared, unsupported, replaced)."""


class LightningTypeError(ConfigurationError, TypeError):
    """A Lightning component defined wrongly (a Work without ``run``)."""


class LightningWorkException(WorkError):
    """A LightningWork used against Lightning's rules (a Work holding Works or Flows)."""


class LightningFlowException(WorkError):
    """A LightningFlow failed the App on purpose (``self.fail(message)``)."""
