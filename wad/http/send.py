"""Messages of every type, and actions on them, under the session's path.

Authenticated by the session's own API key (the admin token cannot send);
routable by path, so a proxy can shard by session. The pairing code is the
admin's.
"""

from __future__ import annotations

import secrets
from typing import Any

from quart import Blueprint, Response, request
from quart_schema import document_headers, document_request, document_response

from wad.errors import bad_request
from wad.http import downloads, schemas
from wad.http.context import services
from wad.http.helpers import body, ok, require_admin, require_admin_or_key, require_session_key
from wad.http.openapi import ENGINE, api, binary_response, multipart_body
from wad.http.params import SendHeaders
from wad.services import media, outbound
from wad.validation import device_id as valid_device_id

bp = Blueprint("send", __name__, url_prefix="/api/sessions/<device_id>")


@bp.post("/messages")
@api("sendMessage", "Messages", "key", errors=[*ENGINE, 408, 502])  # 408/502: media.url
@document_headers(SendHeaders)
@multipart_body(schemas.SendUpload)
@document_request(schemas.SendMessage)
@document_response(schemas.MessageSent)
async def send_message(device_id: str) -> Response:
    """Send a message of any type: JSON (media as base64 `data` or a `url`) or
    multipart/form-data (fields as form fields, the media as the `file` part).
    An `Idempotency-Key` header makes a retried request answer the first result."""
    valid_device_id(device_id)
    await require_session_key(device_id)
    key = request.headers.get("Idempotency-Key")
    if request.mimetype == "multipart/form-data":
        spec, upload = await _multipart(device_id)
    else:
        spec = (await body(schemas.SendMessage)).model_dump(exclude_none=True, by_alias=True)
        upload = None
    return ok(**await services().sending.send(device_id, spec, upload, key))


async def _multipart(device_id: str) -> tuple[dict[str, Any], outbound.MediaFile]:
    form = await request.form
    files = await request.files
    spec: dict[str, Any] = {
        k: v for k, v in form.items() if k not in ("location", "contact", "mentions")
    }
    for flag in ("ptt",):
        if flag in spec:
            spec[flag] = spec[flag].lower() in ("1", "true", "yes")
    if "mentions" in form:
        spec["mentions"] = form.getlist("mentions")
    upload = files.get("file")
    if upload is None:
        raise bad_request("a multipart send needs its media as the 'file' part")
    type_ = spec.get("type", "")
    if type_ not in outbound.MEDIA_TYPES:
        raise bad_request(f"type must be one of {', '.join(outbound.MEDIA_TYPES)} for an upload")
    # The fields are checked before the file is written, so that a request refused
    # for them costs no disk; any later refusal deletes the file (Sending.send).
    outbound.fields(spec)
    outbound.recipient(spec.get("to"))
    folder = services().lookup.live(device_id).folder
    dest = media.media_dir(folder) / f"out-{secrets.token_hex(8)}"
    mime = outbound.mimetype(upload.mimetype or spec.get("mimetype"), type_)
    name = outbound.file_name(spec.pop("fileName", None) or upload.filename or None)
    stored = await media.save_stream(
        media.file_chunks(upload.stream), dest, mime, outbound.media_limit(type_), name
    )
    return spec, stored


@bp.post("/messages/<message_id>/reaction")
@api("reactToMessage", "Messages", "key", errors=ENGINE)
@document_request(schemas.Reaction)
@document_response(schemas.Acted)
async def react(device_id: str, message_id: str) -> Response:
    """React to a message with an emoji; an empty emoji removes the reaction."""
    await require_session_key(valid_device_id(device_id))
    data = await body(schemas.Reaction)
    return ok(**await services().actions.react(device_id, message_id, data.emoji))


@bp.patch("/messages/<message_id>")
@api("editMessage", "Messages", "key", errors=ENGINE)
@document_request(schemas.Edit)
@document_response(schemas.Acted)
async def edit(device_id: str, message_id: str) -> Response:
    """Edit the text of one of your own messages."""
    await require_session_key(valid_device_id(device_id))
    data = await body(schemas.Edit)
    return ok(**await services().actions.edit(device_id, message_id, data.text))


@bp.delete("/messages/<message_id>")
@api("revokeMessage", "Messages", "key", errors=ENGINE)
@document_response(schemas.Acted)
async def revoke(device_id: str, message_id: str) -> Response:
    """Revoke (delete for everyone) one of your own messages."""
    await require_session_key(valid_device_id(device_id))
    return ok(**await services().actions.revoke(device_id, message_id))


@bp.post("/messages/<message_id>/read")
@api("markMessageRead", "Messages", "key", errors=ENGINE)
@document_response(schemas.Ok)
async def mark_read(device_id: str, message_id: str) -> Response:
    """Mark a received message as read (blue ticks for the sender)."""
    await require_session_key(valid_device_id(device_id))
    return ok(**await services().actions.mark_read(device_id, message_id))


@bp.get("/messages/<message_id>/media")
@api("downloadMedia", "Messages", "admin_or_key")
@binary_response("The media file, in its own type (`Content-Type`)")
async def download(device_id: str, message_id: str) -> Response:
    """The media of a message, streamed as a download (the session's key or the admin)."""
    await require_admin_or_key(valid_device_id(device_id))
    path, mimetype, file_name = await services().messages.media_file(device_id, message_id)
    size = path.stat().st_size
    return downloads.attachment(media.read_chunks(path), size, mimetype, file_name, message_id)


@bp.post("/presence")
@api("sendPresence", "Messages", "key", errors=ENGINE)
@document_request(schemas.Presence)
@document_response(schemas.Ok)
async def presence(device_id: str) -> Response:
    """Show typing or recording in a chat (`paused` stops it)."""
    await require_session_key(valid_device_id(device_id))
    data = await body(schemas.Presence)
    return ok(**await services().actions.presence(device_id, data.to, data.state))


@bp.post("/contacts/check")
@api("checkNumbers", "Contacts and groups", "key", errors=ENGINE)
@document_request(schemas.CheckNumbers)
@document_response(schemas.NumbersChecked)
async def check_numbers(device_id: str) -> Response:
    """Which of these numbers are on WhatsApp (up to 50)."""
    await require_session_key(valid_device_id(device_id))
    data = await body(schemas.CheckNumbers)
    return ok(results=await services().directory.check_numbers(device_id, data.numbers))


@bp.get("/groups")
@api("listGroups", "Contacts and groups", "admin_or_key", errors=ENGINE)
@document_response(schemas.GroupList)
async def groups(device_id: str) -> Response:
    """The groups this account is in, with names and participants."""
    await require_admin_or_key(valid_device_id(device_id))
    return ok(groups=await services().directory.groups(device_id))


@bp.get("/groups/<group_id>")
@api("getGroup", "Contacts and groups", "admin_or_key", errors=ENGINE)
@document_response(schemas.GroupOne)
async def group(device_id: str, group_id: str) -> Response:
    """One group, by its JID (`...@g.us`)."""
    await require_admin_or_key(valid_device_id(device_id))
    return ok(group=await services().directory.group(device_id, group_id))


@bp.post("/pair-code")
@api("requestPairCode", "Sessions", "admin", errors=ENGINE)
@document_request(schemas.PairCodeRequest)
@document_response(schemas.PairCode)
async def pair_code(device_id: str) -> Response:
    """Link by phone number instead of QR: returns the 8-character code to type on
    the phone (WhatsApp > Linked devices > Link with phone number) (admin)."""
    await require_admin()
    data = await body(schemas.PairCodeRequest)
    return ok(**await services().sessions.pair_code(device_id, data.phoneNumber))
