"""Bodies of the simulator's lifecycle and call scenarios (``/api/simulator/...``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from wad.http.schemas import Body, Ok


class PhoneBan(Body):
    seconds: float = Field(gt=0, description="how long the ban lasts", examples=[3600])
    code: Literal[
        "SEND_TO_TOO_MANY_PEOPLE",
        "BLOCKED_BY_USERS",
        "CREATED_TOO_MANY_GROUPS",
        "SENT_TOO_MANY_SAME_MESSAGE",
        "BROADCAST_LIST",
    ] = "SEND_TO_TOO_MANY_PEOPLE"


class PhoneKeepalive(Body):
    failing: bool = Field(description="true: keep-alives start failing; false: restored")


class PhoneCall(Body):
    from_: str | int = Field(alias="from", description="the caller's phone number")
    video: bool = False


class PhoneHangUp(Body):
    callId: str


class CallPlaced(Ok):
    callId: str


class Attempts(Ok):
    attempts: int = Field(description="connections the session opened since the daemon started")
