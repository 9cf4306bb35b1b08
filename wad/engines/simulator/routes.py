"""The virtual phone's controls; registered only with ``--engine simulator`` (admin).

Each control is one line of :func:`control`: the admin's request on a session, its
body parsed into a model, one call on the phone (:class:`SimulatorOperations`), and
the fields of the answer (or just a message). The docstring given becomes the
operation's description in ``/openapi.json``, as a handler's docstring does.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from quart import Blueprint, Response
from quart_schema import document_request, document_response

from wad.engines.simulator.operations import SimulatorOperations
from wad.http import lifecycle_schemas as life
from wad.http import schemas
from wad.http.context import services
from wad.http.helpers import body, ok, require_admin
from wad.http.openapi import ENGINE, api

bp = Blueprint("simulator", __name__, url_prefix="/api/simulator/sessions")

#: One control's work: the phone, the session's id, the parsed body (None without
#: one) -> the answer's fields, None for the control's message (or an awaitable).
Act = Callable[[SimulatorOperations, str, Any], Any]


def phone() -> SimulatorOperations:
    # Built per request: it only keeps references to the services' parts.
    return SimulatorOperations(services())


def control(
    name: str,
    operation_id: str,
    doc: str,
    act: Act,
    *,
    request: type[BaseModel] | None = None,
    response: type[BaseModel] = schemas.Ok,
    message: str = "",
    method: str = "POST",
    status: int = 200,
    errors: tuple[int, ...] = ENGINE,
) -> None:
    """Register ``/api/simulator/sessions/<device_id>/<name>`` (``_`` spelt ``-``)."""

    async def handler(device_id: str) -> Response:
        await require_admin()
        data = None if request is None else await body(request)
        fields = act(phone(), device_id, data)
        if inspect.isawaitable(fields):
            fields = await fields
        return ok(status, **(fields if fields is not None else {"message": message}))

    handler.__name__ = handler.__qualname__ = name
    handler.__doc__ = doc
    view: Any = document_response(response, status)(handler)
    if request is not None:
        view = document_request(request)(view)
    view = api(operation_id, "Simulator", "admin", errors=errors)(view)
    bp.route(f"/<device_id>/{name.replace('_', '-')}", methods=[method])(view)


control(
    "scan",
    "simulatorScan",
    "The phone scans the current QR code; 409 unless the session is `waiting_qr`.",
    lambda p, d, b: p.scan(d, str(b.phoneNumber)),
    request=schemas.PhoneScan,
    message="Scanned",
)
control(
    "incoming",
    "simulatorIncoming",
    "A phone sends the session a text.",
    lambda p, d, b: {
        "waId": p.incoming(
            d,
            str(b.from_),
            b.message,
            b.model_dump(exclude_none=True, exclude={"from_", "message"}),
        )["waId"]
    },
    request=schemas.PhoneIncoming,
    response=schemas.IncomingAccepted,
)
control(
    "groups",
    "simulatorAddGroup",
    "The session's account is added to a new group.",
    lambda p, d, b: {"group": p.group(d, b.name, b.participants)},
    request=schemas.PhoneGroup,
    response=schemas.GroupOne,
    status=201,
    errors=(),
)
control(
    "enter_code",
    "simulatorEnterCode",
    "The phone's user types the pairing code from `POST .../pair-code`.",
    lambda p, d, b: p.enter_code(d, b.code),
    request=schemas.PhoneCode,
    message="Linked",
)
control(
    "receipt",
    "simulatorReceipt",
    "The recipient's phone reports a sent message delivered, read or played.",
    lambda p, d, b: p.receipt(d, b.messageId, b.status),
    request=schemas.PhoneReceipt,
    message="Receipt delivered",
)
control(
    "drop",
    "simulatorDrop",
    "The connection drops; the session reconnects by itself.",
    lambda p, d, _: p.drop(d),
    message="Dropped",
)
control(
    "unlink",
    "simulatorUnlink",
    "The phone removes the linked device; the session becomes `logged_out`.",
    lambda p, d, _: p.unlink(d),
    message="Unlinked",
)
control(
    "sent",
    "simulatorSent",
    "What the session sent, in order, as the phones on the other end received it.",
    lambda p, d, _: {"messages": p.sent(d)},
    response=schemas.SimulatedDeliveries,
    method="GET",
    errors=(),
)
control(
    "replace",
    "simulatorReplace",
    "Another client connects with the device's credentials: the session goes to\n"
    "    `conflict` and stays there until restarted.",
    lambda p, d, _: p.replace(d),
    message="Replaced",
)
control(
    "ban",
    "simulatorBan",
    "WhatsApp bans the account for `seconds`: `banned`, connecting again once it ends.",
    lambda p, d, b: p.ban(d, b.seconds, b.code),
    request=life.PhoneBan,
    message="Banned",
)
control(
    "silence",
    "simulatorSilence",
    "The connection goes dead without closing: no event, no answer (a zombie).",
    lambda p, d, _: p.silence(d),
    message="Silenced",
)


def _keepalive(p: SimulatorOperations, device_id: str, data: Any) -> dict[str, str]:
    p.keepalive(device_id, data.failing)
    return {"message": "Keep-alives failing" if data.failing else "Keep-alives restored"}


control(
    "keepalive",
    "simulatorKeepalive",
    "WhatsApp's keep-alives start failing (`degraded`) or get through again.",
    _keepalive,
    request=life.PhoneKeepalive,
)
control(
    "call",
    "simulatorCall",
    "A phone calls the session (`call.offer`).",
    lambda p, d, b: {"callId": p.ring(d, str(b.from_), b.video)["callId"]},
    request=life.PhoneCall,
    response=life.CallPlaced,
)
control(
    "hang_up",
    "simulatorHangUp",
    "The caller gives up (`call.ended`).",
    lambda p, d, b: p.hang_up(d, b.callId),
    request=life.PhoneHangUp,
    message="Hung up",
)
control(
    "attempts",
    "simulatorAttempts",
    "How many connections the session opened: a reconnect storm shows here.",
    lambda p, d, _: {"attempts": p.attempts(d)},
    response=life.Attempts,
    method="GET",
    errors=(),
)
