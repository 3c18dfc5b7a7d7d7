"""Every page and API route of the UI over real HTTP, on a local store and on S3."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from tests._s3server import CANARY_SECRET
from tests.ui.conftest import Served, fill

import payloadkit as pk


def _routes(info: dict[str, Any]) -> list[str]:
    """Every page and API route, with real ids and digests of ``info``."""
    runs = [info[k]["run_id"] for k in ("demo", "fan", "failed")]
    digests = [info["frame"], *(ref.digest for ref in info["refs"].values())]
    return [
        "/",
        "/?outcome=failed",
        *(f"/runs/{r}" for r in runs),
        "/payloads",
        "/payloads?sort=size&order=desc",
        "/payloads?q=numpy",
        *(f"/payloads/{d}" for d in digests),
        f"/payloads/{info['refs']['image'].digest}/image",
        "/health",
        "/api/runs",
        *(f"/api/runs/{r}" for r in runs),
        "/api/payloads",
        *(f"/api/payloads/{d}" for d in digests),
        "/api/health",
    ]


def _check_every_route(served: Served, info: dict[str, Any]) -> list[str]:
    """GET every route; each answers 200 with the security headers. Returns the bodies."""
    bodies = []
    for path in _routes(info):
        reply = served.get(path)
        assert reply.status == 200, (path, reply.text[-2000:])
        assert "script-src" not in reply.headers["content-security-policy"]
        assert reply.headers["x-content-type-options"] == "nosniff"
        bodies.append(reply.text)
    return bodies


def test_every_route_on_a_local_store(filled: Any, serve: Any) -> None:
    """Each page and API route of a filled local store answers 200 with the security headers."""
    store, info = filled
    _check_every_route(serve(store), info)


@pytest.mark.s3
def test_every_route_on_s3_without_the_secret(
    s3_server: Any, monkeypatch: pytest.MonkeyPatch, serve: Any
) -> None:
    """On S3 (moto), every route answers and no response contains the secret access key."""
    for name, value in s3_server.aws_env().items():
        monkeypatch.setenv(name, value)
    bucket = s3_server.create_bucket(f"ui-{time.time_ns()}")
    store = pk.open_store(
        f"s3://{bucket}/store", client_kwargs={"endpoint_url": s3_server.endpoint_url}
    )
    info = fill(store)
    served = serve(store)
    bodies = _check_every_route(served, info)
    served.request("POST", "/health")
    bodies.append(_finished_health(served)["job"].__repr__())
    bodies.append(served.get("/health").text)
    assert all(CANARY_SECRET not in body for body in bodies)
    assert all(s3_server.aws_env()["AWS_SECRET_ACCESS_KEY"] not in body for body in bodies)


def _finished_health(served: Served) -> dict[str, Any]:
    deadline = time.monotonic() + 300
    while True:
        data: dict[str, Any] = served.get("/api/health").json()
        if data["job"] is not None and data["job"]["state"] != "running":
            return data
        assert time.monotonic() < deadline, "the health check did not finish"
        time.sleep(0.05)


def test_runs_list_and_filters(filled: Any, serve: Any) -> None:
    """The runs list shows every run newest first; outcome, app and text filters narrow it."""
    store, info = filled
    served = serve(store)
    runs = served.get("/api/runs").json()["runs"]
    assert [r["run_id"] for r in runs] == [info[k]["run_id"] for k in ("failed", "fan", "demo")]
    assert all(r["duration"] is not None and r["duration"] >= 0 for r in runs)
    failed = served.get("/api/runs?outcome=failed").json()["runs"]
    assert [r["run_id"] for r in failed] == [info["failed"]["run_id"]]
    by_app = served.get("/api/runs?app=FanOut").json()["runs"]
    assert [r["app"] for r in by_app] == ["tests.ui._flows:FanOut"]
    assert served.get("/api/runs?text=cannot+use+part").json()["runs"] == failed
    page = served.get("/?outcome=succeeded").text
    assert info["demo"]["run_id"] in page
    assert info["failed"]["run_id"] not in page


def test_run_page_draws_the_lineage(filled: Any, serve: Any) -> None:
    """A run page draws its Works as nodes and a payload from producer to each consumer."""
    store, info = filled
    served = serve(store)
    fan = info["fan"]
    data = served.get(f"/api/runs/{fan['run_id']}").json()
    edges = {(e["producer"], e["consumer"]) for e in data["edges"]}
    squares = [f"root.squares.{i}" for i in range(4)]
    assert edges == {("root.split", s) for s in squares} | {(s, "root.total") for s in squares}
    page = served.get(f"/runs/{fan['run_id']}").text
    assert page.count('<g class="node') == 6
    assert page.count('<g class="edge') == 8
    demo = served.get(f"/api/runs/{info['demo']['run_id']}").json()
    assert [(e["producer"], e["consumer"], e["digests"]) for e in demo["edges"]] == [
        ("root.src", "root.dst", [info["frame"]])
    ]


def test_failed_work_is_marked_with_its_traceback(filled: Any, serve: Any) -> None:
    """The failed Work is drawn as failed, the Work after it as not run, the traceback shown."""
    store, info = filled
    page = serve(store).get(f"/runs/{info['failed']['run_id']}").text
    assert re.search(r'<g class="node status-failed">\s*<title>root\.breaks', page)
    assert re.search(r'<g class="node status-not-run">\s*<title>root\.after', page)
    assert "Traceback (most recent call last)" in page
    assert "ValueError: cannot use part [2, 3]" in page


def test_format_1_records_show_without_edges(local_store: pk.Store, serve: Any) -> None:
    """A run record of format 1 (no call history) shows its Works and final state, no edges."""
    ref = local_store.put([1, 2], serializer="json")
    record = {
        "kind": "payloadkit.run",
        "format": 1,
        "run_id": "20250101T000000Z-aaaaaa",
        "app": "old:Flow",
        "executor": "inline",
        "started": "2025-01-01T00:00:00+00:00",
        "ended": "2025-01-01T00:00:02+00:00",
        "outcome": "succeeded",
        "error": None,
        "works": {
            "root.a": {
                "state": {"x": {"kind": "payloadkit.Payload", "ref": ref.to_dict()}},
                "calls": 1,
                "status": "succeeded",
            }
        },
        "payloads": [ref.digest],
    }
    local_store.put_record("runs", record["run_id"], record)
    served = serve(local_store)
    page = served.get(f"/runs/{record['run_id']}").text
    assert "format 1" in page
    assert page.count('<g class="node') == 1
    assert '<g class="edge' not in page
    assert f"/payloads/{ref.digest}" in page
    assert served.get("/api/runs").json()["runs"][0]["duration"] == 2.0


def test_previews_by_type(filled: Any, serve: Any) -> None:
    """DataFrame schema and rows, array statistics and histogram, JSON, image; pickle withheld."""
    store, info = filled
    served = serve(store)
    refs = info["refs"]

    def preview(digest: str) -> dict[str, Any]:
        result: dict[str, Any] = served.get(f"/api/payloads/{digest}").json()["payloads"][0][
            "preview"
        ]
        return result

    frame = preview(info["frame"])
    assert frame["kind"] == "table"
    assert frame["facts"]["rows"] == 40
    assert [c["name"] for c in frame["columns"]] == ["c0", "c1", "c2"]
    assert len(frame["rows"]) == 20
    array = preview(refs["array"].digest)
    assert array["facts"]["shape"] == [100, 10]
    assert array["facts"]["mean"] == 499.5
    assert '<svg class="histogram"' in served.get(f"/payloads/{refs['array'].digest}").text
    assert '"values": [\n    1,' in preview(refs["json"].digest)["text"]
    assert preview(refs["image"].digest)["image_type"] == "image/png"
    image = served.get(f"/payloads/{refs['image'].digest}/image")
    assert image.headers["content-type"] == "image/png"
    withheld = preview(refs["pickle"].digest)
    assert withheld["kind"] == "none"
    assert "can run code on load" in withheld["message"]


def test_trusted_pickle_is_previewed(tmp_path: Any, serve: Any) -> None:
    """A pickle payload is loaded for its preview once the store's policy trusts pickle."""
    store = pk.open_store(tmp_path / "trusting", trusted_serializers=["pickle", "json"])
    ref = store.put({"answer": 42}, serializer="pickle")
    shown = serve(store).get(f"/api/payloads/{ref.digest}").json()["payloads"][0]["preview"]
    assert shown["kind"] == "text"
    assert "'answer': 42" in shown["text"]


