"""The web dashboard at ``/ui`` (DESIGN §19, docs/dashboard.md).

Server-rendered Jinja2 pages with htmx 2 and its SSE extension, vendored under ``static/vendor``
(versions and SHA-256 in its ``MANIFEST.json``); no Node build. A browser logs in with an API key
and gets a session cookie (:mod:`gateway.ui.session`); every page reads and acts through the same
``JobService`` as the JSON API, with the same roles and audit rows.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from gateway.ui.render import STATIC
from gateway.ui.routes import login, pages, runs, stream
from gateway.ui.session import LoginRequired, SessionStore

ROUTERS = tuple(m.router for m in (login, runs, stream, pages))
"""The dashboard's routes (cookie sessions; outside the API's permission matrix)."""


def mount(app: FastAPI) -> None:
    """Add the dashboard's routes, its static files and its login redirect to ``app``."""
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        if request.headers.get("hx-request") or request.url.path.endswith("/stream"):
            # htmx requests and EventSource cannot follow a redirect into a page: tell htmx.
            return Response(status_code=401, headers={"HX-Redirect": "/ui/login"})
        return RedirectResponse("/ui/login", status_code=303)


def open_sessions(app: FastAPI) -> None:
    """Create the session store on the app's services (call in the lifespan)."""
    app.state.ui_sessions = SessionStore(app.state.services)


__all__ = ["ROUTERS", "mount", "open_sessions"]
