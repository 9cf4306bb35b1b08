"""Polls and status posts under the session's path, with the session's API key."""

from __future__ import annotations

from quart import Blueprint, Response, request
from quart_schema import document_headers, document_request, document_response

from wad.http import group_schemas as gs
from wad.http import schemas
from wad.http.context import services
from wad.http.helpers import body, ok, require_admin_or_key, require_session_key
from wad.http.openapi import ENGINE, api
from wad.http.params import SendHeaders
from wad.validation import device_id as valid_device_id

bp = Blueprint("polls", __name__, url_prefix="/api/sessions/<device_id>")


@bp.post("/polls")
@api("sendPoll", "Messages", "key", errors=[*ENGINE])
@document_headers(SendHeaders)
@document_request(gs.SendPoll)
@document_response(schemas.MessageSent)
async def send_poll(device_id: str) -> Response:
    """Send a poll; votes arrive as `poll.vote` events, the tally at
    `GET .../messages/{id}/poll`."""
    await require_session_key(valid_device_id(device_id))
    data = (await body(gs.SendPoll)).model_dump(exclude_none=True)
    key = request.headers.get("Idempotency-Key")
    return ok(**await services().polls.send(device_id, data, key))


@bp.get("/messages/<message_id>/poll")
@api("getPollTally", "Messages", "admin_or_key")
@document_response(gs.PollTallyAnswer)
async def tally(device_id: str, message_id: str) -> Response:
    """A poll's options with their counts, and each voter's latest vote."""
    await require_admin_or_key(valid_device_id(device_id))
    return ok(poll=await services().polls.tally(device_id, message_id))


@bp.post("/status")
@api("postStatus", "Messages", "key", errors=[*ENGINE, 408, 502])  # 408/502: media.url
@document_headers(SendHeaders)
@document_request(gs.PostStatus)
@document_response(schemas.MessageSent)
async def post_status(device_id: str) -> Response:
    """Post a status (text, image or video) for your contacts to see."""
    await require_session_key(valid_device_id(device_id))
    spec = (await body(gs.PostStatus)).model_dump(exclude_none=True, by_alias=True)
    key = request.headers.get("Idempotency-Key")
    return ok(**await services().status_posts.post(device_id, spec, key))
