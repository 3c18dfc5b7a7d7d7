"""Lightning's rules for component attributes: declared in ``__init__``, JSON or storage.

Lightning tells ``__init__`` (and what it calls) from later code by looking for the
component's own ``__init__`` (or ``run``) among the calling frames; so does this module.
"""

from __future__ import annotations

import sys
from typing import Any

from payloadkit.app._state import carriable
from payloadkit.lightning._errors import LightningAttributeError

__all__ = ["check_json", "forgot_init", "in_method", "undeclared"]


def in_method(component: object, method: str) -> bool:
    """True when a frame above is ``component``'s own ``method`` (``__init__``, ``run``)."""
    frame: Any = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == method and frame.f_locals.get("self") is component:
            return True
        frame = frame.f_back
    return False


def forgot_init(component: object) -> LightningAttributeError:
    """The error for an attribute set before ``super().__init__()`` ran."""
    name = type(component).__qualname__
    return LightningAttributeError(
        f"Did you forget to call super().__init__() in {name}.__init__? Lightning components "
        "must call it before they set any attribute."
    )


def undeclared(name: str) -> LightningAttributeError:
    """The error for a state attribute first set outside ``__init__``."""
    return LightningAttributeError(
        f"Cannot set attributes that were not defined in __init__: {name}. Declare it in "
        f"__init__ (self.{name} = None) or make it private (self._{name})."
    )


def check_json(component: object, name: str, value: Any) -> None:
    """Raise Lightning's error when ``value`` cannot be state."""
    if not carriable(value):
        raise LightningAttributeError(
            "Only JSON-serializable attributes are currently supported (str, int, float, bool, "
            f"tuple, list, dict etc.) to be part of {type(component).__qualname__} state. Found "
            f"the attribute {name} with {type(value).__qualname__} {str(value)[:60]!r} instead. "
            f"HINT: private attributes (self._{name} = ...) are not shared and need not be "
            "JSON-serializable; wrap other objects in L.storage.Payload(...)."
        )
