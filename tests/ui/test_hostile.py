"""Stored strings are untrusted: hostile names, record fields and JSON values are escaped."""

from __future__ import annotations

import json
from typing import Any

from tests.ui._flows import FanOut, run_app

import payloadkit as pk
from payloadkit._layout import manifest_key

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _hostile_store(store: pk.Store) -> dict[str, Any]:
    """A store whose manifests, record and JSON payload carry markup (written behind its back)."""
    value = store.put({"k": HOSTILE, HOSTILE: [HOSTILE]}, serializer="json")
    raw = store.put(b"bytes", serializer="pickle")
    manifest = json.loads(store.backend.read(store.info(raw).key, 1 << 16))
    manifest["type"] = HOSTILE
    store.backend.write(manifest_key(raw.digest, "pickle", HOSTILE), json.dumps(manifest).encode())
    ref = {"kind": "payloadkit.Payload", "ref": {**value.to_dict(), "type": HOSTILE}}
    record = {
        "kind": "payloadkit.run",
        "format": 2,
        "run_id": "20260101T000000Z-abcdef",
        "app": HOSTILE,
        "executor": HOSTILE,
        "started": HOSTILE,
        "ended": None,
        "outcome": HOSTILE,
        "error": HOSTILE,
        "works": {
            HOSTILE: {
                "state": {HOSTILE: ref, "n": HOSTILE},
                "calls": HOSTILE,
                "status": HOSTILE,
                "history": [
                    {
                        "call": HOSTILE,
                        "status": HOSTILE,
                        "inputs": {HOSTILE: HOSTILE},
                        "outputs": {HOSTILE: value.digest},
                        "error": HOSTILE,
                    },
                    HOSTILE,
                ],
            },
            "root.b": {"state": [], "history": [{"inputs": {"x": value.digest}}], "status": 3},
        },
        "payloads": HOSTILE,
    }
    store.put_record("runs", record["run_id"], record)
    return {"value": value, "raw": raw, "run_id": record["run_id"]}


def test_hostile_strings_are_escaped_everywhere(local_store: pk.Store, serve: Any) -> None:
    """No page renders stored markup as markup: every hostile string arrives escaped."""
    made = _hostile_store(local_store)
    run_app(FanOut(2), local_store)
    served = serve(local_store)
    paths = [
        "/",
        f"/?text={HOSTILE[:8]}",
        f"/runs/{made['run_id']}",
        "/payloads",
        "/payloads?q=script",
        f"/payloads/{made['value'].digest}",
        f"/payloads/{made['raw'].digest}",
        "/payloads/%3Cscript%3E",
    ]
    for path in paths:
        reply = served.get(path)
        assert reply.status in (200, 404), (path, reply.text[-1500:])
        assert "<script" not in reply.text.lower(), path
        assert "<img src=x" not in reply.text, path
    run = served.get(f"/runs/{made['run_id']}").text
    assert "&lt;script&gt;" in run
    assert "&lt;img src=x onerror=alert(1)&gt;" in run
    listed = served.get("/payloads?q=script").text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in listed


def test_hostile_record_still_reads_in_the_api(local_store: pk.Store, serve: Any) -> None:
    """A record with fields of the wrong types reads as JSON with those fields absent or kept."""
    made = _hostile_store(local_store)
    reply = serve(local_store).get(f"/api/runs/{made['run_id']}")
    assert reply.headers["content-type"] == "application/json"
    data = reply.json()
    assert data["summary"]["outcome"] == HOSTILE
    assert data["summary"]["duration"] is None
    assert {n["name"] for n in data["nodes"]} == {HOSTILE, "root.b"}
    assert [(e["producer"], e["consumer"]) for e in data["edges"]] == [(HOSTILE, "root.b")]
