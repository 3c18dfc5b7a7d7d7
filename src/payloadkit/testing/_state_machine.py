"""A Hypothesis state machine that drives a store and a dict side by side."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from payloadkit._ref import PayloadRef
from payloadkit.errors import PayloadNotFoundError
from payloadkit.stores import Store

__all__ = ["run_store_machine"]

_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20) | st.binary(max_size=200),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=10,
)


def run_store_machine(store: Store, max_examples: int = 25) -> None:
    """Run random put/get/delete/list sequences on ``store`` against a dict model."""

    class StoreMachine(RuleBasedStateMachine):
        refs = Bundle("refs")

        def __init__(self) -> None:
            super().__init__()
            for ref in list(store):
                store.delete(ref)
            self.model: dict[str, Any] = {}

        @rule(target=refs, value=_values)
        def put(self, value: Any) -> PayloadRef:
            ref = store.put(value)
            self.model[ref.digest] = value
            return ref

        @rule(ref=refs)
        def get(self, ref: PayloadRef) -> None:
            if ref.digest in self.model:
                assert store.get(ref) == self.model[ref.digest]
            else:
                try:
                    store.get(ref)
                except PayloadNotFoundError:
                    return
                raise AssertionError("a deleted payload loaded")

        @rule(ref=refs)
        def delete(self, ref: PayloadRef) -> None:
            if ref.digest in self.model:
                store.delete(ref)
                del self.model[ref.digest]
            else:
                assert not store.exists(ref)

        @invariant()
        def listing_matches(self) -> None:
            assert {ref.digest for ref in store} == set(self.model)

    run_state_machine_as_test(
        StoreMachine,
        settings=settings(
            max_examples=max_examples,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
