"""Flows the UI tests run for real: a fan-out and fan-in over many Works, and one that fails."""

from __future__ import annotations

from typing import Any

import payloadkit as pk


class Split(pk.Work):
    """Offers ``parts`` numbers, each as its own payload."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[pk.Payload] = []

    def run(self, count: int) -> None:
        # From 2 up, no squared part equals another part: every payload is new.
        self.parts = [pk.Payload([i + 2, i + 3], serializer="json") for i in range(count)]


class Square(pk.Work):
    """Squares the numbers of one part."""

    def __init__(self) -> None:
        super().__init__()
        self.result: pk.Payload | None = None

    def run(self, part: pk.Payload) -> None:
        self.result = pk.Payload([x * x for x in part.value], serializer="json")


class Total(pk.Work):
    """Adds every squared part up."""

    def __init__(self) -> None:
        super().__init__()
        self.total: int | None = None

    def run(self, results: list[pk.Payload]) -> None:
        self.total = sum(sum(r.value) for r in results)


class FanOut(pk.Flow):
    """Split -> ``width`` Squares side by side -> Total."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.width = width
        self.split = Split()
        self.squares = [Square() for _ in range(width)]
        self.total = Total()

    def run(self) -> None:
        self.split.run(self.width)
        for square, part in zip(self.squares, self.split.parts, strict=True):
            square.run(part)
        self.total.run([s.result for s in self.squares])


class Breaks(pk.Work):
    """Fails on purpose, after receiving its input."""

    def run(self, part: pk.Payload) -> None:
        raise ValueError(f"cannot use part {part.value!r}")


class Failing(pk.Flow):
    """Split -> a Work that fails; the Work after it never runs."""

    def __init__(self) -> None:
        super().__init__()
        self.split = Split()
        self.breaks = Breaks()
        self.after = Square()

    def run(self) -> None:
        self.split.run(1)
        self.breaks.run(self.split.parts[0])
        self.after.run(self.split.parts[0])


def run_app(flow: pk.Flow, store: pk.Store) -> dict[str, Any]:
    """Run ``flow`` inline against ``store``; the run record (also when the flow fails)."""
    app = pk.App(flow, storage=store, executor="inline")
    try:
        return app.run()
    except pk.errors.WorkError:
        assert app.last_record is not None
        return app.last_record
