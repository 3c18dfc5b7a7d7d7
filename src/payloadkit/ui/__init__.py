"""``payloadkit ui``: a read-only web UI over one store (install ``payloadkit[ui]``).

Runs as graphs of Works and the payloads between them, the payloads with previews chosen
by type, and the store's health, as server-rendered HTML with a JSON mirror under
``/api/``. Serve it with `serve`, or mount `create_app` in any ASGI server::

    import payloadkit as pk
    from payloadkit.ui import create_app

    app = create_app(pk.open_store(".payloadkit"))  # uvicorn module:app
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["create_app", "serve"]

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from payloadkit.stores import Store


def create_app(store: Store, **options: Any) -> Starlette:
    """The ASGI application of the UI over ``store`` (see `payloadkit.ui._app`)."""
    from payloadkit.ui._app import create_app as create

    return create(store, **options)


def serve(store: Store, *, host: str = "127.0.0.1", port: int = 8000, **options: Any) -> None:
    """Serve the UI of ``store`` on ``host``:``port`` until interrupted."""
    import uvicorn

    uvicorn.run(create_app(store, **options), host=host, port=port, log_level="warning")
