"""Query and header parameters, for the OpenAPI document.

The routes read their parameters themselves (the services check them, with the
messages every door shares); these models only describe them, with the same
limits, taken from the same constants.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from wad.http.schemas import Body
from wad.services.messages import PAGE_MAX
from wad.validation import DEVICE_ID_PATTERN

EVENTS_PAGE_MAX = 500
LAST_EVENT_ID_MAX = 100


class Params(Body):
    # Parameters named as sent (Idempotency-Key), not as Python names.
    model_config = ConfigDict(populate_by_name=True)


class MessagesQuery(Params):
    direction: Literal["in", "out"] | None = Field(None, description="only received or sent")
    limit: int = Field(50, ge=1, le=PAGE_MAX, description="how many, newest first")
    before: str | None = Field(
        None, max_length=128, description="a message id: the page after it (`nextBefore`)"
    )


class SessionEventsQuery(Params):
    types: str | None = Field(
        None,
        description="comma-separated event types to keep (default: all)",
        examples=["session.status,session.qr"],
    )
    limit: int = Field(50, ge=1, le=EVENTS_PAGE_MAX, description="how many, newest first")


class EventStreamQuery(Params):
    session: str | None = Field(
        None,
        json_schema_extra={"pattern": DEVICE_ID_PATTERN},
        description="only this session's events (default: every session's)",
    )


class EventStreamHeaders(Params):
    last_event_id: str | None = Field(
        None,
        alias="Last-Event-ID",
        max_length=LAST_EVENT_ID_MAX,
        description="resume after this event id (browsers' EventSource sends it by itself)",
    )


class SendHeaders(Params):
    idempotency_key: str | None = Field(
        None,
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="send once: a retry with the same key and body answers the first result;"
        " the same key with another body is a 409",
        examples=["order-42"],
    )
