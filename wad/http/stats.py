"""Figures for the dashboard's charts (admin): messages received and sent per hour."""

from __future__ import annotations

from pydantic import Field
from quart import Blueprint, Response, request
from quart_schema import document_querystring, document_response

from wad.http.context import services
from wad.http.helpers import ok, require_admin
from wad.http.openapi import api
from wad.http.schemas import Body, Ok, Timestamp
from wad.services.messages import HOURS_MAX
from wad.validation import DEVICE_ID_PATTERN

bp = Blueprint("stats", __name__, url_prefix="/api/stats")


class MessageStatsQuery(Body):
    session: str | None = Field(
        default=None,
        json_schema_extra={"pattern": DEVICE_ID_PATTERN},
        description="One session's deviceId; every session's messages without it",
    )
    hours: int = Field(default=24, ge=1, le=HOURS_MAX, description="How many hours, up to now")


class HourCount(Body):
    hour: Timestamp = Field(description="The hour's start, UTC", examples=["2026-12-01T09:00:00Z"])
    received: int
    sent: int = Field(description="Outgoing messages WhatsApp accepted (not pending, not failed)")


class MessageStats(Ok):
    session: str | None
    hours: int
    buckets: list[HourCount] = Field(description="One an hour, oldest first; the last is now")
    received: int
    sent: int


@bp.get("/messages")
@api("getMessageStats", "Messages", "admin", errors=[404])
@document_querystring(MessageStatsQuery)
@document_response(MessageStats)
async def message_stats() -> Response:
    """Messages received and sent per hour over the last `hours` (default 24), of one
    session (`?session=<deviceId>`) or of all (admin)."""
    await require_admin()
    args = request.args
    return ok(**await services().messages.hourly(args.get("session"), args.get("hours", 24)))
