"""Lightning's class names over payloadkit's Work, Flow and App."""

from __future__ import annotations

import os
import threading
import warnings
from typing import Any

from payloadkit.app import App, Flow, Work
from payloadkit.stores import Store

__all__ = ["LightningApp", "LightningCompatWarning", "LightningFlow", "LightningWork"]

_warned: set[tuple[str, frozenset[str]]] = set()
_lock = threading.Lock()


class LightningCompatWarning(UserWarning):
    """Lightning arguments that have no meaning in payloadkit were given and are ignored."""


def _ignore(owner: str, arguments: dict[str, Any]) -> None:
    """Warn once per process about each set of ignored arguments of ``owner``."""
    if not arguments:
        return
    key = (owner, frozenset(arguments))
    with _lock:
        if key in _warned:
            return
        _warned.add(key)
    warnings.warn(
        f"{owner} ignores these Lightning arguments, which have no meaning in payloadkit: "
        f"{', '.join(sorted(arguments))}. Remove them to silence this warning.",
        LightningCompatWarning,
        stacklevel=4,
    )


class LightningWork(Work):
    """Lightning's LightningWork: ``parallel`` and ``cache_calls`` work as there.

    ```python
    import payloadkit.lightning as L

    class Hello(L.LightningWork):
        def run(self, name: str):
            self.greeting = f"hello {name}"

    work = Hello(parallel=False, cache_calls=True)
    work.run("world")
    assert work.greeting == "hello world"
    ```
    """

    def __init__(self, parallel: bool = False, cache_calls: bool = True, **ignored: Any) -> None:
        super().__init__(parallel=parallel, cache_calls=cache_calls)
        _ignore("LightningWork", ignored)


class LightningFlow(Flow):
    """Lightning's LightningFlow; its ``run()`` is called once per run, not in a loop.

    ```python
    import payloadkit.lightning as L

    class Root(L.LightningFlow):
        def run(self):
            print("ran once")

    L.LightningApp(Root(), storage="memory://lightning-flow-doc", executor="inline").run()
    ```
    """


class LightningApp(App):
    """Lightning's LightningApp: building it runs nothing; ``payloadkit run FILE`` runs it.

    Lightning's own arguments (``info``, ``flow_cloud_compute``, ``log_level``,
    ``root_path``, ...) are accepted and ignored, with one warning. ``storage`` and
    ``executor`` are payloadkit's (see :class:`payloadkit.App`); by default each Work
    runs in its own process, as in Lightning.

    ```python
    import payloadkit.lightning as L

    class Root(L.LightningFlow):
        def run(self):
            pass

    app = L.LightningApp(Root())          # nothing runs here
    assert app.executor == "process"
    ```
    """

    def __init__(
        self,
        root: Flow,
        storage: str | os.PathLike[str] | Store | None = None,
        executor: Any = "process",
        **ignored: Any,
    ) -> None:
        storage_options = ignored.pop("storage_options", None)
        super().__init__(root, storage, executor, storage_options=storage_options)
        _ignore("LightningApp", ignored)
