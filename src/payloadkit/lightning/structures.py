"""``L.structures.Dict`` and ``L.structures.List``: Works and Flows held in a dict or list.

The App finds the Works inside them (named ``root.models.svm``, ``root.workers.0``),
also those appended while the App runs.

```python
import payloadkit.lightning as L

class Echo(L.LightningWork):
    def run(self):
        pass

workers = L.structures.List(Echo(), Echo())
assert len(workers.works) == 2
```
"""

from __future__ import annotations

from typing import Any

from payloadkit.app import Flow, Work

__all__ = ["Dict", "List"]


class _Structure:
    """What both structures offer: the Works and Flows they hold, with their names."""

    _pk_lname = ""

    def _pk_items(self) -> list[tuple[str, Any]]:
        raise NotImplementedError

    @property
    def name(self) -> str:
        """The structure's attribute path from the root Flow."""
        return self._pk_lname

    @property
    def works(self) -> list[Work]:
        """Every Work held, those of the Flows held included."""
        found: list[Work] = []
        for _, item in self._pk_items():
            if isinstance(item, Work):
                found.append(item)
            elif isinstance(item, Flow) and hasattr(item, "works"):
                found.extend(item.works())
        return found

    @property
    def flows(self) -> dict[str, Flow]:
        """Every Flow held, and theirs, by name."""
        found: dict[str, Flow] = {}
        for _, item in self._pk_items():
            if isinstance(item, Flow):
                found[getattr(item, "name", "")] = item
                found.update(getattr(item, "flows", {}))
        return found

    @property
    def state(self) -> dict[str, Any]:
        """The state of each component held, by its key."""
        return {key: getattr(item, "state", {}) for key, item in self._pk_items()}

    def _pk_rename(self, name: str) -> None:
        from payloadkit.lightning._flow import rename

        object.__setattr__(self, "_pk_lname", name)
        for key, item in self._pk_items():
            rename(item, f"{name}.{key}")


class Dict(_Structure, dict[str, Any]):
    """A dict of Works or Flows: ``L.structures.Dict(svm=Model(), tree=Model())``."""

    def __init__(self, **components: Any) -> None:
        dict.__init__(self, **components)

    def _pk_items(self) -> list[tuple[str, Any]]:
        return list(self.items())

    def __setitem__(self, key: str, value: Any) -> None:
        dict.__setitem__(self, key, value)
        if self._pk_lname:
            self._pk_rename(self._pk_lname)


class List(_Structure, list[Any]):
    """A list of Works or Flows: ``L.structures.List(Model(), Model())``; ``append`` works."""

    def __init__(self, *components: Any) -> None:
        list.__init__(self, components)

    def _pk_items(self) -> list[tuple[str, Any]]:
        return [(str(index), item) for index, item in enumerate(self)]

    def append(self, value: Any) -> None:
        """Add a component; it is named ``<list name>.<index>``."""
        list.append(self, value)
        if self._pk_lname:
            self._pk_rename(self._pk_lname)
