"""Lightning's own public-API tests of Works, Flows and Payloads, re-expressed.

Each test checks the behaviour Lightning's test of the same name checks, through the
public API of ``payloadkit.lightning`` only; where Lightning drives its runner
(``MultiProcessRuntime(app).dispatch()``) these call ``app.run()``. The App's tests are
in test_lightning_app.py; test_lightning_app_work_start is test_start_run_stop in
test_loop.py.

- ``tests_app/core/test_lightning_work.py``: 15 of 18 re-expressed. Not: test_lightning_status
  (drives ``WorkRunner`` with mocked queues), test_lightning_work_calls (the private
  ``_calls`` cache), test_lightning_work_delete (the cloud backend, ``_backend``).
- ``tests_app/core/test_lightning_flow.py``: 22 of 25. Not: test_populate_changes and
  test_populate_changes_status_removed (``LightningApp.populate_changes`` over deepdiff
  deltas of the internal state), test_lightning_flow_reload (the private
  ``_state_dict`` / ``_load_state_dict`` of checkpoints).
- ``tests_app/storage/test_payload.py``: 5 of 6. Not: test_path_attach_queues (the
  transfer queues Lightning attaches to a Payload). test_payload_copy and
  test_payload_pickable check the public part of what Lightning's check (a copy keeps
  the payload's name and value), not its private ``_origin`` / ``_consumer``.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import pickle
from collections import Counter
from typing import Any

import pytest

import payloadkit.lightning as L
from payloadkit.lightning.storage import Path, Payload


class EmptyWork(L.LightningWork):
    def run(self) -> None:
        pass


class EmptyFlow(L.LightningFlow):
    def run(self) -> None:
        pass


def _app(flow: Any, tmp_path: Any) -> L.LightningApp:
    return L.LightningApp(flow, storage=str(tmp_path / "store"), executor="process")


# -- LightningWork --------------------------------------------------------------------
def test_lightning_work_run_method_required() -> None:
    """A Work class without run() raises a TypeError naming the class; with run it works."""
    with pytest.raises(TypeError, match="The work `LightningWork` is missing the `run\\(\\)`"):
        L.LightningWork()

    class NoRun(L.LightningWork):
        def __init__(self) -> None:
            super().__init__()
            self.started = False

    with pytest.raises(TypeError, match="The work `NoRun` is missing the `run\\(\\)` method"):
        NoRun()

    class WithRun(NoRun):
        def run(self) -> None:
            self.started = True

    work = WithRun()
    work.run()
    assert work.started


def test_lightning_work_no_children_allowed() -> None:
    """A Work holding a Work, or a Flow, raises LightningWorkException."""

    class HoldsWork(L.LightningWork):
        def __init__(self) -> None:
            super().__init__()
            self.child = EmptyWork()

        def run(self) -> None:
            pass

    with pytest.raises(L.LightningWorkException, match="isn't allowed to take any children"):
        HoldsWork()

    class HoldsFlow(L.LightningWork):
        def __init__(self) -> None:
            super().__init__()
            self.flow = EmptyFlow()

        def run(self) -> None:
            pass

    with pytest.raises(L.LightningWorkException, match="LightningFlow"):
        HoldsFlow()


def test_forgot_to_call_init() -> None:
    """Setting state before super().__init__() says so."""

    class Forgot(L.LightningWork):
        def __init__(self) -> None:
            self.var_a = None

        def run(self) -> None:
            pass

    with pytest.raises(AttributeError, match="Did you forget to call"):
        Forgot()


@pytest.mark.parametrize(("name", "value"), [("x", 1), ("f", "flow"), ("w", "work")])
def test_unsupported_attribute_declaration_outside_init(name: str, value: Any) -> None:
    """Attributes of a Flow not declared in __init__ cannot be set from outside."""
    flow = EmptyFlow()
    value = {"flow": EmptyFlow, "work": EmptyWork}.get(value, lambda: value)()
    with pytest.raises(AttributeError, match=f"not defined in __init__: {name}"):
        setattr(flow, name, value)
    assert not hasattr(flow, name)
    setattr(flow, "_" + name, value)  # private attributes are not state
    assert hasattr(flow, "_" + name)


def test_undeclared_work_attribute_outside_init() -> None:
    """A Work's undeclared state attribute set outside __init__ raises the same error."""
    work = EmptyWork()
    with pytest.raises(AttributeError, match="not defined in __init__: x"):
        work.x = 1


