"""The virtual phone's controls; registered only with ``--engine simulator`` (admin)."""

from __future__ import annotations

from quart import Blueprint, Response
from quart_schema import document_request, document_response

from wad.engines.simulator.operations import SimulatorOperations
from wad.http import schemas
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
    phone().receipt(device_id, data.messageId, data.status)
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
