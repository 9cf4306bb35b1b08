"""An example wad plugin: one HTTP route, and a reaction to incoming messages.

A plugin is a module or a class with ``@wad.hookimpl`` methods named after the
hooks in ``wad.hooks.specs``; a class is instantiated once per daemon, so it can
keep state. Each method may take fewer arguments than its hook offers; the
daemon it is handed is a ``wad.hooks.DaemonAPI``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable
from typing import Any

from pydantic import BaseModel, Field
from quart import Blueprint, Quart, request
from quart_schema import document_querystring, document_response

from wad import hookimpl
from wad.errors import WadError
from wad.hooks import DaemonAPI
from wad.http.helpers import require_admin
from wad.http.openapi import api
from wad.http.schemas import Ok
from wad.store import StoredEvent

log = logging.getLogger(__name__)

ECHO_MAX = 1000


# The route's query and answer, for the OpenAPI document (/openapi.json, /docs).
class EchoQuery(BaseModel):
    text: str = Field("", description=f"what to answer back (the first {ECHO_MAX} characters)")


class Echo(Ok):
    echo: str
    received: dict[str, int] = Field(description="messages received, per session")


class ExamplePlugin:
    def __init__(self) -> None:
        self.received: Counter[str] = Counter()  # messages received, per session

    @hookimpl
    def wad_http_routes(self, app: Quart) -> None:
        bp = Blueprint("example", __name__)

        @bp.get("/api/example/echo")
        @api("exampleEcho", "Example plugin", "admin")
        @document_querystring(EchoQuery)
        @document_response(Echo)
        async def echo() -> dict[str, Any]:
            """Answer `?text=` back, with the messages seen per session (admin)."""
            await require_admin()
            text = request.args.get("text", "")[:ECHO_MAX]
            return {"success": True, "echo": text, "received": dict(self.received)}

        app.register_blueprint(bp)

    @hookimpl
    def wad_event(self, event: StoredEvent, daemon: DaemonAPI) -> Awaitable[None] | None:
        if event.type != "message":
            return None
        self.received[event.device_id] += 1
        payload = event.payload
        chat = str(payload.get("chat") or payload.get("from") or "")
        if str(payload.get("text", "")).strip().lower() != "ping" or not chat.endswith(
            "@s.whatsapp.net"
        ):
            return None  # only a direct "ping", never in a group
        # An awaitable: wad runs it in its nursery, so the session is not held up.
        return self._pong(daemon, event.device_id, chat.split("@")[0])

    async def _pong(self, daemon: DaemonAPI, device_id: str, number: str) -> None:
        try:
            await daemon.services.sending.send_text(device_id, number, "pong")
        except WadError as exc:
            log.warning("example: could not answer ping on %s: %s", device_id, exc.message)