def test_payload_pages_and_search(local_store: pk.Store, serve: Any) -> None:
    """Payloads page by 'page' and by 'after', search by digest prefix and type, sort by size."""
    refs = [local_store.put(list(range(i)), serializer="json") for i in range(7)]
    refs.append(local_store.put("x" * 500, serializer="pickle"))
    served = serve(local_store)
    digests = sorted(r.digest for r in refs)
    first = served.get("/api/payloads?size=3").json()
    assert [p["digest"] for p in first["payloads"]] == digests[:3]
    assert first["pages"] == 3
    second = served.get(f"/api/payloads?size=3&after={first['next_after']}").json()
    assert [p["digest"] for p in second["payloads"]] == digests[3:6]
    third = served.get("/api/payloads?size=3&page=3").json()
    assert [p["digest"] for p in third["payloads"]] == digests[6:]
    assert third["next_after"] is None
    after_digest = served.get(f"/api/payloads?size=3&after={digests[1]}").json()
    assert after_digest["payloads"][0]["digest"] == digests[2]
    prefix = digests[4].split(":")[1][:10]
    assert [p["digest"] for p in served.get(f"/api/payloads?q={prefix}").json()["payloads"]] == [
        digests[4]
    ]
    by_type = served.get("/api/payloads?q=builtins.str").json()
    assert by_type["matched"] == 1
    assert by_type["payloads"][0]["serializer"] == "pickle"
    biggest = served.get("/api/payloads?sort=size&order=desc&size=1").json()["payloads"]
    assert biggest[0]["type"] == "builtins.str"
    page = served.get("/payloads?size=3").text
    assert 'rel="next"' in page
    assert "page 1 of 3" in page


