"""A process hosting many Works of one App applies the App's settings once, and again only
when something changed them."""

from __future__ import annotations

import payloadkit as pk
from payloadkit._config import settings
from payloadkit.app._host import apply_settings, settings_for


def test_the_same_settings_keep_the_opened_store(local_store: pk.Store) -> None:
    blob = settings_for(local_store)
    first = apply_settings(blob)
    assert apply_settings(blob) is first
    assert first.url == local_store.url


def test_settings_changed_by_a_work_are_applied_again(local_store: pk.Store) -> None:
    blob = settings_for(local_store)
    first = apply_settings(blob)
    settings().durable = not settings().durable  # changed behind configure's back
    again = apply_settings(blob)
    assert settings().durable is False
    assert again.url == first.url
    pk.configure(storage="memory://elsewhere")  # a Work configuring its process
    third = apply_settings(blob)
    assert settings().storage == local_store.url
    assert third.url == local_store.url
