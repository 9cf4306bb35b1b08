"""The quart-trio application: routes, OpenAPI, offline Swagger UI, JSON errors."""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio
from quart import Quart
from quart_schema import document_response
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from wad import __version__
from wad.auth.lockout import Lockout
from wad.engines.simulator import group_routes as simulator_groups
from wad.engines.simulator import people as simulator_people
from wad.engines.simulator import routes as simulator
from wad.errors import WadError, code_for_status
from wad.hooks import calls as hooks
from wad.http import (
    around,
    assets,
    channels,
    chats,
    contacts,
    dashboard,
    docs,
    forwarded,
    groups,
    ids,
    live,
    locked,
    messages,
    metrics,
    openapi,
    polls,
    profile,
    send,
    sessions,
    stats,
)
from wad.http.helpers import require_admin
from wad.http.openapi import api
from wad.http.request import request_class, too_large_message
from wad.http.schemas import Health, PluginList

if TYPE_CHECKING:
    from wad.hooks import DaemonAPI

log = logging.getLogger(__name__)


def create_app(daemon: DaemonAPI) -> Quart:
    app = QuartTrio("wad")
    app.request_class = request_class(daemon.config)
    app.config.update(
        WAD_DAEMON=daemon,
        WAD_SERVICES=daemon.services,
        WAD_AUTHENTICATE=partial(hooks.authenticate, daemon),
        WAD_LOCKOUT=Lockout(clock=trio.current_time),
        WAD_ASSETS=assets.Assets(Path(app.static_folder or "static")),
        MAX_CONTENT_LENGTH=daemon.config.max_body,
        PROVIDE_AUTOMATIC_OPTIONS=False,
    )
    openapi.install(app)  # the document at /openapi.json
    docs.install(app)  # Swagger UI at /docs
    app.register_blueprint(sessions.bp)
    app.register_blueprint(messages.bp)
    app.register_blueprint(send.bp)
    app.register_blueprint(ids.bp)
    app.register_blueprint(groups.bp)
    app.register_blueprint(polls.bp)
    app.register_blueprint(live.bp)
    app.register_blueprint(stats.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(assets.bp)
    app.register_blueprint(metrics.bp)
    for people in (contacts, chats, profile, channels):  # issue 18's surface
        app.register_blueprint(people.bp)
    if daemon.config.engine == "simulator":
        app.register_blueprint(simulator.bp)
        app.register_blueprint(simulator_people.bp)
        app.register_blueprint(simulator_groups.bp)
    _routes(app)
    _errors(app)
    cluster_url = daemon.config.database_url
    if cluster_url is not None:  # a cluster: a session of another node's goes there
        from wad.http import forward  # psycopg: only a cluster needs it

        forward.install(app, daemon, cluster_url)  # before the rate limits: the owner's
        from wad.http import cluster_control  # another node's control socket relays here

        app.register_blueprint(cluster_control.bp)
    around.install(app, daemon)  # timing and rate limit: one hook before, one after
    hooks.http_routes(daemon, app)
    # A locked-out address's tokens are refused before Quart (cheaply); inside the
    # proxies' middleware, so that the address is the real client's.
    app.asgi_app = locked.LockedOut(app.asgi_app, app.config["WAD_LOCKOUT"])  # type: ignore[method-assign]
    inner = app.asgi_app
    if daemon.config.trusted_proxies:  # outermost: everything sees the real client
        proxies = forwarded.TrustedProxies(app.asgi_app, daemon.config.trusted_proxies)
        app.asgi_app = proxies  # type: ignore[method-assign]
    if cluster_url is not None:  # a node's claim of the client, checked before the proxies'
        from wad.http import peers

        nodes = peers.FromNodes(app.asgi_app, inner, daemon.config.cluster_secret)
        app.asgi_app = nodes  # type: ignore[method-assign]
    return app


def _routes(app: Quart) -> None:
    @app.get("/healthz")
    @api("getHealth", "System", "public")
    @document_response(Health)
    async def healthz() -> dict[str, Any]:
        """Liveness: answers without credentials."""
        return {"status": "ok", "version": __version__}

    @app.get("/api/plugins")
    @api("listPlugins", "System", "admin")
    @document_response(PluginList)
    async def list_plugins() -> dict[str, Any]:
        """Every loaded plugin, built-in or third-party, with its hooks (admin)."""
        await require_admin()
        daemon: DaemonAPI = app.config["WAD_DAEMON"]
        return {"success": True, "plugins": daemon.plugins.describe()}


def _errors(app: Quart) -> None:
    @app.errorhandler(WadError)
    async def wad_error(exc: WadError) -> tuple[dict[str, Any], int, dict[str, str]]:
        body = {"success": False, "error": exc.message, "code": exc.code}
        return body, exc.http_status, exc.headers

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException) -> tuple[dict[str, Any], int]:
        messages = {
            404: "Not found",
            405: "Method not allowed",
        }
        status = exc.code or 500
        text = too_large_message() if status == 413 else messages.get(status) or exc.name
        return {"success": False, "error": text, "code": code_for_status(status)}, status

    @app.errorhandler(Exception)
    async def unexpected(exc: Exception) -> tuple[dict[str, Any], int]:
        log.exception("unexpected error while handling a request")
        return {"success": False, "error": "Internal error", "code": "internal"}, 500
