"""Lightning's tests of the App (``tests/tests_app/core/test_lightning_app.py``), re-expressed.

Each test below checks what Lightning's test of the same name checks, through the public
API of ``payloadkit.lightning``, on every executor; ``app.run()`` stands where Lightning
drives its runner (``MultiProcessRuntime(app).dispatch()``). 13 of Lightning's 31 tests
of that file are re-expressed here. These are not, as they check Lightning's internals:

============================================  ==============================================
Lightning test                                why it is not re-expressed
============================================  ==============================================
test_component_affiliation                    ``lightning.app.utilities.app_helpers.
                                              affiliation``, an internal helper (the names
                                              it derives are checked by
                                              test_nested_component_names)
test_app_restarting_move_to_blocking          the App's stages (``AppStage``), ``run_once``
                                              and ``_apply_restarting``
test_app_starts_with_complete_state_copy      the UI (``StreamlitFrontend``) and the App's
                                              private ``_original_state``
test_lightning_app_aggregation_speed          the delta queues (``MultiProcessQueue``,
                                              ``RedisQueue``), ``_collect_deltas_...``
test_lightning_app_aggregation_empty          the same queues and ``state_accumulate_wait``
test_maybe_apply_changes_from_flow            ``maybe_apply_changes``, ``_has_updated`` and
                                              the delta queue
test_snap_shotting                            checkpoints (``_dump_checkpoint``,
                                              ``checkpointing``): not provided
test_state_wait_for_all_all_works             marked "never terminates" upstream, and built
                                              on ``num_successes``, which counts statuses
                                              of Lightning's per-call cache
test_lightning_app_checkpointing_with_nested  checkpoints (``load_state_dict_from_
_flows                                        checkpoint_dir``); skipped upstream
test_load_state_dict_from_checkpoint_dir      checkpoints; xfail upstream
test_fault_tolerance_work                     ``LightningTestApp``, ``kill_work``,
                                              ``restart_work`` and ``WorkStopReasons``
test_slow_flow                                the runner's ``FLOW_DURATION_*`` constants
                                              and ``LightningFlowWarning``
test_state_size_constant_growth               ``pympler`` sizes of the state and the
                                              private ``_calls``
test_non_updated_flow                         ``LightningTestApp``, ``_has_updated`` and
                                              the runner's log lines (here the loop ends
                                              by itself when nothing changes)
test_debug_mode_logging                       the private ``_console`` logger and
                                              ``LIGHTNING_DEBUG``
test_lightning_app_has_updated                ``run_once`` and ``_has_updated``
test_cloud_compute_binding                    the cloud (``_CLOUD_COMPUTE_STORE``,
                                              ``_internal_id``): cloud settings are ignored
test_error_queue_check                        the error queue, ``CHECK_ERROR_QUEUE_INTERVAL``
                                              and ``app.stage`` (a failing Work ending the
                                              App is checked by test_loop.py)
============================================  ==============================================

(Lightning's test_simple_app also compares private state entries such as ``_layout``,
``_url`` and ``_cloud_compute``; those entries are not re-expressed, the rest is.)
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

import payloadkit as pk
import payloadkit.lightning as L
from payloadkit.app._record import stop_message, work_stage
from payloadkit.errors import WorkError


def test_lightning_app_requires_root_run_method() -> None:
    """A root Flow that does not define run() is refused with a TypeError naming it."""
    with pytest.raises(TypeError, match="The root flow passed to `LightningApp` does not"):
        L.LightningApp(L.LightningFlow())

    class FlowWithoutRun(L.LightningFlow):
        pass

    with pytest.raises(TypeError, match=r"does not override the `run\(\)` method"):
        L.LightningApp(FlowWithoutRun())

    class FlowWithRun(L.LightningFlow):
        def run(self) -> None:
            pass

    L.LightningApp(FlowWithRun())


class Work(L.LightningWork):
    def __init__(self, cache_calls: bool = True) -> None:
        super().__init__(cache_calls=cache_calls)
        self.counter = 0
        self.has_finished = False

    def run(self) -> None:
        self.counter = self.counter + 1
        if self.cache_calls or self.counter >= 3:
            self.has_finished = True


class SimpleFlow(L.LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.work_a = Work(cache_calls=True)
        self.work_b = Work(cache_calls=False)

    def run(self) -> None:
        if self.work_a.has_finished and self.work_b.has_finished:
            self.stop()
        self.work_a.run()
        self.work_b.run()


def test_simple_app(executor: Any, store: pk.Store) -> None:
    """The App's state shows each Work's vars; a cached Work runs once, an uncached one
    again at each call until it is done."""
    flow = SimpleFlow()
    app = L.LightningApp(flow, storage=store, executor=executor)
    assert app.root is flow
    work_state = {"vars": {"has_finished": False, "counter": 0}, "calls": {}, "changes": {}}
    assert app.state == {
        "vars": {},
        "calls": {},
        "flows": {},
        "structures": {},
        "works": {"work_a": work_state, "work_b": work_state},
        "changes": {},
    }
    app.run()
    assert flow.work_a.has_finished
    assert flow.work_b.has_finished
    assert flow.work_a.counter == 1
    assert flow.work_b.counter >= 3


class WorkCounter(L.LightningWork):
    def __init__(self) -> None:
        super().__init__()
        self.c = 0

    def run(self) -> None:
        self.c = 1


class E(L.LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.w_e = WorkCounter()

    def run(self) -> None:
        self.w_e.run()


class D(L.LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.w_d = WorkCounter()
        self.e = E()

    def run(self) -> None:
        self.w_d.run()
        self.e.run()


class C(L.LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.w_c = WorkCounter()
        self.d = D()

    def run(self) -> None:
        self.w_c.run()
        self.d.run()


class B(L.LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.w_b = WorkCounter()
        self.c = C()

    def run(self) -> None:
        self.w_b.run()
        self.c.run()


class A(L.LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.w_a = WorkCounter()
        self.b = B()

    def run(self) -> None:
        self.w_a.run()
        self.b.run()
        if self.b.c.d.e.w_e.c == 1:
            self.stop()


def test_nested_component_names() -> None:
    """Flows and Works are named by their attribute path from the root."""
    root = A()
    assert root.name == "root"
    assert root.w_a.name == "root.w_a"
    assert root.b.name == "root.b"
    assert root.b.w_b.name == "root.b.w_b"
    assert root.b.c.name == "root.b.c"
    assert root.b.c.w_c.name == "root.b.c.w_c"
    assert root.b.c.d.name == "root.b.c.d"
    assert root.b.c.d.e.name == "root.b.c.d.e"
    assert root.b.c.d.e.w_e.name == "root.b.c.d.e.w_e"
    assert root.b.c.d.w_d.name == "root.b.c.d.w_d"


def test_get_component_by_name() -> None:
    """The App finds each component by its name; its flows include the root."""
    app = L.LightningApp(A())
    root: Any = app.root
    assert root in app.flows
    assert root.b in app.flows
    assert app.get_component_by_name("root") is root
    assert app.get_component_by_name("root.b") is root.b
    assert app.get_component_by_name("root.w_a") is root.w_a
    assert app.get_component_by_name("root.b.w_b") is root.b.w_b
    assert app.get_component_by_name("root.b.c.d.e") is root.b.c.d.e


def test_get_component_by_name_raises() -> None:
    """A name outside the root is a ValueError; a missing child an AttributeError naming
    the parent and the child."""
    app = L.LightningApp(A())
    for name in ("", "ro", "roott"):
        with pytest.raises(ValueError, match=f"Invalid component name {name}."):
            app.get_component_by_name(name)
    cases = {
        "root.": ("root", ""),
        "root.x": ("root", "x"),
        "root.b.x": ("root.b", "x"),
        "root.b.w_b.c": ("root.b.w_b", "c"),
    }
    for name, (parent, child) in cases.items():
        message = f"Component '{parent}' has no child component with name '{child}'"
        with pytest.raises(AttributeError, match=message):
            app.get_component_by_name(name)


def test_nested_component(executor: Any, store: pk.Store) -> None:
    """Works of Flows nested five deep all run."""
    app = L.LightningApp(A(), storage=store, executor=executor)
    app.run()
    root: Any = app.root
    assert root.w_a.c == 1
    assert root.b.w_b.c == 1
    assert root.b.c.w_c.c == 1
    assert root.b.c.d.w_d.c == 1
    assert root.b.c.d.e.w_e.c == 1


class Work4(L.LightningWork):
    def __init__(self, gate: str) -> None:
        super().__init__(parallel=True)
        self.var_a = 0
        self.has_finished = False
        self._gate = gate

    def run(self) -> None:
        self.var_a = 1
        deadline = time.monotonic() + 120
        while not os.path.exists(self._gate):  # never created: the App ends first
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)
        self.has_finished = True


class A4(L.LightningFlow):
    def __init__(self, gate: str) -> None:
        super().__init__()
        self.work = Work4(gate)

    def run(self) -> None:
        self.work.run()
        if self.work.var_a == 1:
            self.stop()


def test_setattr_multiprocessing(
    executor: Any, store: pk.Store, tmp_path: Any, call_threads_left: Any
) -> None:
    """An attribute a parallel Work sets reaches the Flow while the Work still runs; the
    App ends then, and the Work never gets to finish."""
    app = L.LightningApp(A4(str(tmp_path / "never")), storage=store, executor=executor)
    app.run()
    root: Any = app.root
    assert root.work.var_a == 1
    assert not root.work.has_finished
    assert not call_threads_left()


class PicklableObject:
    pass


class PickleableReturnWork(L.LightningWork):
    def run(self) -> None:
        return PicklableObject()  # type: ignore[return-value]


class PickleableReturnFlow(L.LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.work = PickleableReturnWork()

    def run(self) -> None:
        self.work.run()


def test_pickleable_return_from_work(executor: Any, store: pk.Store) -> None:
    """A value returned from a Work's run fails the App (Lightning exits with code 1;
    ``payloadkit run`` does too), with an error saying results travel through state."""
    app = L.LightningApp(PickleableReturnFlow(), storage=store, executor=executor)
    with pytest.raises(WorkError, match="a Work's run must return None"):
        app.run()
    assert app.last_record is not None
    assert app.last_record["outcome"] == "failed"


class ProtectedAttributesWork(L.LightningWork):
    def __init__(self) -> None:
        super().__init__()
        self.done = False
        self._protected = 1
        self.__private = 2

    def run(self) -> None:
        self.done = True
        self._protected = 10
        self.__private = 20


class ProtectedAttributesFlow(L.LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.done = False
        self._protected = 1
        self.__private = 2
        self.protected_work = ProtectedAttributesWork()
        self.checked = False

    def run(self) -> None:
        flow_variables = self.state_vars["vars"]
        assert "done" in flow_variables
        assert "_protected" not in flow_variables
        assert not [name for name in flow_variables if "private" in name]
        self.done = True
        self.protected_work.run()
        if self.protected_work.done:
            work_variables = self.protected_work.state_vars["vars"]
            assert "done" in work_variables
            assert "_protected" not in work_variables
            assert not [name for name in work_variables if "private" in name]
            _ = self.protected_work._protected
            self.protected_work._protected = 1
            self.checked = True
        if self.done and self.protected_work.done:
            self.stop()


def test_protected_attributes_not_in_state(executor: Any, store: pk.Store) -> None:
    """Protected and private attributes of a Flow or a Work are not in its state_vars."""
    flow = ProtectedAttributesFlow()
    L.LightningApp(flow, storage=store, executor=executor).run()
    assert flow.checked


class WorkExit(L.LightningWork):
    def __init__(self) -> None:
        super().__init__(raise_exception=False)
        self.counter = 0

    def run(self) -> None:
        self.counter += 1
        raise Exception("Hello")


class FlowExit(L.LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.work = WorkExit()

    def run(self) -> None:
        if self.work.counter == 1:
            self.stop()
        self.work.run()


def test_lightning_app_exit(executor: Any, store: pk.Store) -> None:
    """What a failing Work (raise_exception=False) set before it raised reaches the Flow,
    which stops the App; the Work is then stopped."""
    app = L.LightningApp(FlowExit(), storage=store, executor=executor)
    record = app.run()
    root: Any = app.root
    assert root.work.counter == 1
    assert root.work.status.stage == L.WorkStageStatus.STOPPED
    assert record["outcome"] == "succeeded"


class CounterWork2(L.LightningWork):
    def __init__(self) -> None:
        super().__init__(parallel=True)
        self.counter = 0

    def run(self) -> None:
        self.counter += 1


class FlowStop(L.LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.w = CounterWork2()

    def run(self) -> None:
        if self.w.status.stage == L.WorkStageStatus.STOPPED:
            self.stop("the work was stopped")
        if self.w.counter == 1:
            self.w.stop()
        self.w.run()


def test_lightning_stop(executor: Any, store: pk.Store) -> None:
    """The Flow stops a Work once it counted; the Flow sees it stopped and ends the App."""
    app = L.LightningApp(FlowStop(), storage=store, executor=executor)
    record = app.run()
    assert stop_message(record) == "the work was stopped"
    assert app.root.w.counter == 1  # type: ignore[attr-defined]


class FlowValue(L.LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self._value: Any = None

    @property
    def value(self) -> Any:
        return self._value

    @value.setter
    def value(self, value: Any) -> None:
        self._value = value

    def run(self) -> None:
        self.value = True


def test_lightning_flow_properties() -> None:
    """Setting a property of a Flow calls its setter."""
    flow = FlowValue()
    assert flow._value is None
    flow.run()
    assert flow._value is True


class SimpleWork2(L.LightningWork):
    def run(self) -> None:
        pass


def test_lightning_work_stopped(executor: Any, store: pk.Store) -> None:
    """A Work as the App's root runs, and the App ends by itself."""
    app = L.LightningApp(SimpleWork2(), storage=store, executor=executor)
    record = app.run()
    assert record["outcome"] == "succeeded"
    assert work_stage(record, "root.work") == "succeeded"
