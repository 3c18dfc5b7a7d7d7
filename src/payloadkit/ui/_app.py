"""The web application: read-only pages over one store, and a JSON mirror under /api/.

Routes: ``/`` (runs), ``/runs/<id>``, ``/payloads``, ``/payloads/<digest>``, ``/health``
(``POST`` or ``?run=1`` starts a check), and ``/api/runs``, ``/api/runs/<id>``,
``/api/payloads``, ``/api/payloads/<digest>``, ``/api/health``. Nothing writes to the store.
Every stored string is escaped by the templates (autoescaping) or by the SVG writers;
pages carry a Content-Security-Policy that allows no script at all, and only the Host
names given are answered (a web page elsewhere cannot read the UI by DNS rebinding).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from payloadkit._maintenance import resolve_digest
from payloadkit._manifest import Manifest
from payloadkit.cli._output import format_size
from payloadkit.errors import PayloadkitError, PayloadNotFoundError
from payloadkit.stores import Store
from payloadkit.ui._graph import render_graph
from payloadkit.ui._health import HealthMonitor
from payloadkit.ui._index import SORTS, ManifestIndex, Page
from payloadkit.ui._preview import image_bytes, preview_payload, trust_problem
from payloadkit.ui._runs import calls_of, filter_runs, read_run, run_summaries, state_items

__all__ = ["create_app"]

_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_LOOPBACK = ["127.0.0.1", "localhost", "::1", "[::1]"]
_OUTCOMES = ("succeeded", "failed", "timed out", "interrupted", "killed")


class _Pages:
    """The handlers, sharing one store, its payload index and its health monitor."""

    def __init__(self, store: Store, page_size: int) -> None:
        self.store = store
        self.index = ManifestIndex(store)
        self.health = HealthMonitor(store)
        self.page_size = page_size
        templates = Path(__file__).with_name("templates")
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(templates),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.env.filters["size"] = format_size
        self.env.filters["short"] = _short
        self.env.filters["path"] = _path

    def html(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        page = self.env.get_template(template).render(store_url=self.store.url, **context)
        return HTMLResponse(page, status_code=status, headers=_HEADERS)

    # -- runs -------------------------------------------------------------------------
    def _runs(self, request: Request) -> dict[str, Any]:
        runs, damaged = run_summaries(self.store)
        q = request.query_params
        wanted = {k: q.get(k, "").strip() for k in ("outcome", "app", "text")}
        shown = filter_runs(runs, **wanted)
        apps = sorted({r.app for r in runs})
        return {
            "runs": shown,
            "total": len(runs),
            "damaged": damaged,
            "filters": wanted,
            "apps": apps,
        }

    def runs(self, request: Request) -> Response:
        return self.html("runs.html", outcomes=_OUTCOMES, **self._runs(request))

    def api_runs(self, request: Request) -> Response:
        data = self._runs(request)
        data["runs"] = [r.to_dict() for r in data["runs"]]
        return _json(data)

    def run(self, request: Request) -> Response:
        detail = read_run(self.store, request.path_params["run_id"])
        if detail is None:
            return self.html("missing.html", 404, what="run", name=request.path_params["run_id"])
        names = [n.name for n in detail.lineage.nodes]
        anchors = {name: f"work-{i}" for i, name in enumerate(names)}
        works = [
            {
                "node": node,
                "anchor": anchors[node.name],
                "calls": calls_of(detail.record, node.name),
                "state": state_items(detail.record, node.name),
            }
            for node in detail.lineage.nodes
        ]
        return self.html(
            "run.html",
            detail=detail,
            run=detail.summary,
            graph=render_graph(detail.lineage, anchors),
            works=works,
            flows=_flows(detail.lineage),
        )

    def api_run(self, request: Request) -> Response:
        detail = read_run(self.store, request.path_params["run_id"])
        if detail is None:
            return _json({"error": "no such run"}, 404)
        lineage = detail.lineage
        return _json(
            {
                "summary": detail.summary.to_dict(),
                "record": detail.record,
                "nodes": [n.__dict__ for n in lineage.nodes],
                "edges": [e.__dict__ for e in lineage.edges],
            }
        )

    # -- payloads ---------------------------------------------------------------------
    def _page(self, request: Request) -> tuple[Page, dict[str, Any]]:
        q = request.query_params
        sort = q.get("sort", "digest")
        args: dict[str, Any] = {
            "query": q.get("q", ""),
            "sort": sort if sort in SORTS else "digest",
            "descending": q.get("order") == "desc",
            "page": _positive(q.get("page"), 1),
            "after": q.get("after") or None,
            "size": min(_positive(q.get("size"), self.page_size), 500),
        }
        return self.index.page(**args), args

    def payloads(self, request: Request) -> Response:
        page, args = self._page(request)
        return self.html("payloads.html", page=page, args=args, sorts=SORTS)

    def api_payloads(self, request: Request) -> Response:
        page, _ = self._page(request)
        return _json(
            {
                "total": page.total,
                "matched": page.matched,
                "page": page.page,
                "pages": page.pages,
                "next_after": page.next_after,
                "payloads": [
                    r.manifest.to_dict()
                    if r.manifest
                    else {"digest": r.digest, "problem": r.problem}
                    for r in page.rows
                ],
            }
        )

    def _manifests(self, text: str) -> list[Manifest]:
        try:
            return self.store.manifests_of(resolve_digest(self.store, text))
        except PayloadNotFoundError:
            return []

    def payload(self, request: Request) -> Response:
        text = request.path_params["digest"]
        found = self._manifests(text)
        if not found:
            return self.html("missing.html", 404, what="payload", name=text)
        if found[0].ref.digest != text:
            return RedirectResponse(f"/payloads/{found[0].ref.digest}", 307, headers=_HEADERS)
        shown = [
            {
                "manifest": m,
                "preview": preview_payload(self.store, m),
                "trust": trust_problem(self.store, m),
            }
            for m in found
        ]
        return self.html("payload.html", digest=text, shown=shown)

    def api_payload(self, request: Request) -> Response:
        found = self._manifests(request.path_params["digest"])
        if not found:
            return _json({"error": "no such payload"}, 404)
        return _json(
            {
                "digest": found[0].ref.digest,
                "payloads": [
                    {"manifest": m.to_dict(), "preview": preview_payload(self.store, m).to_dict()}
                    for m in found
                ],
            }
        )

    def image(self, request: Request) -> Response:
        found = self._manifests(request.path_params["digest"])
        index = _positive(request.query_params.get("n"), 1) - 1
        image = image_bytes(self.store, found[index]) if index < len(found) else None
        if image is None:
            return Response("no image", 404, headers=_HEADERS, media_type="text/plain")
        return Response(image[0], media_type=image[1], headers=_HEADERS)

    # -- health -----------------------------------------------------------------------
    def health_page(self, request: Request) -> Response:
        if request.method == "POST" or request.query_params.get("run") == "1":
            self.health.start()
            return RedirectResponse("/health", 303, headers=_HEADERS)
        return self.html("health.html", job=self.health.job)

    def api_health(self, request: Request) -> Response:
        if request.method == "POST" or request.query_params.get("run") == "1":
            self.health.start()
        job = self.health.job
        return _json({"job": job.to_dict() if job else None})


def create_app(
    store: Store, *, allowed_hosts: list[str] | None = None, page_size: int = 50
) -> Starlette:
    """The read-only UI of ``store`` as an ASGI application (serve it with uvicorn).

    Only requests naming a loopback host, or one of ``allowed_hosts``, are answered.
    """
    pages = _Pages(store, page_size)
    routes = [
        Route("/", pages.runs),
        Route("/runs/{run_id}", pages.run),
        Route("/payloads", pages.payloads),
        Route("/payloads/{digest}", pages.payload),
        Route("/payloads/{digest}/image", pages.image),
        Route("/health", pages.health_page, methods=["GET", "POST"]),
        Route("/api/runs", pages.api_runs),
        Route("/api/runs/{run_id}", pages.api_run),
        Route("/api/payloads", pages.api_payloads),
        Route("/api/payloads/{digest}", pages.api_payload),
        Route("/api/health", pages.api_health, methods=["GET", "POST"]),
    ]
    hosts = [*_LOOPBACK, *(allowed_hosts or [])]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=hosts)]
    app = Starlette(
        lifespan=lambda app: _warming(pages),
        routes=routes,
        middleware=middleware,
        exception_handlers={PayloadkitError: _failed},
    )
    app.state.pages = pages
    return app


@contextlib.asynccontextmanager
async def _warming(pages: _Pages) -> AsyncIterator[None]:
    """List the store's payloads in the background as soon as the server starts."""
    pages.index.warm()
    yield


