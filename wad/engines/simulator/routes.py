"""The virtual phone's controls; registered only with ``--engine simulator`` (admin)."""

from __future__ import annotations

from quart import Blueprint, Response
from quart_schema import document_request, document_response

from wad.engines.simulator.operations import SimulatorOperations
from wad.http import lifecycle_schemas, schemas
from wad.http.context import services
from wad.http.helpers import body, ok, require_admin
from wad.http.openapi import ENGINE, api

bp = Blueprint("simulator", __name__, url_prefix="/api/simulator/sessions")


def phone() -> SimulatorOperations:
    # Built per request: it only keeps references to the services' parts.
    return SimulatorOperations(services())


@bp.post("/<device_id>/scan")
@api("simulatorScan", "Simulator", "admin", errors=ENGINE)
@document_request(schemas.PhoneScan)
@document_response(schemas.Ok)
async def scan(device_id: str) -> Response:
    """The phone scans the current QR code; 409 unless the session is `waiting_qr`."""
    await require_admin()
    data = await body(schemas.PhoneScan)
    phone().scan(device_id, str(data.phoneNumber))
    return ok(message="Scanned")


@bp.post("/<device_id>/incoming")
@api("simulatorIncoming", "Simulator", "admin", errors=ENGINE)
@document_request(schemas.PhoneIncoming)
@document_response(schemas.IncomingAccepted)
async def incoming(device_id: str) -> Response:
    """A phone sends the session a text."""
    await require_admin()
    data = await body(schemas.PhoneIncoming)
    spec = data.model_dump(exclude_none=True, exclude={"from_", "message"})
    delivered = phone().incoming(device_id, str(data.from_), data.message, spec)
    return ok(waId=delivered["waId"])


@bp.post("/<device_id>/groups")
@api("simulatorAddGroup", "Simulator", "admin")
@document_request(schemas.PhoneGroup)
@document_response(schemas.GroupOne, 201)
async def add_group(device_id: str) -> Response:
    """The session's account is added to a new group."""
    await require_admin()
    data = await body(schemas.PhoneGroup)
    return ok(201, group=phone().group(device_id, data.name, data.participants))


@bp.post("/<device_id>/enter-code")
@api("simulatorEnterCode", "Simulator", "admin", errors=ENGINE)
@document_request(schemas.PhoneCode)
@document_response(schemas.Ok)
async def enter_code(device_id: str) -> Response:
    """The phone's user types the pairing code from `POST .../pair-code`."""
    await require_admin()
    data = await body(schemas.PhoneCode)
    phone().enter_code(device_id, data.code)
    return ok(message="Linked")


@bp.post("/<device_id>/receipt")
@api("simulatorReceipt", "Simulator", "admin", errors=ENGINE)
@document_request(schemas.PhoneReceipt)
@document_response(schemas.Ok)
async def receipt(device_id: str) -> Response:
    """The recipient's phone reports a sent message delivered, read or played."""
    await require_admin()
    data = await body(schemas.PhoneReceipt)
    await phone().receipt(device_id, data.messageId, data.status)
    return ok(message="Receipt delivered")


@bp.post("/<device_id>/drop")
@api("simulatorDrop", "Simulator", "admin", errors=ENGINE)
@document_response(schemas.Ok)
async def drop(device_id: str) -> Response:
    """The connection drops; the session reconnects by itself."""
    await require_admin()
    phone().drop(device_id)
    return ok(message="Dropped")


@bp.post("/<device_id>/unlink")
@api("simulatorUnlink", "Simulator", "admin", errors=ENGINE)
@document_response(schemas.Ok)
async def unlink(device_id: str) -> Response:
    """The phone removes the linked device; the session becomes `logged_out`."""
    await require_admin()
    phone().unlink(device_id)
    return ok(message="Unlinked")


@bp.get("/<device_id>/sent")
@api("simulatorSent", "Simulator", "admin")
@document_response(schemas.SimulatedDeliveries)
async def sent(device_id: str) -> Response:
    """What the session sent, in order, as the phones on the other end received it."""
    await require_admin()
    return ok(messages=phone().sent(device_id))


@bp.post("/<device_id>/replace")
@api("simulatorReplace", "Simulator", "admin", errors=ENGINE)
@document_response(schemas.Ok)
async def replace(device_id: str) -> Response:
    """Another client connects with the device's credentials: the session goes to
    `conflict` and stays there until restarted."""
    await require_admin()
    phone().replace(device_id)
    return ok(message="Replaced")


@bp.post("/<device_id>/ban")
@api("simulatorBan", "Simulator", "admin", errors=ENGINE)
@document_request(lifecycle_schemas.PhoneBan)
@document_response(schemas.Ok)
async def ban(device_id: str) -> Response:
    """WhatsApp bans the account for `seconds`: `banned`, connecting again once it ends."""
    await require_admin()
    data = await body(lifecycle_schemas.PhoneBan)
    phone().ban(device_id, data.seconds, data.code)
    return ok(message="Banned")


@bp.post("/<device_id>/silence")
@api("simulatorSilence", "Simulator", "admin", errors=ENGINE)
@document_response(schemas.Ok)
async def silence(device_id: str) -> Response:
    """The connection goes dead without closing: no event, no answer (a zombie)."""
    await require_admin()
    phone().silence(device_id)
    return ok(message="Silenced")


@bp.post("/<device_id>/keepalive")
@api("simulatorKeepalive", "Simulator", "admin", errors=ENGINE)
@document_request(lifecycle_schemas.PhoneKeepalive)
@document_response(schemas.Ok)
async def keepalive(device_id: str) -> Response:
    """WhatsApp's keep-alives start failing (`degraded`) or get through again."""
    await require_admin()
    data = await body(lifecycle_schemas.PhoneKeepalive)
    phone().keepalive(device_id, data.failing)
    return ok(message="Keep-alives failing" if data.failing else "Keep-alives restored")


@bp.post("/<device_id>/call")
@api("simulatorCall", "Simulator", "admin", errors=ENGINE)
@document_request(lifecycle_schemas.PhoneCall)
@document_response(lifecycle_schemas.CallPlaced)
async def call(device_id: str) -> Response:
    """A phone calls the session (`call.offer`)."""
    await require_admin()
    data = await body(lifecycle_schemas.PhoneCall)
    placed = phone().ring(device_id, str(data.from_), data.video)
    return ok(callId=placed["callId"])


@bp.post("/<device_id>/hang-up")
@api("simulatorHangUp", "Simulator", "admin", errors=ENGINE)
@document_request(lifecycle_schemas.PhoneHangUp)
@document_response(schemas.Ok)
async def hang_up(device_id: str) -> Response:
    """The caller gives up (`call.ended`)."""
    await require_admin()
    data = await body(lifecycle_schemas.PhoneHangUp)
    phone().hang_up(device_id, data.callId)
    return ok(message="Hung up")


@bp.get("/<device_id>/attempts")
@api("simulatorAttempts", "Simulator", "admin")
@document_response(lifecycle_schemas.Attempts)
async def attempts(device_id: str) -> Response:
    """How many connections the session opened: a reconnect storm shows here."""
    await require_admin()
    return ok(attempts=phone().attempts(device_id))
