"""LightningWork: payloadkit's Work with Lightning's constructor, names and attribute rules."""

from __future__ import annotations

from typing import Any

from payloadkit._payload import Payload
from payloadkit.app import Flow, Work
from payloadkit.lightning._cloud import BuildConfig, CloudCompute
from payloadkit.lightning._errors import (
    LightningAttributeError,
    LightningTypeError,
    LightningWorkException,
)
from payloadkit.lightning._ignored import ignore
from payloadkit.lightning._rules import check_json, forgot_init, in_method, undeclared

__all__ = ["LightningWork"]


class LightningWork(Work):
    """Lightning's LightningWork: ``parallel``, ``cache_calls``, ``raise_exception`` and
    ``start_with_flow`` work as there; cloud arguments are accepted and ignored.

    As in Lightning, state attributes are declared in ``__init__``, hold JSON values or
    storage objects (``L.storage.Payload``, ``Path``, ``Drive``), and ``run`` returns None.

    ```python
    import payloadkit.lightning as L

    class Hello(L.LightningWork):
        def __init__(self):
            super().__init__(parallel=False, cache_calls=True)
            self.greeting = ""

        def run(self, name: str):
            self.greeting = f"hello {name}"

    work = Hello()
    work.run("world")
    assert work.greeting == "hello world"
    ```
    """

    #: Lightning's rule: a Work's run returns None (results travel through state).
    _pk_returns_none = True

    def __init__(
        self,
        parallel: bool = False,
        cache_calls: bool = True,
        raise_exception: bool = True,
        host: str = "127.0.0.1",
        port: int | None = None,
        local_build_config: BuildConfig | None = None,
        cloud_build_config: BuildConfig | None = None,
        cloud_compute: CloudCompute | None = None,
        run_once: bool | None = None,
        start_with_flow: bool = True,
        **ignored: Any,
    ) -> None:
        self.__dict__.update(_pk_declared=set(), _pk_lname="", _pk_host=host, _pk_port=port)
        self.__dict__.update(_pk_display_name="", _pk_lightningignore=())
        self._pk_cloud_compute = cloud_compute or CloudCompute()
        self._pk_build = (local_build_config or BuildConfig(), cloud_build_config or BuildConfig())
        super().__init__(
            parallel=parallel,
            cache_calls=cache_calls if run_once is None else run_once,
            raise_exception=raise_exception,
            start_with_flow=start_with_flow,
        )
        _require_run(type(self))
        given: dict[str, Any] = {"port": port, "cloud_compute": cloud_compute}
        given |= {"run_once": run_once}
        given |= {"local_build_config": local_build_config}
        given |= {"cloud_build_config": cloud_build_config}
        ignore("LightningWork", {k: v for k, v in given.items() if v is not None} | ignored)

    @property
    def name(self) -> str:
        """The Work's name in the App: its attribute path from the root (``root.src``)."""
        return str(self.__dict__.get("_pk_name") or self.__dict__.get("_pk_lname", ""))

    @property
    def display_name(self) -> str:
        """A label for the Work (Lightning shows it in its cloud UI)."""
        return str(self.__dict__.get("_pk_display_name", ""))

    @display_name.setter
    def display_name(self, value: str) -> None:
        if self.has_started and value != self.display_name:
            raise RuntimeError("The display name can be set only before the work has started.")
        self.__dict__["_pk_display_name"] = value

    @property
    def host(self) -> str:
        """The host a server in the Work would bind (Lightning's ``host=``)."""
        return str(self.__dict__.get("_pk_host", "127.0.0.1"))

    @property
    def port(self) -> int | None:
        """The port given as ``port=`` (None: none)."""
        port = self.__dict__.get("_pk_port")
        return int(port) if port is not None else None

    @property
    def url(self) -> str:
        """Lightning's URL of the Work's server: none here."""
        return ""

    @property
    def cloud_compute(self) -> CloudCompute:
        """The cloud hardware asked for (ignored locally)."""
        compute: CloudCompute = self.__dict__["_pk_cloud_compute"]
        return compute

    @cloud_compute.setter
    def cloud_compute(self, value: CloudCompute) -> None:
        self.__dict__["_pk_cloud_compute"] = value

    @property
    def cloud_build_config(self) -> BuildConfig:
        """The cloud environment asked for (ignored locally)."""
        build: BuildConfig = self.__dict__["_pk_build"][1]
        return build

    @cloud_build_config.setter
    def cloud_build_config(self, value: BuildConfig) -> None:
        self.__dict__["_pk_build"] = (self.__dict__["_pk_build"][0], value)

    @property
    def local_build_config(self) -> BuildConfig:
        """The local environment asked for (ignored)."""
        build: BuildConfig = self.__dict__["_pk_build"][0]
        return build

    @local_build_config.setter
    def local_build_config(self, value: BuildConfig) -> None:
        self.__dict__["_pk_build"] = (value, self.__dict__["_pk_build"][1])

    @property
    def lightningignore(self) -> tuple[str, ...]:
        """Lightning's upload exclusions: kept, unused."""
        return tuple(self.__dict__.get("_pk_lightningignore", ()))

    @lightningignore.setter
    def lightningignore(self, value: tuple[str, ...]) -> None:
        self.__dict__["_pk_lightningignore"] = tuple(value)

    @property
    def state(self) -> dict[str, Any]:
        """Lightning's view of the Work's state: ``{"vars": ..., "calls": ..., "changes": {}}``."""
        variables = {
            key: value
            for key, value in vars(self).items()
            if not key.startswith("_") and key in self.__dict__.get("_pk_declared", ())
        }
        return {"vars": variables, "calls": {}, "changes": {}}

    @property
    def state_vars(self) -> dict[str, Any]:
        """Lightning's state without calls and changes: ``{"vars": ...}``."""
        return {"vars": self.state["vars"]}

    def on_exit(self) -> None:
        """Lightning's hook when the Work ends; nothing to do by default."""

    def _pk_check_attribute(self, name: str, value: Any) -> Any:
        return check_attribute(self, name, value)