async def _failed(request: Request, exc: Exception) -> Response:
    """A store failure as a page (or JSON under /api/) saying what happened."""
    message = str(exc)
    if request.url.path.startswith("/api/"):
        return _json({"error": message}, 502)
    pages: _Pages = request.app.state.pages
    return pages.html("error.html", 502, message=message)


def _json(data: Any, status: int = 200) -> Response:
    import json

    body = json.dumps(data, default=str, sort_keys=True).encode()
    return Response(body, status, media_type="application/json", headers=_HEADERS)


def _flows(lineage: Any) -> list[dict[str, Any]]:
    """Each payload of the run: who produced it and who received it."""
    digests = sorted(set(lineage.producers) | set(lineage.consumers))
    return [
        {
            "digest": d,
            "producer": lineage.producers.get(d),
            "consumers": lineage.consumers.get(d, []),
        }
        for d in digests
    ]


def _positive(text: str | None, default: int) -> int:
    try:
        value = int(text) if text is not None else default
    except ValueError:
        return default
    return value if value > 0 else default


def _path(text: object) -> str:
    """``text`` as one URL path segment (a digest keeps its colon)."""
    from urllib.parse import quote

    return quote(str(text), safe=":")


def _short(digest: str) -> str:
    """``blake3:441dda2e6d04`` (the algorithm and 12 hex digits)."""
    algorithm, _, hexdigest = str(digest).partition(":")
    return f"{algorithm}:{hexdigest[:12]}" if hexdigest else str(digest)[:19]