def test_supported_attribute_declaration_outside_init() -> None:
    """Private attributes may be set anywhere."""
    work = EmptyWork()
    work._name = "name"
    assert work._name == "name"


def test_supported_attribute_declaration_inside_init() -> None:
    """Attributes set by a method that __init__ calls count as declared."""

    class Declares(EmptyWork):
        def __init__(self) -> None:
            super().__init__()
            self.directly_in_init = "init"
            self.method_under_init()

        def method_under_init(self) -> None:
            self.attribute = "test"

    work = Declares()
    assert work.directly_in_init == "init"
    assert work.attribute == "test"


@pytest.mark.parametrize("replacement", ["flow", "work", None])
def test_fixing_flows_and_works(replacement: Any) -> None:
    """A child Flow, once set, cannot be replaced."""

    class Fixed(L.LightningFlow):
        def run(self) -> None:
            self.empty_flow = EmptyFlow()
            self.empty_flow = {"flow": EmptyFlow, "work": EmptyWork}.get(
                replacement, lambda: None
            )()

    with pytest.raises(AttributeError, match="Cannot set attributes as"):
        Fixed().run()


def test_work_path_assignment() -> None:
    """lit:// strings become Paths; plain strings stay strings."""

    class Work(L.LightningWork):
        def __init__(self) -> None:
            super().__init__()
            self.no_path = "a/b/c"
            self.path = Path("lit://x/y/z")
            self.lit_path = "lit://x/y/z"

        def run(self) -> None:
            pass

    work = Work()
    assert isinstance(work.no_path, str)
    assert isinstance(work.path, Path)
    assert isinstance(work.lit_path, Path)
    assert work.path == work.lit_path


def test_lightning_work_url() -> None:
    """A Work given a port has no URL locally (Lightning's is empty until it is served)."""

    class ExposedWork(L.LightningWork):
        def run(self) -> None:
            pass

    with pytest.warns(L.LightningCompatWarning, match="port"):
        work = ExposedWork(port=8000)
    assert work.url == ""
    assert work.port == 8000
    assert "url" not in work.state["vars"]


