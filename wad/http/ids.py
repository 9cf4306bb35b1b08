"""``GET /api/sessions/{id}/contacts/{jid}/ids``: a person's phone-number JID and LID."""

from __future__ import annotations

from quart import Blueprint, Response
from quart_schema import document_response

from wad.http import schemas_ids
from wad.http.context import services
from wad.http.helpers import ok, require_admin_or_key
from wad.http.openapi import ENGINE, api
from wad.services.ids import Ids
from wad.validation import device_id as valid_device_id

bp = Blueprint("ids", __name__, url_prefix="/api/sessions/<device_id>")


@bp.get("/contacts/<jid>/ids")
@api("getContactIds", "Contacts and groups", "admin_or_key", errors=ENGINE)
@document_response(schemas_ids.ContactIds)
async def contact_ids(device_id: str, jid: str) -> Response:
    """Both ids of a person: give a phone number, a user JID or a LID (`...@lid`);
    the other form is null when the session has not learnt it yet."""
    valid_device_id(device_id)
    await require_admin_or_key(device_id)
    found = await Ids(services().lookup, services().store).resolve(device_id, jid)
    return ok(**found)
