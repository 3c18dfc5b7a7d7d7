"""Page times of ``payloadkit ui`` on a large local store: ``python benchmarks/ui_pages.py``.

Builds (once) a store of ``--payloads`` small JSON payloads under ``--store``, serves the
UI with uvicorn on a free loopback port and times each page over HTTP, printing the
median of ``--repeat`` requests. The first request lists the manifests' keys (one
backend listing); later ones reuse that listing for a few seconds while a fresh one is
taken in the background, and read only the manifests of the page shown.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import statistics
import threading
import time

import payloadkit as pk


def build(url: str, count: int) -> pk.Store:
    """The store at ``url``, filled to ``count`` payloads if it holds fewer."""
    store = pk.open_store(url)
    have = sum(1 for info in store.backend.list("manifests/")) if store.marker() else 0
    for i in range(have, count):
        store.put({"i": i, "name": f"item-{i}"}, serializer="json")
    return store


def serve(store: pk.Store) -> tuple[int, object]:
    """Start the UI on a free port in a thread; (port, server)."""
    import uvicorn

    from payloadkit.ui import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(create_app(store), port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    return port, server


def fetch(port: int, path: str) -> tuple[float, int, bytes]:
    """Seconds one GET took, its status and body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    start = time.perf_counter()
    connection.request("GET", path)
    response = connection.getresponse()
    body = response.read()
    took = time.perf_counter() - start
    connection.close()
    return took, response.status, body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default=os.path.join(os.getcwd(), "ui-bench-store"))
    parser.add_argument("--payloads", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    started = time.perf_counter()
    store = build(args.store, args.payloads)
    print(f"store ready in {time.perf_counter() - started:.1f} s: {args.store}")
    port, _ = serve(store)
    cold, status, _ = fetch(port, "/payloads")
    assert status == 200
    print(f"{'first page, cold (lists the keys)':<40} {cold * 1000:8.0f} ms")
    digest = next(iter(store.manifests())).ref.digest
    pages = {
        "first page, listing reused": "/payloads",
        "page 1000 (?page=)": "/payloads?page=1000",
        "next page (?after=)": f"/payloads?after={digest}",
        "digest prefix search": f"/payloads?q={digest.split(':')[1][:6]}",
        "payload page with preview": f"/payloads/{digest}",
        "API first page": "/api/payloads",
        "runs list": "/",
    }
    for name, path in pages.items():
        times = []
        for _ in range(args.repeat):
            took, status, _ = fetch(port, path)
            assert status == 200, (path, status)
            times.append(took)
        print(f"{name:<40} {statistics.median(times) * 1000:8.0f} ms")


if __name__ == "__main__":
    main()
