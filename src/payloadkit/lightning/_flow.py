"""LightningFlow: payloadkit's Flow with Lightning's names, attribute rules and helpers."""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from payloadkit.app import Flow, Work
from payloadkit.errors import ConfigurationError
from payloadkit.lightning._errors import LightningAttributeError, LightningFlowException
from payloadkit.lightning._rules import check_json, forgot_init, in_method, undeclared
from payloadkit.lightning._schedule import next_time
from payloadkit.lightning._work import LightningWork as _LWork
from payloadkit.lightning._work import as_path
from payloadkit.lightning.structures import Dict, List, _Structure

__all__ = ["LightningFlow", "rename"]


class LightningFlow(Flow):
    """Lightning's LightningFlow: in a ``LightningApp`` its ``run()`` is called in a loop.

    State attributes are declared in ``__init__`` and hold JSON values (or storage
    objects); child Works and Flows may also be added inside ``run``, but not replaced.
    ``self.stop(message)`` ends the App. ``works()``, ``named_works()``, ``flows``,
    ``get_component_by_name``, ``schedule`` and ``experimental_iterate`` are Lightning's.

    ```python
    import payloadkit.lightning as L

    class Counter(L.LightningFlow):
        def __init__(self):
            super().__init__()
            self.count = 0

        def run(self):
            self.count += 1
            if self.count == 3:
                self.stop("counted to three")

    app = L.LightningApp(Counter(), storage="memory://lightning-flow-doc", executor="inline")
    app.run()
    assert app.root.count == 3
    ```
    """

    _calls: dict[str, Any]

    def __init__(self) -> None:
        self.__dict__.update(_pk_declared=set(), _pk_lname="", _calls={})
        super().__init__()

    @property
    def name(self) -> str:
        """The Flow's attribute path from the root: ``root``, ``root.child``."""
        return str(self.__dict__.get("_pk_lname") or "root")

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
            return
        if isinstance(getattr(type(self), name, None), property):
            object.__setattr__(self, name, value)
            return
        if "_pk_declared" not in self.__dict__:
            raise forgot_init(self)
        value = _structured(as_path(value))
        self._check(name, value)
        object.__setattr__(self, name, value)
        if _is_component(value):
            rename(value, f"{self.name}.{name}")

    def _check(self, name: str, value: Any) -> None:
        declared: set[str] = self.__dict__["_pk_declared"]
        component = _is_component(value)
        current = self.__dict__.get(name)
        if isinstance(current, Work | Flow) and value is not current:
            kind = "work" if isinstance(current, Work) else "flow"
            raise LightningAttributeError(
                f"Cannot set attributes as the {kind} can't be changed once defined: {name}. "
                f"Keep {name} and give the new component another attribute name."
            )
        outside = name not in declared and not in_method(self, "__init__")
        if outside and not (component and in_method(self, "run")):
            raise undeclared(name)
        if not component:
            check_json(self, name, value)
        declared.add(name)

    def fail(self, end_msg: str = "") -> None:
        """End the App as failed, printing ``end_msg``."""
        if end_msg:
            print(end_msg, flush=True)
        raise LightningFlowException(end_msg or f"{self.name} failed the App.", work=self.name)

    def _exit(self, end_msg: str = "") -> None:
        """Lightning's older name of `stop`."""
        self.stop(end_msg)

    # -- the component tree ----------------------------------------------------
    def _children(self, kind: type | tuple[type, ...]) -> list[tuple[str, Any]]:
        return sorted(
            (key, value)
            for key, value in vars(self).items()
            if not key.startswith("_") and isinstance(value, kind)
        )

    @property
    def flows(self) -> dict[str, Flow]:
        """Every Flow below this one, by name, depth first."""
        found: dict[str, Flow] = {}
        for _, flow in self._children(Flow):
            found[getattr(flow, "name", "")] = flow
            found.update(getattr(flow, "flows", {}))
        for _, structure in self._children(_Structure):
            found.update(structure.flows)
        return found

    def works(self, recurse: bool = True) -> list[Work]:
        """Its Works (and, with ``recurse``, those of every Flow and structure below)."""
        found = [work for _, work in self._children(Work)]
        if not recurse:
            return found
        for _, flow in self._children(Flow):
            found.extend(flow.works(recurse=True) if isinstance(flow, LightningFlow) else [])
        for _, structure in self._children(_Structure):
            found.extend(structure.works)
        return found

    def named_works(self, recurse: bool = True) -> list[tuple[str, Work]]:
        """``(name, work)`` for each of `works`."""
        return [(str(getattr(work, "name", "")), work) for work in self.works(recurse)]

    def get_component_by_name(self, name: str) -> Any:
        """The Work or Flow called ``name`` (``root.a.b``) below this Flow.

        A name not below this Flow raises a ConfigurationError (a ValueError); a name
        whose part names no child component raises an AttributeError naming both.
        """
        if name == self.name:
            return self
        if not name.startswith(self.name + "."):
            raise ConfigurationError(
                f"Invalid component name {name}. Names start with {self.name!r} and go "
                f"down by attribute: {self.name}.child.grandchild."
            )
        node: Any = self
        where = self.name
        for part in name[len(self.name) + 1 :].split("."):
            child = _child(node, part) if not isinstance(node, Work) else None
            if not _is_component(child):
                raise LightningAttributeError(
                    f"Component {where!r} has no child component with name {part!r}."
                )
            node, where = child, f"{where}.{part}"
        return node

    @property
    def state_vars(self) -> dict[str, Any]:
        """Lightning's state without calls and changes: the vars of this Flow and below."""
        state = self.state
        return {
            "vars": state["vars"],
            "flows": {key: flow.state_vars for key, flow in self._children(LightningFlow)},
            "works": {key: work.state_vars for key, work in self._children(_LWork)},
            "structures": state["structures"],
        }

    @property
    def state(self) -> dict[str, Any]:
        """Lightning's view of the state: vars, calls, flows, works, structures, changes."""
        kinds = (Work, Flow, _Structure)
        return {
            "vars": {
                key: value
                for key, value in vars(self).items()
                if not key.startswith("_") and not isinstance(value, kinds)
            },
            "calls": dict(self._calls),
            "flows": {key: getattr(flow, "state", {}) for key, flow in self._children(Flow)},
            "works": {key: getattr(work, "state", {}) for key, work in self._children(Work)},
            "structures": {key: s.state for key, s in self._children(_Structure)},
            "changes": {},
        }

    # -- timing and iteration --------------------------------------------------
    def schedule(
        self, cron_pattern: str, start_time: datetime | None = None, user_key: str | None = None
    ) -> bool:
        """True the first time, then whenever ``cron_pattern``'s next moment has come."""
        if user_key is None:
            caller = inspect.stack()[1]
            user_key = f"{cron_pattern}.{caller.filename}.{caller.lineno}"
        key = "schedule:" + hashlib.sha256(user_key.encode()).hexdigest()[:12]
        schedules = self._calls.setdefault("scheduling", {})
        now = datetime.now()
        entry = schedules.get(key)
        if entry is None:
            began = start_time or now
            schedules[key] = {"cron_pattern": cron_pattern, "next": _next(cron_pattern, began)}
            return True
        if now >= datetime.fromisoformat(entry["next"]):
            entry["next"] = _next(cron_pattern, now)
            return True
        return False

    def _pk_waiting(self) -> bool:
        """True while a schedule of this Flow waits for its next moment."""
        return bool(self._calls.get("scheduling"))

    def experimental_iterate(
        self, iterable: Iterable[Any], run_once: bool = True, user_key: str = ""
    ) -> Iterator[Any]:
        """Iterate ``iterable`` across loop iterations, resuming where the last one stopped."""
        if not isinstance(iterable, Iterable):
            raise TypeError(
                f"An iterable should be provided to `self.iterate` method. Found {iterable}"
            )
        if not user_key:
            caller = inspect.stack()[1]
            user_key = f"{caller.filename}.{caller.frame.f_code.co_firstlineno}"
        return self._iterate(iterable, run_once, "iterate:" + user_key)

    def _iterate(self, iterable: Iterable[Any], run_once: bool, key: str) -> Iterator[Any]:
        entry = self._calls.get(key)
        if entry is not None and entry["has_finished"]:
            if run_once:
                return
            entry = None
        if entry is None:
            entry = self._calls[key] = {"counter": 0, "has_finished": False}
        for index, value in enumerate(iterable):
            if index < entry["counter"]:
                continue
            entry["counter"] = index
            yield value
        entry["has_finished"] = True


