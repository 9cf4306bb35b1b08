"""Contacts, another user's profile, the blocklist and presence subscriptions, under
the session's path. Reading needs the admin token or the session's API key (the
dashboard reads them); a change, the session's API key."""

from __future__ import annotations

from quart import Blueprint, Response, request
from quart_schema import document_querystring, document_request, document_response

from wad.http import contacts_schemas as schemas
from wad.http.context import services
from wad.http.helpers import body, ok, require_admin_or_key, require_session_key
from wad.http.openapi import ENGINE, api
from wad.validation import device_id as valid_device_id

bp = Blueprint("contacts", __name__, url_prefix="/api/sessions/<device_id>")
TAG = "Contacts"


@bp.get("/contacts")
@api("listContacts", TAG, "admin_or_key", errors=ENGINE)
@document_querystring(schemas.ContactsQuery)
@document_response(schemas.ContactPage)
async def list_contacts(device_id: str) -> Response:
    """Contacts the account knows, by name; `?q=` searches names and numbers,
    `?limit=&cursor=` pages, `?pictures=true` adds picture URLs."""
    await require_admin_or_key(valid_device_id(device_id))
    args = request.args
    return ok(
        **await services().contacts.page(
            device_id, args.get("q"), args.get("limit"), args.get("cursor"), args.get("pictures")
        )
    )


@bp.get("/contacts/<jid>/profile")
@api("getContactProfile", TAG, "admin_or_key", errors=ENGINE)
@document_response(schemas.UserProfile)
async def contact_profile(device_id: str, jid: str) -> Response:
    """Another user's about text and profile picture, as their privacy shows them."""
    await require_admin_or_key(valid_device_id(device_id))
    return ok(**await services().contacts.profile(device_id, jid))


@bp.get("/blocklist")
@api("getBlocklist", TAG, "admin_or_key", errors=ENGINE)
@document_response(schemas.Blocklist)
async def blocklist(device_id: str) -> Response:
    """Who this account has blocked."""
    await require_admin_or_key(valid_device_id(device_id))
    return ok(**await services().contacts.blocklist(device_id))


@bp.post("/blocklist")
@api("blockContact", TAG, "key", errors=ENGINE)
@document_request(schemas.JidBody)
@document_response(schemas.Blocked)
async def block(device_id: str) -> Response:
    """Block a contact: their messages no longer arrive, and none can be sent to them."""
    await require_session_key(valid_device_id(device_id))
    data = await body(schemas.JidBody)
    return ok(**await services().contacts.block(device_id, data.jid))


@bp.delete("/blocklist/<jid>")
@api("unblockContact", TAG, "key", errors=ENGINE)
@document_response(schemas.Blocked)
async def unblock(device_id: str, jid: str) -> Response:
    """Unblock a contact."""
    await require_session_key(valid_device_id(device_id))
    return ok(**await services().contacts.unblock(device_id, jid))


@bp.post("/presence/subscribe")
@api("subscribePresence", TAG, "key", errors=ENGINE)
@document_request(schemas.JidBody)
@document_response(schemas.PresenceSubscribed)
async def subscribe_presence(device_id: str) -> Response:
    """Follow a contact's presence: `presence` events (webhooks, the event stream) tell
    when they come online or go away, while the session stays connected."""
    await require_session_key(valid_device_id(device_id))
    data = await body(schemas.JidBody)
    return ok(**await services().contacts.subscribe_presence(device_id, data.jid))
