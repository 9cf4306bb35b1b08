"""Channels (newsletters): those followed, follow and unfollow, their messages, and a
post to one the account runs. Reading needs the admin token or the session's API key;
the rest, the API key."""

from __future__ import annotations

from quart import Blueprint, Response, request
from quart_schema import document_querystring, document_request, document_response

from wad.http import contacts_schemas as schemas
from wad.http.context import services
from wad.http.helpers import body, ok, require_admin_or_key, require_session_key
from wad.http.openapi import ENGINE, api
from wad.http.schemas import MessageSent
from wad.validation import device_id as valid_device_id

bp = Blueprint("channels", __name__, url_prefix="/api/sessions/<device_id>/channels")
TAG = "Channels"


@bp.get("")
@api("listChannels", TAG, "admin_or_key", errors=ENGINE)
@document_response(schemas.ChannelList)
async def list_channels(device_id: str) -> Response:
    """The channels the account follows, with its role in each."""
    await require_admin_or_key(valid_device_id(device_id))
    return ok(channels=await services().channels.followed(device_id))


@bp.put("/<channel_id>/follow")
@api("followChannel", TAG, "key", errors=ENGINE)
@document_response(schemas.Following)
async def follow(device_id: str, channel_id: str) -> Response:
    """Follow a channel."""
    await require_session_key(valid_device_id(device_id))
    return ok(**await services().channels.follow(device_id, channel_id))


@bp.delete("/<channel_id>/follow")
@api("unfollowChannel", TAG, "key", errors=ENGINE)
@document_response(schemas.Following)
async def unfollow(device_id: str, channel_id: str) -> Response:
    """Unfollow a channel (its owner cannot: 409)."""
    await require_session_key(valid_device_id(device_id))
    return ok(**await services().channels.unfollow(device_id, channel_id))


@bp.get("/<channel_id>/messages")
@api("listChannelMessages", TAG, "admin_or_key", errors=ENGINE)
@document_querystring(schemas.ChannelMessagesQuery)
@document_response(schemas.ChannelMessages)
async def channel_messages(device_id: str, channel_id: str) -> Response:
    """A channel's messages, newest first, from WhatsApp; `?before=<serverId>&limit=`."""
    await require_admin_or_key(valid_device_id(device_id))
    args = request.args
    return ok(
        **await services().channels.messages(
            device_id, channel_id, args.get("before"), args.get("limit")
        )
    )


@bp.post("/<channel_id>/messages")
@api("postToChannel", TAG, "key", errors=ENGINE)
@document_request(schemas.ChannelPost)
@document_response(MessageSent)
async def post(device_id: str, channel_id: str) -> Response:
    """Post a text to a channel the account owns or administers (others: 403)."""
    await require_session_key(valid_device_id(device_id))
    data = await body(schemas.ChannelPost)
    return ok(**await services().channels.post(device_id, channel_id, data.text))