class PathsChild(L.LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.none_to_path = None
        self.path_to_none = Path()
        self.path_to_path = Path()

    def run(self) -> None:
        self.none_to_path = "lit://none/to/path"
        self.path_to_none = None
        self.path_to_path = "lit://path/to/path"


class PathsParent(L.LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.work = PathsChild()

    def run(self) -> None:
        self.work.run()
        self.stop()


def test_work_state_change_with_path(tmp_path: Any) -> None:
    """Type changes to and from Path attributes of a child component show in it and in
    its state after the App ran."""
    flow = PathsParent()
    _app(flow, tmp_path).run()
    child = flow.work
    assert child.none_to_path == Path("lit://none/to/path")
    assert child.path_to_none is None
    assert child.path_to_path == Path("lit://path/to/path")
    assert child.state["vars"]["none_to_path"] == Path("lit://none/to/path")
    assert child.state["vars"]["path_to_none"] is None
    assert child.state["vars"]["path_to_path"] == Path("lit://path/to/path")


def test_work_cloud_build_config_provided() -> None:
    """cloud_build_config is a settable property; setting it in __init__ works."""
    assert isinstance(L.LightningWork.cloud_build_config, property)

    class Work(L.LightningWork):
        def __init__(self) -> None:
            super().__init__()
            self.cloud_build_config = L.BuildConfig(image="base-image:v1")

        def run(self) -> None:
            pass

    Work().run()


def test_work_local_build_config_provided() -> None:
    """local_build_config is a settable property; setting it in __init__ works."""
    assert isinstance(L.LightningWork.local_build_config, property)

    class Work(L.LightningWork):
        def __init__(self) -> None:
            super().__init__()
            self.local_build_config = L.BuildConfig(image="base-image:v1")

        def run(self) -> None:
            pass

    Work().run()


class WorkCounter(L.LightningWork):
    def run(self) -> None:
        pass


def test_lightning_app_with_work(tmp_path: Any) -> None:
    """A Work given as the App's root is wrapped in a Flow that runs it; the App ends."""
    app = _app(WorkCounter(), tmp_path)
    record = app.run()
    assert record["works"]["root.work"]["stage"] == "succeeded"
    assert app.root.work.has_stopped  # type: ignore[attr-defined]  # the App has ended


def test_lightning_work_display_name() -> None:
    """display_name can be set before the Work starts, not after (to another value)."""
    work = WorkCounter()
    assert work.display_name == ""
    work.display_name = "Hello"
    assert work.display_name == "Hello"
    work.start()
    with pytest.raises(RuntimeError, match="only before the work has started"):
        work.display_name = "HELLO"
    work.display_name = "Hello"


# -- LightningFlow --------------------------------------------------------------------
def test_empty_component() -> None:
    """The state of a Flow without attributes has Lightning's keys, all empty."""
    assert EmptyFlow().state == {
        "vars": {},
        "calls": {},
        "flows": {},
        "structures": {},
        "changes": {},
        "works": {},
    }


@pytest.mark.parametrize(("name", "value"), [("_name", "name"), ("_changes", {"change": 1})])
def test_supported_attribute_declaration_outside_init_flow(name: str, value: Any) -> None:
    """A Flow's private attributes may be set from outside __init__."""
    flow = EmptyFlow()
    setattr(flow, name, value)
    assert getattr(flow, name) == value


def test_supported_attribute_declaration_inside_init_flow() -> None:
    """Attributes and child Flows set by a method __init__ calls are in the Flow's state."""

    class Declares(EmptyFlow):
        def __init__(self) -> None:
            super().__init__()
            self.directly_in_init = "init"
            self.method_under_init()

        def method_under_init(self) -> None:
            self.attribute = "test"
            self.subflow = EmptyFlow()

    flow = Declares()
    assert flow.state["vars"]["directly_in_init"] == "init"
    assert flow.state["vars"]["attribute"] == "test"
    assert isinstance(flow.subflow, EmptyFlow)
    assert flow.state["flows"]["subflow"] == flow.subflow.state


@dataclasses.dataclass
class CustomDataclass:
    x: int = 1


@pytest.mark.parametrize("attribute", [{3, 2, 1}, "lambda", CustomDataclass()])
@pytest.mark.parametrize("cls", [L.LightningWork, L.LightningFlow])
def test_unsupported_attribute_types(cls: type, attribute: Any) -> None:
    """Sets, lambdas and dataclasses cannot be state of a Work or a Flow."""
    value = (lambda _: 5) if attribute == "lambda" else attribute

    class Component(cls):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__()
            self.x = value

        def run(self) -> None:
            pass

    with pytest.raises(AttributeError, match="Only JSON-serializable attributes"):
        Component()


@pytest.mark.parametrize("defined", [False, True])
@pytest.mark.parametrize("kind", ["value", "flow", "work"])
def test_unsupported_attribute_declaration_inside_run(defined: bool, kind: str) -> None:
    """In run, a Flow may add child Works and Flows; other attributes must be declared."""
    value: Any = {"flow": EmptyFlow, "work": EmptyWork}.get(kind, lambda: 1)()

    class Flow(L.LightningFlow):
        def __init__(self) -> None:
            super().__init__()
            if defined:
                self.x = None

        def run(self) -> None:
            if not defined and kind == "value":
                with pytest.raises(AttributeError, match="not defined in __init__: x"):
                    self.x = value
                assert "x" not in self.state["vars"]
            else:
                self.x = value
                where = {"flow": "flows", "work": "works"}.get(kind, "vars")
                assert "x" in self.state[where]

    Flow().run()


@pytest.mark.parametrize("kind", ["flow", "work"])
def test_name_gets_removed_from_state_when_defined_as_flow_works(kind: str) -> None:
    """An attribute that becomes a Work or Flow leaves the vars of the state."""
    value: Any = EmptyFlow() if kind == "flow" else EmptyWork()

    class Flow(L.LightningFlow):
        def __init__(self) -> None:
            super().__init__()
            self.value = None

        def run(self) -> None:
            self.value = value

    flow = Flow()
    flow.run()
    assert "value" not in flow.state["vars"]
    assert "value" in flow.state["flows" if kind == "flow" else "works"]


def test_setattr_outside_run_context() -> None:
    """A declared attribute may be updated from any method."""

    class Flow(EmptyFlow):
        def __init__(self) -> None:
            super().__init__()
            self.attribute = ""

        def outside_run(self) -> None:
            self.attribute = "allowed"

    flow = Flow()
    flow.outside_run()
    assert flow.state["vars"]["attribute"] == "allowed"


class Transform(L.LightningFlow):
    def __init__(self, attribute: Any, update: Any, inplace: bool) -> None:
        super().__init__()
        self.x = attribute
        self.finished = False
        self._update, self._inplace = update, inplace

    def run(self) -> None:
        if self.finished:
            self.stop()
        result = self._update(self.x)
        if not self._inplace:
            self.x = result
        self.finished = True


@pytest.mark.parametrize(
    ("attribute", "update", "expected"),
    [
        (1, lambda x: x + 1, 2),
        (0.5, lambda x: x + 0.5, 1.0),
        (True, lambda x: not x, False),
        ("cocofruit", lambda x: x + "s", "cocofruits"),
        ({"a": 1, "b": 2}, lambda x: {"a": 1, "b": 3}, {"a": 1, "b": 3}),
        ([1, 2], lambda x: [1, 2, 3], [1, 2, 3]),
        ((4, 5), lambda x: (4, 5, 6), (4, 5, 6)),
    ],
)
def test_attribute_state_change(attribute: Any, update: Any, expected: Any, tmp_path: Any) -> None:
    """Changes of every JSON type are in the App's state after the run."""
    app = _app(Transform(attribute, update, inplace=False), tmp_path)
    app.run()
    assert app.state["vars"]["x"] == expected


def _nested(x: Any) -> None:
    x["b"]["c"] += 1


def _append(x: Any) -> None:
    x[2].append(3.0)


def _counter(x: Any) -> None:
    x.update("baa")


@pytest.mark.parametrize(
    ("value", "update", "expected"),
    [
        ({"a": 1, "b": {"c": 2}}, _nested, {"a": 1, "b": {"c": 3}}),
        (["a", 1, [2.0]], _append, ["a", 1, [2.0, 3.0]]),
        (Counter("abab"), _counter, Counter(a=4, b=3)),
    ],
)
def test_inplace_attribute_state_change(
    value: Any, update: Any, expected: Any, tmp_path: Any
) -> None:
    """In-place changes of containers are in the App's state after the run."""
    app = _app(Transform(value, update, inplace=True), tmp_path)
    app.run()
    assert app.state["vars"]["x"] == expected


class Work(L.LightningWork):
    def __init__(self, cache_calls: bool = True, port: int | None = None) -> None:
        super().__init__(cache_calls=cache_calls, port=port)
        self.counter = 0

    def run(self, *args: Any, **kwargs: Any) -> None:
        self.counter += 1


class FlowA(L.LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.counter = 0
        self.work_a = Work(cache_calls=True, port=8000)
        self.work_b = Work(cache_calls=False, port=8001)

    def run(self) -> None:
        if self.counter < 5:
            self.work_a.run()
            self.work_b.run()
            self.counter += 1
        else:
            self.stop()


@pytest.mark.filterwarnings("ignore::payloadkit.lightning.LightningCompatWarning")
def test_lightning_flow_and_work(tmp_path: Any) -> None:
    """Names and order of works(); a cached Work runs once, an uncached one every time."""
    flow = FlowA()
    assert flow.named_works() == [("root.work_a", flow.work_a), ("root.work_b", flow.work_b)]
    assert flow.works() == [flow.work_a, flow.work_b]
    assert flow.state["works"]["work_a"]["vars"] == {"counter": 0}
    _app(flow, tmp_path).run()
    assert flow.counter == 5
    assert flow.work_a.counter == 1
    assert flow.work_b.counter == 5


class IterateFlow(L.LightningFlow):
    def __init__(self, run_once: bool) -> None:
        super().__init__()
        self.looping = 0
        self.tracker = 0
        self.run_once = run_once

    def run(self) -> None:
        for _ in self.experimental_iterate(range(10), run_once=self.run_once):
            self.tracker += 1
        self.looping += 1
        if self.looping == 2:
            self.stop()


@pytest.mark.parametrize("run_once", [False, True])
def test_lightning_flow_iterate(run_once: bool, tmp_path: Any) -> None:
    """experimental_iterate runs the iterable once across loop iterations with run_once,
    else from the start in each."""
    app = _app(IterateFlow(run_once), tmp_path)
    app.run()
    assert app.root.looping == 2  # type: ignore[attr-defined]
    assert app.root.tracker == (10 if run_once else 20)  # type: ignore[attr-defined]


class FlowCounter(L.LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.counter = 0

    def run(self) -> None:
        if self.counter >= 3:
            self.stop()
        self.counter += 1


def test_lightning_flow_counter(tmp_path: Any) -> None:
    """The loop calls run() until stop(): the counter reaches 3."""
    app = _app(FlowCounter(), tmp_path)
    app.run()
    assert app.root.counter == 3  # type: ignore[attr-defined]


def test_flow_iterate_method() -> None:
    """experimental_iterate refuses what is not iterable."""
    with pytest.raises(TypeError, match="An iterable should be provided"):
        next(EmptyFlow().experimental_iterate(1))  # type: ignore[arg-type]


def test_flow_path_assignment() -> None:
    """lit:// strings become Paths in a Flow too."""

    class Flow(L.LightningFlow):
        def __init__(self) -> None:
            super().__init__()
            self.no_path = "a/b/c"
            self.path = Path("lit://x/y/z")
            self.lit_path = "lit://x/y/z"

    flow = Flow()
    assert isinstance(flow.no_path, str)
    assert isinstance(flow.lit_path, Path)
    assert flow.path == flow.lit_path


class PathFlow(L.LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.none_to_path = None
        self.path_to_none = Path()
        self.path_to_path = Path()

    def run(self) -> None:
        self.none_to_path = "lit://none/to/path"
        self.path_to_none = None
        self.path_to_path = "lit://path/to/path"
        self.stop()


def test_flow_state_change_with_path(tmp_path: Any) -> None:
    """Type changes to and from Path attributes show in the Flow and its state."""
    flow = PathFlow()
    _app(flow, tmp_path).run()
    assert flow.none_to_path == Path("lit://none/to/path")
    assert flow.path_to_none is None
    assert flow.state["vars"]["path_to_path"] == Path("lit://path/to/path")


class FlowSchedule(L.LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.fired = 0

    def run(self) -> None:
        if self.schedule("* * * * * *"):
            self.fired += 1
            if self.fired == 3:
                self.stop()


def test_scheduling_api(tmp_path: Any) -> None:
    """schedule() is true at first and again at each moment its pattern names."""
    app = _app(FlowSchedule(), tmp_path)
    app.run()
    assert app.root.fired == 3  # type: ignore[attr-defined]


def test_lightning_flow() -> None:
    """Every cron alias is accepted; each schedule() call site is one schedule."""

    class Flow(L.LightningFlow):
        def run(self) -> None:
            for alias in ("midnight", "hourly", "@hourly", "daily", "weekly", "monthly"):
                assert self.schedule(alias, user_key=alias)
            assert self.schedule("yearly")
            assert self.schedule("annually")
            assert len(self._calls["scheduling"]) == 8

    Flow().run()


class NestedFlow(L.LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.flows_dict = L.structures.Dict(a=EmptyFlow())
        self.flows_list = L.structures.List(EmptyFlow())
        self.flow = EmptyFlow()
        assert list(self.flows) == ["root.flow", "root.flows_dict.a", "root.flows_list.0"]
        self.w = EmptyWork()

    def run(self) -> None:
        pass


class FlowNested2(L.LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.flow3 = EmptyFlow()
        self.w = EmptyWork()

    def run(self) -> None:
        pass


class FlowCollection(L.LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.flow = EmptyFlow()
        assert self.flow.name == "root.flow"
        self.flow2 = FlowNested2()
        assert list(self.flow2.flows) == ["root.flow2.flow3"]
        self.flows_dict = L.structures.Dict(a=NestedFlow())
        self.flows_list = L.structures.List(NestedFlow())
        self.w = EmptyWork()

    def run(self) -> None:
        pass


def test_lightning_flow_flows_and_works() -> None:
    """flows and named_works list every component below the root, by name, in order."""
    app = L.LightningApp(FlowCollection())
    root: Any = app.root
    assert list(root.flows) == [
        "root.flow",
        "root.flow2",
        "root.flow2.flow3",
        "root.flows_dict.a",
        "root.flows_dict.a.flow",
        "root.flows_dict.a.flows_dict.a",
        "root.flows_dict.a.flows_list.0",
        "root.flows_list.0",
        "root.flows_list.0.flow",
        "root.flows_list.0.flows_dict.a",
        "root.flows_list.0.flows_list.0",
    ]
    assert [name for name, _ in root.named_works()] == [
        "root.w",
        "root.flow2.w",
        "root.flows_dict.a.w",
        "root.flows_list.0.w",
    ]
    assert root.get_component_by_name("root.flows_list.0.w") is root.flows_list[0].w


class WorkReady(L.LightningWork):
    def __init__(self) -> None:
        super().__init__(parallel=True)
        self.ready = False

    def run(self) -> None:
        self.ready = True


class FlowReady(L.LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.w = WorkReady()

    def run(self) -> None:
        self.w.run()
        if self.w.has_succeeded:
            self.stop()


def test_flow_ready(tmp_path: Any) -> None:
    """A Flow waiting for a parallel Work's success, in the loop, sees it and stops."""
    app = _app(FlowReady(), tmp_path)
    app.run()
    assert app.root.w.ready is True  # type: ignore[attr-defined]


def test_structures_register_work_cloudcompute() -> None:
    """Works in structures accept CloudCompute; they are named by their place."""

    class Dummy(L.LightningWork):
        def run(self) -> None:
            pass

    class Holder(L.LightningFlow):
        def __init__(self) -> None:
            super().__init__()
            self.w_list = L.structures.List(*[Dummy(cloud_compute=L.CloudCompute("gpu"))])
            self.w_dict = L.structures.Dict(**{"0": Dummy(cloud_compute=L.CloudCompute("gpu"))})

        def run(self) -> None:
            pass

    with pytest.warns(L.LightningCompatWarning):
        flow = Holder()
    assert [name for name, _ in flow.named_works()] == ["root.w_dict.0", "root.w_list.0"]


def test_deprecation_warning_exit() -> None:
    """_exit() still ends the App, as stop() does."""
    from payloadkit.app._status import StopApp

    with pytest.raises(StopApp):
        EmptyFlow()._exit()


# -- Payload --------------------------------------------------------------------------
class PayloadInInit(L.LightningWork):
    def __init__(self) -> None:
        super().__init__()
        self.var_a = Payload(None)

    def run(self) -> None:
        pass


def test_payload_in_init() -> None:
    """A Payload assigned in __init__ is refused: payloads are set in run."""
    with pytest.raises(AttributeError, match="should be set only within the run method"):
        PayloadInInit()


class PayloadInRun(L.LightningWork):
    def __init__(self) -> None:
        super().__init__()
        self.var_a = None

    def run(self) -> None:
        self.var_a = Payload("something")
        assert self.var_a.name == "var_a"
        assert self.var_a.hash  # the content digest (Lightning's is its own hash)
        target = os.path.join(os.getcwd(), self.var_a.name)
        assert not os.path.exists(target)
        self.var_a.save(self.var_a.value, target)
        assert self.var_a.load(target) == "something"


def test_payload_in_run() -> None:
    """A Payload assigned in run takes the attribute's name, has a hash, and saves to and
    loads from a file."""
    PayloadInRun().run()


def test_payload_copy() -> None:
    """A deep copy of a Payload is a Payload with the same name and value."""
    work = PayloadInRun()
    work.var_a = Payload(None)
    copied = copy.deepcopy(work.var_a)
    assert isinstance(copied, Payload)
    assert (copied.name, copied.value) == ("var_a", None)


def test_payload_pickable() -> None:
    """A Payload pickles; the copy keeps its name and value."""
    work = PayloadInRun()
    work.var_a = Payload("MyObject")
    loaded = pickle.loads(pickle.dumps(work.var_a))
    assert isinstance(loaded, Payload)
    assert (loaded.name, loaded.value) == ("var_a", "MyObject")


class Sender(L.LightningWork):
    def __init__(self) -> None:
        super().__init__(parallel=True)
        self.value_all = None
        self.value_b = None
        self.value_c = None

    def run(self) -> None:
        self.value_all = Payload(["A", "B", "C"])
        self.value_b = Payload("B")
        self.value_c = Payload("C")


class WorkReceive(L.LightningWork):
    def __init__(self, expected: Any) -> None:
        super().__init__(parallel=True)
        self.expected = expected

    def run(self, generated: Any) -> None:
        assert generated.value == self.expected


class PayloadFlow(L.LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.sender = Sender()
        self.receiver_all = WorkReceive(["A", "B", "C"])
        self.receiver_b = WorkReceive("B")
        self.receiver_c = WorkReceive("C")

    def run(self) -> None:
        self.sender.run()
        if self.sender.value_all:
            self.receiver_all.run(self.sender.value_all)
        if self.sender.value_b:
            self.receiver_b.run(self.sender.value_b)
        if self.sender.value_c:
            self.receiver_c.run(self.sender.value_c)
        receivers = (self.receiver_all, self.receiver_b, self.receiver_c)
        if all(work.has_succeeded for work in receivers):
            self._exit()


def test_payload_works(tmp_path: Any) -> None:
    """Payloads of a parallel Work reach parallel receivers as the loop sees them."""
    app = _app(PayloadFlow(), tmp_path)
    record = app.run()
    assert record["outcome"] == "succeeded"
