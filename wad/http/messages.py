"""Sending: the seed's endpoint, authenticated by the session's own API key."""

from __future__ import annotations

from quart import Blueprint, Response
from quart_schema import document_request, document_response

from wad.http import schemas
from wad.http.context import services
from wad.http.helpers import body, ok, require_session_key
from wad.http.openapi import ENGINE, api
from wad.validation import device_id as valid_device_id

bp = Blueprint("messages", __name__, url_prefix="/api/messages")


@bp.post("/send")
@api("sendText", "Messages", "key", errors=ENGINE)
@document_request(schemas.SendText)
@document_response(schemas.Sent)
async def send() -> Response:
    """Send a text; answers once WhatsApp acknowledged it (the session's API key)."""
    data = await body(schemas.SendText)
    await require_session_key(valid_device_id(data.deviceId))
    return ok(**await services().sending.send_text(data.deviceId, data.number, data.message))