def test_unknown_run_and_payload_are_404(filled: Any, serve: Any) -> None:
    """A run id or digest the store lacks answers 404 in the page and in the API."""
    store, _ = filled
    served = serve(store)
    for path in (
        "/runs/nope",
        "/payloads/blake3:" + "0" * 64,
        "/api/runs/nope",
        "/api/payloads/ffff",
    ):
        assert served.get(path).status == 404, path


def test_a_digest_prefix_redirects(filled: Any, serve: Any) -> None:
    """/payloads/<prefix> redirects to the payload's full digest."""
    store, info = filled
    reply = serve(store).get(f"/payloads/{info['frame'][:20]}")
    assert reply.status == 307
    assert reply.headers["location"] == f"/payloads/{info['frame']}"


def test_other_host_names_are_refused(filled: Any, serve: Any) -> None:
    """A request naming another host (DNS rebinding) is refused; allowed names are answered."""
    store, _ = filled
    served = serve(store, allowed_hosts=["ui.example"])
    assert served.get("/", headers={"Host": "evil.example"}).status == 400
    assert served.get("/", headers={"Host": "ui.example"}).status == 200
    assert served.get("/", headers={"Host": "localhost:1234"}).status == 200


def test_health_runs_on_request(filled: Any, serve: Any) -> None:
    """POST /health verifies every payload in the background; a corrupted object is reported."""
    store, info = filled
    served = serve(store)
    assert "No check has run" in served.get("/health").text
    assert served.request("POST", "/health").status == 303
    report = _finished_health(served)["job"]
    assert report["verify"]["ok"]
    assert report["checked"] == report["total"] == report["verify"]["payloads"]
    assert report["gc"]["dry_run"] is True
    manifest = store.info(info["refs"]["json"].digest)
    store.backend.write(manifest.object_key, b'{"tampered": true}')
    assert served.get("/api/health?run=1").status == 200
    problems = _finished_health(served)["job"]["verify"]["problems"]
    assert [p["kind"] for p in problems] == ["corrupt"]
    assert "corrupt" in served.get("/health").text
    assert store.info(info["refs"]["json"].digest) == manifest  # nothing was changed
