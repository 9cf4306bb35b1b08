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

from wad.http.group_schemas import (
    GroupParticipantsPayload,
    GroupUpdatePayload,
    PollVotePayload,
)
from wad.http.schemas import Body, Ok, Timestamp
from wad.sessions.states import State

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
    degraded: bool | None = Field(
        None, description="keep-alives failing (an event comes when it changes)"
    )
    bannedUntil: Timestamp | None = Field(None, description="while `banned`: when it ends")
    cause: Literal["unresponsive", "degraded", "replaced", "outdated"] | None = Field(
        None, description="why wad or WhatsApp ended the connection"
    )


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


class PersonIds(Body):
    jid: str = Field(description="the phone-number JID whenever it is known, else the LID")
    phone: str | None
    lid: str | None


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
    history: bool | None = Field(None, description="a past message, from history sync")
    from_: str | None = Field(
        None,
        alias="from",
        description="the sender: the phone-number JID whenever it is known, else the LID",
    )
    fromPhone: str | None = Field(None, description="the sender's phone-number JID, when known")
    fromLid: str | None = Field(None, description="the sender's LID (`<digits>@lid`), when known")
    chatPhone: str | None = Field(None, description="a direct chat's phone-number JID")
    chatLid: str | None = Field(None, description="a direct chat's LID")
    mentionIds: list[PersonIds] | None = Field(None, description="each mention's two ids")


class MessageEvent(Envelope):
    """A message arrived."""

    event: Literal["message"]
    payload: MessagePayload


class MessageAckPayload(Body):
    id: str = Field(description="wad's id of the sent message")
    status: Literal["delivered", "read", "played"]
    from_: str | None = Field(None, alias="from", description="who reported it, when told")
    fromPhone: str | None = None
    fromLid: str | None = None


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


class HistoryBatchPayload(Body):
    syncType: str = Field(
        description="WhatsApp's kind of sync: INITIAL_BOOTSTRAP, RECENT, FULL, ON_DEMAND...",
        examples=["RECENT"],
    )
    chunkOrder: int | None = Field(None, description="the blob's number in its sync")
    progress: int | None = Field(None, description="the sync's progress, in percent")
    conversations: int | None = Field(None, description="chats the blob covers")
    part: int | None = Field(None, description="this batch's number within its blob")
    parts: int | None = None
    kept: bool = Field(description="false: the session's history setting is none")
    received: int = Field(description="messages in the batch")
    stored: int = Field(description="stored now as messages with `history: true`")
    duplicates: int = Field(description="already stored (live, sent, or an earlier batch)")
    oldest: int | None = Field(description="Unix time of its oldest message")
    newest: int | None


class HistoryBatchEvent(Envelope):
    """A batch of past messages arrived (history sync); they are listed with the
    session's messages, marked `history: true` in their fields, never pushed one by one."""

    event: Literal["history.batch"]
    payload: HistoryBatchPayload


class PresencePayload(Body):
    jid: str = Field(description="whose presence: a user JID")
    state: Literal["available", "unavailable", "typing", "recording", "paused"] = Field(
        description="online or not (after a subscription), or typing in a chat"
    )
    lastSeen: int | None = Field(None, description="Unix seconds, when they went away")
    chat: str | None = Field(None, description="the chat they type in (typing states)")


class PresenceEvent(Envelope):
    """A contact's presence: after `POST .../presence/subscribe`, and typing in a chat."""

    event: Literal["presence"]
    payload: PresencePayload


class GroupParticipantsEvent(Envelope):
    """People were added to a group, removed, promoted, demoted, joined or left."""

    event: Literal["group.participants"]
    payload: GroupParticipantsPayload


class GroupUpdateEvent(Envelope):
    """A group's subject, description, picture, settings or invite link changed."""

    event: Literal["group.update"]
    payload: GroupUpdatePayload


class PollVoteEvent(Envelope):
    """Someone voted in a poll (their latest vote counts)."""

    event: Literal["poll.vote"]
    payload: PollVotePayload


class StatusEvent(Envelope):
    """A contact posted a status (stored as a message from `status@broadcast`)."""

    event: Literal["status"]
    payload: MessagePayload


class CallOfferPayload(Body):
    callId: str
    from_: str = Field(
        alias="from", description="the caller's JID (its device), as WhatsApp named it"
    )
    timestamp: int | None = Field(description="Unix time, in seconds")
    isVideo: bool
    isGroup: bool
    autoReject: bool = Field(description="the session rejects it now (its `rejectCalls`)")


class CallOfferEvent(Envelope):
    """A call rings the session."""

    event: Literal["call.offer"]
    payload: CallOfferPayload


class CallEndedPayload(Body):
    callId: str
    from_: str = Field(alias="from")
    reason: str = Field(
        description="`rejected` (by wad), or WhatsApp's reason", examples=["timeout"]
    )


class CallEndedEvent(Envelope):
    """A call ended: the caller gave up, or wad rejected it."""

    event: Literal["call.ended"]
    payload: CallEndedPayload


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
            SessionStatusEvent
            | SessionQrEvent
            | MessageEvent
            | MessageAckEvent
            | MessageSentEvent
            | HistoryBatchEvent
            | PresenceEvent
            | GroupParticipantsEvent
            | GroupUpdateEvent
            | PollVoteEvent
            | StatusEvent
            | CallOfferEvent
            | CallEndedEvent,
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
            | HistoryBatchEvent
            | PresenceEvent
            | GroupParticipantsEvent
            | GroupUpdateEvent
            | PollVoteEvent
            | StatusEvent
            | CallOfferEvent
            | CallEndedEvent
            | SessionDeletedEvent
            | StreamOpen,
            Field(discriminator="event"),
        ]
    ]
):
    """One `data:` line of the event stream `GET /api/events`."""


class EventList(Ok):
    events: list[Event]
