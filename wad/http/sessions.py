"""Session management: the seed's endpoints (admin only in wad)."""

from __future__ import annotations

from quart import Blueprint, Response, request
from quart_schema import document_querystring, document_request, document_response

from wad.http import schemas
from wad.http.context import services
from wad.http.helpers import body, ok, require_admin, require_admin_or_key
from wad.http.openapi import ENGINE, api, extra
from wad.http.params import MessagesQuery

bp = Blueprint("sessions", __name__, url_prefix="/api/sessions")


@bp.get("")
@api("listSessions", "Sessions", "admin")
@document_response(schemas.SessionList)
async def list_sessions() -> Response:
    """List every session (admin)."""
    await require_admin()
    return ok(sessions=await services().sessions.list_all())


@bp.post("")
@api("createSession", "Sessions", "admin", errors=[409])
@document_request(schemas.CreateSession)
@document_response(schemas.SessionCreated, 201)
async def create_session() -> Response:
    """Create a session; it starts connecting at once (admin)."""
    await require_admin()
    data = await body(schemas.CreateSession)
    settings = data.model_dump(exclude_unset=True, exclude={"deviceId"})
    created = await services().sessions.create(data.deviceId, settings)
    return ok(201, message="Session created", **created)


@bp.get("/<device_id>")
@api("getSession", "Sessions", "admin")
@document_response(schemas.SessionOne)
async def get_session(device_id: str) -> Response:
    """One session, with its masked API key (admin)."""
    await require_admin()
    return ok(session=await services().sessions.get(device_id))


@bp.patch("/<device_id>")
@api("updateSession", "Sessions", "admin")
@document_request(schemas.SessionPatch)
@document_response(schemas.SessionOne)
async def update_session(device_id: str) -> Response:
    """Change a session's settings (those named; null: back to the default) (admin)."""
    await require_admin()
    data = await body(schemas.SessionPatch)
    changes = data.model_dump(exclude_unset=True)
    return ok(session=await services().sessions.update(device_id, changes))


@bp.delete("/<device_id>")
@api("deleteSession", "Sessions", "admin")
@document_response(schemas.Ok)
async def delete_session(device_id: str) -> Response:
    """Stop a session and remove all its data, its WhatsApp credentials included (admin)."""
    await require_admin()
    await services().sessions.delete(device_id)
    return ok(message="Session deleted")


@bp.get("/<device_id>/qr")
@api("getSessionQr", "Sessions", "admin", errors=[409])
@document_response(schemas.QrCode)
async def get_qr(device_id: str) -> Response:
    """The current QR code while the session is `waiting_qr` (admin)."""
    await require_admin()
    return ok(**await services().sessions.qr(device_id))


@bp.put("/<device_id>/api-key")
@api("setApiKey", "Sessions", "admin", errors=[409])
@extra({"requestBody": {"required": False}})  # an empty body generates a key
@document_request(schemas.SetApiKey)
@document_response(schemas.ApiKeySet)
async def set_api_key(device_id: str) -> Response:
    """Set a custom key or generate one; the full key is shown only here (admin)."""
    await require_admin()
    data = await body(schemas.SetApiKey, empty_ok=True)
    key = await services().keys.set(device_id, data.apiKey)
    return ok(message="API key updated", apiKey=key)


@bp.delete("/<device_id>/api-key")
@api("revokeApiKey", "Sessions", "admin")
@document_response(schemas.Ok)
async def revoke_api_key(device_id: str) -> Response:
    """Revoke the session's key: sending stops working until a new one is set (admin)."""
    await require_admin()
    await services().keys.revoke(device_id)
    return ok(message="API key revoked")


@bp.post("/<device_id>/logout")
@api("logoutSession", "Sessions", "admin", errors=ENGINE)
@document_response(schemas.Ok)
async def logout(device_id: str) -> Response:
    """Unlink the device from the phone; the session stays, ready to pair again (admin)."""
    await require_admin()
    await services().sessions.logout(device_id)
    return ok(message="Logged out")


@bp.post("/<device_id>/restart")
@api("restartSession", "Sessions", "admin")
@document_response(schemas.Ok)
async def restart(device_id: str) -> Response:
    """Drop the connection and connect again now, also from `stopped`/`logged_out` (admin)."""
    await require_admin()
    await services().sessions.restart(device_id)
    return ok(message="Restarting")


@bp.get("/<device_id>/messages")
@api("listMessages", "Messages", "admin_or_key")
@document_querystring(MessagesQuery)
@document_response(schemas.MessagePage)
async def list_messages(device_id: str) -> Response:
    """Messages in and out, newest first; `?direction=in|out&limit=50&before=<id>`
    (admin or the session's API key)."""
    await require_admin_or_key(device_id)
    args = request.args
    return ok(
        **await services().messages.page(
            device_id, args.get("direction"), args.get("before"), args.get("limit", 50)
        )
    )
