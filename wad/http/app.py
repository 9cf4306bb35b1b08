"""The quart-trio application: routes, OpenAPI, offline Swagger UI, JSON errors."""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import swagger_ui_bundle
from quart import Quart, Response, send_from_directory
from quart_schema import QuartSchema, hide
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from wad import __version__
from wad.engines.simulator import routes as simulator
from wad.errors import WadError
from wad.hooks import calls as hooks
from wad.http import around, dashboard, live, messages, metrics, send, sessions, stats
from wad.http.helpers import require_admin
from wad.http.request import WadRequest

if TYPE_CHECKING:
    from wad.hooks import DaemonAPI

log = logging.getLogger(__name__)

SWAGGER_DIR = Path(swagger_ui_bundle.swagger_ui_path)


def create_app(daemon: DaemonAPI) -> Quart:
    app = QuartTrio("wad")
    app.request_class = WadRequest
    app.config.update(
        WAD_DAEMON=daemon,
        WAD_SERVICES=daemon.services,
        WAD_AUTHENTICATE=partial(hooks.authenticate, daemon),
        MAX_CONTENT_LENGTH=daemon.config.max_body,
        QUART_SCHEMA_SWAGGER_JS_URL="/docs/static/swagger-ui-bundle.js",
        QUART_SCHEMA_SWAGGER_CSS_URL="/docs/static/swagger-ui.css",
        PROVIDE_AUTOMATIC_OPTIONS=False,
    )
    QuartSchema(
        app,
        info={
            "title": "wad",
            "version": __version__,
            "description": "Self-hosted WhatsApp API daemon",
        },
        redoc_ui_path=None,
        scalar_ui_path=None,
        security_schemes={"bearer": {"type": "http", "scheme": "bearer"}},
        security=[{"bearer": []}],
    )
    app.register_blueprint(sessions.bp)
    app.register_blueprint(messages.bp)
    app.register_blueprint(send.bp)
    app.register_blueprint(live.bp)
    app.register_blueprint(stats.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(metrics.bp)
    if daemon.config.engine == "simulator":
        app.register_blueprint(simulator.bp)
    _routes(app)
    _errors(app)
    around.install(app, daemon)  # timing and rate limit: one hook before, one after
    hooks.http_routes(daemon, app)
    return app


def _routes(app: Quart) -> None:
    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        """Liveness: answers without credentials."""
        return {"status": "ok", "version": __version__}

    @app.get("/api/plugins")
    async def list_plugins() -> dict[str, Any]:
        """Every loaded plugin, built-in or third-party, with its hooks (admin)."""
        await require_admin()
        daemon: DaemonAPI = app.config["WAD_DAEMON"]
        return {"success": True, "plugins": daemon.plugins.describe()}

    @app.get("/docs/static/<path:name>")
    @hide
    async def swagger_static(name: str) -> Response:
        return await send_from_directory(SWAGGER_DIR, name)


def _errors(app: Quart) -> None:
    @app.errorhandler(WadError)
    async def wad_error(exc: WadError) -> tuple[dict[str, Any], int]:
        return {"success": False, "error": exc.message}, exc.http_status

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException) -> tuple[dict[str, Any], int]:
        messages = {
            404: "Not found",
            405: "Method not allowed",
            413: "Request body too large",
        }
        status = exc.code or 500
        text = messages.get(status) or exc.name
        return {"success": False, "error": text}, status

    @app.errorhandler(Exception)
    async def unexpected(exc: Exception) -> tuple[dict[str, Any], int]:
        log.exception("unexpected error while handling a request")
        return {"success": False, "error": "Internal error"}, 500
