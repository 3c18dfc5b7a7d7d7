"""TagTests: named payloads with history, part of every store's conformance suite.

Mixed into `payloadkit.testing.StoreTests`; the back doors are StoreTests'.
"""

from __future__ import annotations

import threading

import pytest

from payloadkit._layout import tag_entry_key
from payloadkit._ref import PayloadRef
from payloadkit.errors import ConfigurationError, PayloadNotFoundError, TagConflictError
from payloadkit.stores import Store

__all__ = ["TagTests"]

_HOSTILE_NAMES = ("", "../x", "a/../b", "a//b", "/abs", "a/", "-a", "a b", "a\nb", "x" * 201)


class TagTests:
    """Tag, resolve, history, untag; compare-and-set; racing writers; hostile names."""

    def raw_set(self, store: Store, key: str, data: bytes) -> None:
        """Write bytes at ``key`` without the store's logic (StoreTests provides it)."""
        raise NotImplementedError

    def raw_keys(self, store: Store) -> set[str]:
        """Every key in the store (StoreTests provides it)."""
        raise NotImplementedError

    def test_tag_resolve_and_history(self, store: Store) -> None:
        """A name points at the newest payload tagged, and its history lists every one in order."""
        first, second = store.put({"v": 1}), store.put({"v": 2})
        store.tag("models/best", first)
        store.tag("models/best", second.digest)
        assert store.resolve("models/best") == second
        assert store.get(store.resolve("models/best")) == {"v": 2}
        history = store.history("models/best")
        assert [h.ref for h in history] == [first, second]
        assert history[0].time <= history[1].time
        assert store.tags() == {"models/best": second}

    def test_untag_keeps_history(self, store: Store) -> None:
        """A removed name resolves to PayloadNotFoundError naming it; its history remains."""
        ref = store.put([1])
        store.tag("gone", ref)
        store.untag("gone")
        with pytest.raises(PayloadNotFoundError, match="'gone'"):
            store.resolve("gone")
        assert [h.ref for h in store.history("gone")] == [ref, None]
        assert "gone" not in store.tags()

    def test_expect_is_compare_and_set(self, store: Store) -> None:
        """With expect=, the name moves only from the payload expected; None means untagged."""
        a, b = store.put("a"), store.put("b")
        store.tag("cas", a, expect=None)
        with pytest.raises(TagConflictError):
            store.tag("cas", b, expect=None)
        with pytest.raises(TagConflictError):
            store.tag("cas", b, expect=b)
        store.tag("cas", b, expect=a.digest)
        assert store.resolve("cas") == b

    def test_hostile_names_are_refused(self, store: Store) -> None:
        """Names that could escape the tag's prefix are refused before anything is written."""
        ref = store.put(1)
        before = self.raw_keys(store)
        for name in _HOSTILE_NAMES:
            with pytest.raises(ConfigurationError):
                store.tag(name, ref)
            with pytest.raises(ConfigurationError):
                store.resolve(name)
        assert self.raw_keys(store) == before

    def test_tagging_a_missing_payload_fails(self, store: Store) -> None:
        """A name cannot point at a payload the store does not hold."""
        store.put(1)
        with pytest.raises(PayloadNotFoundError):
            store.tag("nothing", "blake3:" + "0" * 64)
        assert store.tags() == {}

    def test_tag_of_a_deleted_payload(self, store: Store) -> None:
        """A name whose payload was deleted resolves to PayloadNotFoundError naming the tag."""
        ref = store.put({"deleted": True})
        store.tag("dangling", ref)
        store.delete(ref)
        with pytest.raises(PayloadNotFoundError, match="'dangling'") as caught:
            store.resolve("dangling")
        assert caught.value.digest == ref.digest

    def test_damaged_change_is_skipped(self, store: Store) -> None:
        """A change whose bytes are damaged is skipped: the name still resolves to the last good one."""
        good = store.put("good")
        store.tag("model", good)
        entry = store.history("model")[-1].entry
        later = f"{int(entry[:20]) + 1:020d}-{'f' * 16}"
        self.raw_set(store, tag_entry_key("model", later), b"{not json")
        self.raw_set(store, tag_entry_key("model", later)[: -len(".json")] + ".confirmed", b"")
        assert store.resolve("model") == good
        newer = store.put("newer")
        store.tag("model", newer)
        assert store.resolve("model") == newer

    def test_racing_taggers_lose_nothing(self, store: Store) -> None:
        """Threads tagging at once: each wins or gets TagConflictError, every win is in the
        history, and the name points at the last win."""
        refs = [store.put(i) for i in range(6)]
        wins: list[PayloadRef] = []
        losses: list[TagConflictError] = []
        barrier = threading.Barrier(len(refs))

        def tag(ref: PayloadRef) -> None:
            barrier.wait()
            try:
                store.tag("race", ref)
                wins.append(ref)
            except TagConflictError as exc:
                losses.append(exc)

        threads = [threading.Thread(target=tag, args=(r,)) for r in refs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(wins) + len(losses) == len(refs)
        history = [h.ref for h in store.history("race")] if wins else []
        assert sorted(r.digest for r in history if r) == sorted(r.digest for r in wins)
        if wins:
            assert store.resolve("race") == history[-1]