def _child(node: Any, part: str) -> Any:
    if isinstance(node, list):
        return node[int(part)] if part.isdigit() and int(part) < len(node) else None
    if isinstance(node, dict):
        return node.get(part)
    return getattr(node, part, None)


def _next(pattern: str, after: datetime) -> str:
    return next_time(pattern, after).isoformat()


def _is_component(value: Any) -> bool:
    return isinstance(value, Work | Flow | _Structure)


def _structured(value: Any) -> Any:
    """A non-empty list or dict of components becomes a Lightning structure."""
    kinds = (Work, Flow, _Structure)
    if isinstance(value, _Structure) or not value:
        return value
    if isinstance(value, list) and all(isinstance(item, kinds) for item in value):
        return List(*value)
    if isinstance(value, dict) and all(isinstance(item, kinds) for item in value.values()):
        return Dict(**value)
    return value


def rename(component: Any, name: str) -> None:
    """Give ``component`` (and everything below it) its name under the root."""
    if isinstance(component, _Structure):
        component._pk_rename(name)
        return
    if not isinstance(component, Work | Flow):
        return
    component.__dict__["_pk_lname"] = name
    if isinstance(component, Flow):
        for key, value in vars(component).items():
            if not key.startswith("_") and _is_component(value):
                rename(value, f"{name}.{key}")