def check_attribute(work: LightningWork, name: str, value: Any) -> Any:
    """Lightning's rules for a public attribute of a Work; the value to store."""
    if "_pk_declared" not in work.__dict__:
        raise forgot_init(work)
    if isinstance(getattr(type(work), name, None), property):
        return value
    value = as_path(value)
    if isinstance(value, Work | Flow):
        raise LightningWorkException(
            "A ``LightningWork`` isn't allowed to take any children such as ``LightningWork`` "
            f"or ``LightningFlow``. Found {type(value).__qualname__} as {name} in "
            f"{type(work).__qualname__}: hold it in the Flow, beside this Work.",
            work=work.name or type(work).__qualname__,
        )
    declared: set[str] = work.__dict__["_pk_declared"]
    initializing = in_method(work, "__init__")
    if not initializing and name not in declared:
        raise undeclared(name)
    if isinstance(value, Payload) and initializing:
        raise LightningAttributeError(
            "The Payload object should be set only within the run method of the work. "
            f"Set self.{name} = None in __init__ and the Payload in run()."
        )
    check_json(work, name, value)
    if isinstance(value, Payload) and hasattr(value, "_pk_attach"):
        value._pk_attach(name, work.name)
    declared.add(name)
    return value


def as_path(value: Any) -> Any:
    """A ``lit://`` string becomes an ``L.storage.Path``, as in Lightning."""
    if isinstance(value, str) and value.startswith("lit://"):
        from payloadkit.lightning._path import Path

        return Path(value)
    return value


def _require_run(cls: type) -> None:
    for klass in cls.__mro__:
        if klass is LightningWork:
            break
        if "run" in klass.__dict__:
            return
    raise LightningTypeError(
        f"The work `{cls.__name__}` is missing the `run()` method. This is required. Implement "
        "it first and then call it in your Flow."
    )
