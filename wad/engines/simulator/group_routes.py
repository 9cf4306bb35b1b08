"""The virtual contacts' controls for groups, polls and statuses; registered only
with ``--engine simulator`` (admin)."""

from __future__ import annotations

from pydantic import Field
from quart import Blueprint, Response
from quart_schema import document_request, document_response

from wad.engines.simulator.group_operations import GroupOperations
from wad.http import schemas
from wad.http.context import services
from wad.http.helpers import body, ok, require_admin
from wad.http.openapi import ENGINE, api
from wad.http.schemas import Body, Ok

bp = Blueprint("simulator_groups", __name__, url_prefix="/api/simulator")


class ContactJoin(Body):
    from_: str | int = Field(alias="from", description="the virtual contact's number")
    link: str = Field(description="the invite link, or its code")
    ask: bool = Field(False, description="ask the admins instead of joining at once")


class ContactJoined(Ok):
    group: str
    pending: bool


class ContactVote(Body):
    from_: str | int = Field(alias="from")
    messageId: str = Field(description="the poll's id (wad's or WhatsApp's)")
    options: list[str] = Field(description="the chosen options' texts (empty withdraws)")


class ContactStatus(Body):
    from_: str | int = Field(alias="from")
    text: str


def contacts() -> GroupOperations:
    return GroupOperations(services())


@bp.post("/join")
@api("simulatorContactJoins", "Simulator", "admin", errors=[*ENGINE, 404])
@document_request(ContactJoin)
@document_response(ContactJoined)
async def join() -> Response:
    """A virtual contact opens a group's invite link."""
    await require_admin()
    data = await body(ContactJoin)
    return ok(**contacts().join(data.from_, data.link, data.ask))


@bp.post("/sessions/<device_id>/vote")
@api("simulatorContactVotes", "Simulator", "admin", errors=ENGINE)
@document_request(ContactVote)
@document_response(schemas.Ok)
async def vote(device_id: str) -> Response:
    """A virtual contact votes in one of the session's polls."""
    await require_admin()
    data = await body(ContactVote)
    await contacts().vote(device_id, data.from_, data.messageId, data.options)
    return ok(message="Voted")


@bp.post("/sessions/<device_id>/status")
@api("simulatorContactStatus", "Simulator", "admin", errors=ENGINE)
@document_request(ContactStatus)
@document_response(schemas.IncomingAccepted)
async def status(device_id: str) -> Response:
    """A virtual contact posts a text status; the session receives it."""
    await require_admin()
    data = await body(ContactStatus)
    return ok(waId=contacts().status(device_id, data.from_, data.text)["waId"])
