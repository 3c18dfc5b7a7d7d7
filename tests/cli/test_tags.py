"""Named payloads: racing processes, gc and retention, verify, the tag commands, Payload(tag=)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import payloadkit as pk
from payloadkit._gc import collect_garbage
from payloadkit._layout import tag_entry_key
from payloadkit._maintenance import resolve_digest, verify_store
from payloadkit.errors import PayloadNotFoundError, TagConflictError

_TAGGER = textwrap.dedent(
    """
    import json, sys
    import payloadkit as pk
    from payloadkit.errors import TagConflictError
    store = pk.open_store(sys.argv[1])
    refs = [store.put(f"{sys.argv[2]}-{i}") for i in range(int(sys.argv[3]))]
    sys.stdin.readline()  # every process starts tagging at once
    for ref in refs:
        try:
            print(json.dumps(["won", store.tag("shared", ref).entry]), flush=True)
        except TagConflictError:
            print(json.dumps(["lost", ref.digest]), flush=True)
    """
)


def test_racing_processes_never_lose_a_win(tmp_path: Path) -> None:
    """Processes tagging one name at once: every win is in the history, in the order the
    chain records, and the name points at the last of them."""
    store = pk.open_store(tmp_path / "store")
    store.initialize()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _TAGGER, str(tmp_path / "store"), f"p{n}", "8"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    outs = [p.communicate("go\n", timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    results = [json.loads(line) for out in outs for line in out.splitlines()]
    won = {entry for kind, entry in results if kind == "won"}
    assert len(results) == 32
    assert won
    chain = store.history("shared")
    assert {h.entry for h in chain} == won
    assert store.resolve("shared") == chain[-1].ref


def test_gc_keeps_what_tags_point_at(tmp_path: Path, backdate: Callable[..., None]) -> None:
    """gc keeps the current payload of a tag and, with keep_history, its recent history."""
    store = pk.open_store(tmp_path / "store")
    old, mid, new, loose = (store.put(f"v{i}") for i in range(4))
    for ref in (old, mid, new):
        store.tag("model", ref)
    backdate(store)
    report = collect_garbage(store, keep_runs=0, older_than=timedelta(0), dry_run=True)
    assert {f.digest for f in report.removed} == {old.digest, mid.digest, loose.digest}
    report = collect_garbage(
        store, keep_runs=0, keep_history=2, older_than=timedelta(0), dry_run=False
    )
    assert {f.digest for f in report.removed} == {old.digest, loose.digest}
    assert store.get(store.resolve("model")) == "v2"
    assert store.exists(mid)
    assert not store.exists(old)


def test_verify_reports_damaged_and_dangling_tags(tmp_path: Path) -> None:
    """verify names a damaged change of a tag and a tag whose payload is gone."""
    store = pk.open_store(tmp_path / "store")
    kept, gone = store.put("kept"), store.put("gone")
    store.tag("ok", kept)
    store.tag("dangling", gone)
    store.delete(gone)
    bad = tag_entry_key("ok", f"{'9' * 20}-{'a' * 16}")
    store.backend.write(bad, b"\xff garbage")
    report = verify_store(store)
    kinds = {(f.kind, f.key) for f in report.problems}
    assert ("bad-tag", bad) in kinds
    assert any(kind == "dangling-tag" for kind, _ in kinds)
    assert store.resolve("ok") == kept


def test_damaged_changes_are_never_foreign(tmp_path: Path) -> None:
    """Tag keys are payloadkit's own: a store holding only tags and payloads has no foreign file."""
    store = pk.open_store(tmp_path / "store")
    store.tag("a/b", store.put(1))
    assert not [f for f in verify_store(store).problems if f.kind == "foreign"]


def test_cli_tag_tags_history(tmp_path: Path, cli: Any) -> None:
    """`payloadkit tag`, `tags` and `history` work from a digest prefix, and get takes a name."""
    store = pk.open_store(tmp_path / "store")
    first, second = store.put({"n": 1}), store.put({"n": 2})
    url = str(tmp_path / "store")
    assert cli("tag", url, "model", first.digest[:14])[0] == 0
    code, out, err = cli("tag", url, "model", second.digest, "--expect", first.digest)
    assert code == 0, err
    code, out, _ = cli("tag", url, "model", first.digest, "--expect", first.digest)
    assert code == 1
    code, out, _ = cli("tags", url, "--json")
    assert json.loads(out)["model"]["digest"] == second.digest
    code, out, _ = cli("history", url, "model", "--json")
    assert [row["digest"] for row in json.loads(out)] == [first.digest, second.digest]
    target = tmp_path / "out.bin"
    code, _, err = cli("get", url, "model", "-o", target)
    assert code == 0, err
    assert target.stat().st_size == second.size
    code, out, _ = cli("show", url, "model", "--no-preview")
    assert second.digest in out


def test_cli_refuses_hostile_tag_names(tmp_path: Path, cli: Any) -> None:
    """A name with '..' is refused with one error line and nothing is written."""
    store = pk.open_store(tmp_path / "store")
    ref = store.put(1)
    code, _, err = cli("tag", str(tmp_path / "store"), "a/../../x", ref.digest)
    assert code == 1
    assert "not a valid tag name" in err
    assert not (tmp_path / "store" / "tags").exists()


def test_resolve_digest_prefers_a_tag_over_a_prefix(tmp_path: Path) -> None:
    """A text that is a tag's name resolves to its payload, even when it looks like hex."""
    store = pk.open_store(tmp_path / "store")
    ref = store.put("named")
    store.tag("abc", ref)
    assert resolve_digest(store, "abc") == ref.digest
    with pytest.raises(PayloadNotFoundError, match="no tag is named so"):
        resolve_digest(store, "nothere")


def test_payload_published_under_a_name(tmp_path: Path) -> None:
    """Payload(obj, tag=...) points the name at the payload when it is saved."""
    store = pk.open_store(tmp_path / "store")
    ref = pk.Payload({"weights": [1, 2]}, tag="model").save(store)
    assert store.resolve("model") == ref
    again = pk.Payload({"weights": [3]}, tag="model").save(store)
    assert [h.ref for h in store.history("model")] == [ref, again]
    with pytest.raises(pk.errors.ConfigurationError):
        pk.Payload(1, tag="../up")


def test_a_change_that_loses_is_marked_superseded(tmp_path: Path) -> None:
    """A writer that finds another live change on the same parent yields: its change is
    kept, marked superseded, and the name still points where it did."""
    store = pk.open_store(tmp_path / "store")
    a, b, c = store.put("a"), store.put("b"), store.put("c")
    parent = store.tag("x", a)
    rival = f"{int(parent.entry[:20]) + 1:020d}-{'0' * 16}"
    body = {"kind": "payloadkit.tag", "format": 1, "name": "x", "parent": parent.entry}
    body |= {"ref": b.with_store(None).to_dict(), "time": parent.time.isoformat()}
    store.backend.write(tag_entry_key("x", rival), json.dumps(body).encode())
    with pytest.raises(TagConflictError, match="another writer"):
        store.tag("x", c)
    marks = [i.key for i in store.backend.list("tags/x/") if i.key.endswith(".superseded")]
    assert len(marks) == 1
    assert rival not in marks[0]
    assert [h.ref for h in store.history("x")] == [a]
