"""Chats (derived from the stored messages) and one chat's messages by time (the admin
token or the session's API key)."""

from __future__ import annotations

from quart import Blueprint, Response, request
from quart_schema import document_querystring, document_response

from wad.http import contacts_schemas as schemas
from wad.http.context import services
from wad.http.helpers import ok, require_admin_or_key
from wad.http.openapi import api
from wad.validation import device_id as valid_device_id

bp = Blueprint("chats", __name__, url_prefix="/api/sessions/<device_id>")


@bp.get("/chats")
@api("listChats", "Chats", "admin_or_key")
@document_querystring(schemas.ChatsQuery)
@document_response(schemas.ChatPage)
async def list_chats(device_id: str) -> Response:
    """Chats, the one with the newest message first: its last message, how many received
    messages are unread, and (while connected) archived, pinned, muted as WhatsApp syncs
    them; `?limit=&cursor=` pages."""
    await require_admin_or_key(valid_device_id(device_id))
    args = request.args
    return ok(**await services().chats.page(device_id, args.get("limit"), args.get("cursor")))


@bp.get("/chats/<chat>/messages")
@api("listChatMessages", "Chats", "admin_or_key")
@document_querystring(schemas.ChatMessagesQuery)
@document_response(schemas.ChatMessages)
async def chat_messages(device_id: str, chat: str) -> Response:
    """One chat's messages, newest first; `?before=<time>&limit=` pages back in time."""
    await require_admin_or_key(valid_device_id(device_id))
    args = request.args
    chats = services().chats
    return ok(**await chats.messages(device_id, chat, args.get("before"), args.get("limit")))
