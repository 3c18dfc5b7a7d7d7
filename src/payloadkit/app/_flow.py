"""Flow: plain Python that holds Works (and child Flows) and calls them."""

from __future__ import annotations

from typing import Any

from payloadkit.app._status import StopApp
from payloadkit.app._work import Work
from payloadkit.errors import ConfigurationError

__all__ = ["Flow", "works_of"]


class Flow:
    """Holds Works and child Flows as attributes; its ``run()`` calls them.

    Works are named by their attribute path from the root Flow: ``root.src``,
    ``root.stage.train``, and ``root.workers.0`` for Works in a list or dict attribute.
    The root Flow's ``run()`` is called once per `App.run` (again and again with
    ``App(loop=True)``); ``self.stop(message)`` ends the run there.

    ```python
    import payloadkit as pk

    class Hello(pk.Work):
        def __init__(self):
            super().__init__()
            self.greeting = ""

        def run(self, name: str):
            self.greeting = f"hello {name}"

    class Main(pk.Flow):
        def __init__(self):
            super().__init__()
            self.hello = Hello()

        def run(self):
            self.hello.run("payloadkit")
            print(self.hello.greeting)

    pk.App(Main(), storage="memory://flow-doc", executor="inline").run()
    ```
    """

    def __init__(self) -> None:
        pass

    def run(self) -> Any:
        """Your code: override it to call the Works."""
        raise NotImplementedError(f"{type(self).__qualname__} must define run().")

    def stop(self, end_msg: str = "") -> None:
        """End the App's run here, as succeeded; ``end_msg`` is printed and recorded."""
        raise StopApp(end_msg)


def works_of(flow: Flow, prefix: str = "root") -> dict[str, Work]:
    """Every Work under ``flow``, by attribute path, in attribute order; each Work once."""
    found: dict[str, Work] = {}
    seen: set[int] = set()
    _walk(flow, prefix, found, seen)
    return found


def _walk(node: Any, path: str, found: dict[str, Work], seen: set[int]) -> None:
    if id(node) in seen:
        return
    if isinstance(node, Work):
        seen.add(id(node))
        found[path] = node
        return
    if isinstance(node, Flow):
        seen.add(id(node))
        for name, value in vars(node).items():
            if not name.startswith("_"):
                _walk(value, f"{path}.{name}", found, seen)
        return
    if isinstance(node, list | tuple):
        for index, value in enumerate(node):
            _walk(value, f"{path}.{index}", found, seen)
    elif isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str) and key.replace("_", "").isalnum():
                _walk(value, f"{path}.{key}", found, seen)


def check_root(root: object) -> Flow:
    """``root`` itself, when it is a Flow; a clear error otherwise."""
    if not isinstance(root, Flow):
        raise ConfigurationError(
            f"An App runs a Flow, not {type(root).__name__}. Wrap your Works in a Flow "
            "subclass whose run() calls them, and pass an instance: App(MyFlow())."
        )
    return root
