"""The events, as the OpenAPI document names them: one union, discriminated by `event`.

Webhooks POST a stored event (:data:`StoredEvent`), ``GET .../events`` lists them,
and the server-sent stream ``GET /api/events`` carries them as each `data:` line
(:data:`LiveEvent`: the stored ones, the live-only ``session.deleted``, and the
stream's own first message ``stream.open``). Every event is the same envelope
(``StoredEvent.to_json()``); the payload's shape depends on the type.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, RootModel

from wad.http.schemas import Body, Ok, State, Timestamp

__all__ = ["Event", "EventList", "LiveEvent"]


class Envelope(Body):
    id: str = Field(description="the event's id: the SSE `id`, the webhook's `webhook-id`")
    session: str = Field(description="the session's deviceId")
    seq: int = Field(description="the event's number within its session (0: not stored)")
    timestamp: Timestamp


class SessionStatusPayload(Body):
    state: State
    previous: State
    lastError: str | None
    nextRetryAt: Timestamp | None = Field(description="when it connects again by itself")
    phoneNumber: str | None


class SessionStatusEvent(Envelope):
    """The session's connection state changed."""

    event: Literal["session.status"]
    payload: SessionStatusPayload


class SessionQrPayload(Body):
    qrCode: str | None = Field(None, description="a new QR code to scan (draw it yourself)")
    pairCode: str | None = Field(None, description="or the pairing code to type on the phone")


class SessionQrEvent(Envelope):
    """A new QR code (or pairing code) while the session waits to be linked."""

    event: Literal["session.qr"]
    payload: SessionQrPayload


class MessagePayload(Body):
    """A received message; fields beyond these depend on its type (media, location...)."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(description="wad's id of the message")
    waId: str | None = Field(description="WhatsApp's id of the message")
    chat: str = Field(description="the chat's JID: the sender's, or a group's")
    type: str = Field(examples=["text"])
    text: str | None = None
    caption: str | None = None
    timestamp: int | None = Field(None, description="Unix time, in seconds, by the sender")
    hasMedia: bool | None = Field(None, description="its media is at `.../messages/{id}/media`")


class MessageEvent(Envelope):
    """A message arrived."""

    event: Literal["message"]
    payload: MessagePayload


class MessageAckPayload(Body):
    id: str = Field(description="wad's id of the sent message")
    status: Literal["delivered", "read", "played"]


class MessageAckEvent(Envelope):
    """A sent message was delivered, read or played."""

    event: Literal["message.ack"]
    payload: MessageAckPayload


class MessageSentPayload(Body):
    id: str = Field(description="wad's id of the message")
    waId: str
    to: str
    type: str
    resent: bool | None = Field(None, description="sent again after a daemon restart")


class MessageSentEvent(Envelope):
    """WhatsApp accepted a message this session sent."""

    event: Literal["message.sent"]
    payload: MessageSentPayload


class SessionDeletedPayload(Body):
    deviceId: str


class SessionDeletedEvent(Envelope):
    """The session was deleted (live only: never stored, never sent to webhooks)."""

    event: Literal["session.deleted"]
    payload: SessionDeletedPayload


class StreamOpen(Body):
    """The first message of every event stream; `resumed` false: load your snapshot
    again (a new stream, or a resume point that is gone)."""

    event: Literal["stream.open"]
    resumed: bool


class Event(
    RootModel[
        Annotated[
            SessionStatusEvent | SessionQrEvent | MessageEvent | MessageAckEvent | MessageSentEvent,
            Field(discriminator="event"),
        ]
    ]
):
    """A stored event: what a webhook receives, and what `GET .../events` lists."""


class LiveEvent(
    RootModel[
        Annotated[
            SessionStatusEvent
            | SessionQrEvent
            | MessageEvent
            | MessageAckEvent
            | MessageSentEvent
            | SessionDeletedEvent
            | StreamOpen,
            Field(discriminator="event"),
        ]
    ]
):
    """One `data:` line of the event stream `GET /api/events`."""


class EventList(Ok):
    events: list[Event]
