"""Request and response bodies, for parsing and for the OpenAPI document.

Types are checked here; the rules with clear messages (deviceId pattern, phone
numbers, lengths) live in :mod:`wad.validation`, shared with the control socket.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from wad.errors import ERROR_CODES
from wad.sessions.states import State
from wad.validation import DEVICE_ID_PATTERN, MESSAGE_MAX

ErrorCode = Literal[ERROR_CODES]  # type: ignore[valid-type]
#: wad's one timestamp form: ISO 8601, UTC, milliseconds, ``Z``.
Timestamp = Annotated[
    str, Field(json_schema_extra={"format": "date-time"}, examples=["2025-01-01T12:00:00.000Z"])
]


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Error(Body):
    """Every error answer: `error` for people, `code` for programs (stable)."""

    # Every field is in every error answer, so each is required in the document.
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    success: Literal[False] = False
    error: str = Field(description="what went wrong, in words; may change between versions")
    code: ErrorCode = Field(description="what went wrong, as a stable machine-readable code")


class Ok(Body):
    success: Literal[True] = True
    message: str | None = None


class SessionSettings(Body):
    """A session's own settings (see wad.services.settings); each optional: a create
    or a change sets only those it names."""

    rejectCalls: bool | None = Field(
        None, description="reject incoming calls at once (default false)"
    )
    rejectCallsMessage: str | None = Field(
        None, description="a text sent to the caller of a rejected call; null: none"
    )
    newContactDailyCap: int | None = Field(
        None,
        ge=0,
        description="messages a day to contacts who never wrote to the session;"
        " null: the daemon's WAD_NEW_CONTACT_DAILY_CAP, 0: no cap",
    )
    proxy: str | None = Field(
        None,
        description="the proxy this session reaches WhatsApp through: http://, https:// or"
        " socks5://, with a port, optionally user:password@; stored encrypted, shown masked;"
        ' a change reconnects the session; null or "": none',
        examples=["socks5://user:secret@proxy.example:1080"],
    )
    history: Literal["none", "recent", "full"] | None = Field(
        None,
        description="history sync: none (default), recent (what WhatsApp sends after"
        " pairing) or full (asks for everything at pairing); stored as history messages",
    )


class SessionPatch(SessionSettings):
    """The settings to change; a setting set to null goes back to its default."""

    model_config = ConfigDict(extra="forbid")  # a misspelt setting is a 400, not a no-op


class CreateSession(SessionSettings):
    deviceId: str = Field(json_schema_extra={"pattern": DEVICE_ID_PATTERN}, examples=["my-device"])


class SettingsShown(Body):
    """A session's settings as its JSON shows them."""

    rejectCalls: bool
    rejectCallsMessage: str | None
    newContactDailyCap: int | None
    proxy: str | None = Field(description="masked: socks5://user:***@host:1080")
    history: Literal["none", "recent", "full"]


class SessionCreated(Ok):
    deviceId: str


class SessionSummary(SettingsShown):
    deviceId: str
    connectionState: State
    hasApiKey: bool
    phoneNumber: str | None
    createdAt: Timestamp
    isActive: bool
    lastError: str | None
    nextRetryAt: Timestamp | None
    updatedAt: Timestamp
    degraded: bool = Field(
        description="connected, but WhatsApp's keep-alives are failing; it reconnects if"
        " that lasts (WAD_DEGRADED_RECONNECT_AFTER)"
    )
    bannedUntil: Timestamp | None = Field(
        description="while `banned`: when the ban ends and the session connects again"
    )
    node: str | None = Field(
        None,
        description="in a cluster (WAD_DATABASE_URL) only: the node that runs the session"
        " (null while it is handed over); the state of a session another node runs is"
        " its stored one",
    )


class SessionDetail(SessionSummary):
    apiKeyMasked: str | None
    quarantined: bool = Field(
        description="neonize: the session runs in a worker process of its own, after"
        " crashes of the worker it shared (WAD_QUARANTINE_AFTER)"
    )


class SessionList(Ok):
    sessions: list[SessionSummary]


class SessionOne(Ok):
    session: SessionDetail


class QrCode(Ok):
    qrCode: str
    qrImage: str = Field(description="PNG image of the QR code as a data URL")


class SetApiKey(Body):
    apiKey: str | None = Field(None, description="custom key (16+ characters); omit to generate")


class ApiKeySet(Ok):
    apiKey: str = Field(description="the full key; shown only in this response")


class SendText(Body):
    deviceId: str = Field(json_schema_extra={"pattern": DEVICE_ID_PATTERN})
    number: str | int = Field(
        description="6-15 digits, country code first", examples=["15550001111"]
    )
    message: str = Field(
        json_schema_extra={"maxLength": MESSAGE_MAX, "minLength": 1}, examples=["Hello from wad"]
    )


class Sent(Ok):
    status: Literal["sent"]
    to: str
    id: str
    timestamp: int


class PhoneScan(Body):
    phoneNumber: str | int


class PhoneIncoming(Body):
    from_: str | int = Field(alias="from")
    message: str | None = Field(None, description="the text, for a text message")
    type: str = "text"
    chat: str | None = Field(None, description="a group JID, for a message in a group")
    caption: str | None = None
    media: dict[str, Any] | None = None
    ptt: bool | None = None
    location: dict[str, Any] | None = None
    contact: dict[str, Any] | None = None
    mentions: list[str] | None = None
    addressing: Literal["pn", "lid", "lid_unmapped"] = Field(
        "pn",
        description="how the network addresses it: by phone number, by LID only (the"
        " engine knows the phone number), or by a LID whose phone number it never saw",
    )


class PhoneGroup(Body):
    name: str
    participants: list[str | int]


class PhoneCode(Body):
    code: str


class PhoneReceipt(Body):
    messageId: str
    status: Literal["delivered", "read", "played"] = "delivered"


class Health(Body):
    status: Literal["ok"]
    version: str


class Plugin(Body):
    name: str
    module: str
    distribution: str | None = Field(description="the installed package it came from")
    version: str | None
    builtin: bool
    hooks: list[str] = Field(description="the hooks it implements")


class PluginList(Ok):
    plugins: list[Plugin]


class StoredMessage(Body):
    """A message in or out, as stored."""

    id: str = Field(description="wad's id of the message (`nextBefore` pages by it)")
    direction: Literal["in", "out"]
    peer: str = Field(description="the chat: a user or group JID")
    type: str = Field(examples=["text"])
    body: str | None = Field(description="the text, or a media message's caption")
    status: str = Field(
        description="out: pending, sent, delivered, read, played or failed; in: received"
    )
    waId: str | None = Field(description="WhatsApp's id of the message, once it has one")
    error: str | None = Field(description="why a send failed")
    createdAt: Timestamp
    updatedAt: Timestamp
    fields: dict[str, Any] = Field(description="the rest of the message: media, location, ...")
    hasMedia: bool = Field(description="its media can be downloaded from `.../media`")


class MessagePage(Ok):
    messages: list[StoredMessage]
    nextBefore: str | None = Field(
        description="pass as `before` for the next (older) page; null on the last page"
    )


class SimulatedDelivery(Body):
    """What a phone on the other end received (a message, or a reaction, edit, revoke...)."""

    model_config = ConfigDict(extra="allow")

    id: str | None = Field(None, description="the message's id (not for presence)")
    command: str = Field(examples=["send"])
    to: str | None = None
    type: str | None = None
    timestamp: int = Field(description="Unix time, in seconds")


class SimulatedDeliveries(Ok):
    messages: list[SimulatedDelivery]


class IncomingAccepted(Ok):
    waId: str = Field(description="the WhatsApp id the phone gave the message")


class MediaSource(Body):
    data: str | None = Field(None, description="the file, base64-encoded")
    url: str | None = Field(None, description="or a public http(s) URL the daemon fetches")
    mimetype: str | None = Field(
        None,
        examples=["image/jpeg"],
        description="required with data; with url, the server's Content-Type when absent",
    )
    fileName: str | None = None


class Location(Body):
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None


class Contact(Body):
    displayName: str
    vcard: str = Field(description="a vCard: BEGIN:VCARD ... END:VCARD")


class SendMessage(Body):
    type: Literal[
        "text", "image", "video", "audio", "document", "sticker", "location", "contact"
    ] = "text"
    to: str | int = Field(
        description="phone number, user JID or group JID (...@g.us)", examples=["15550001111"]
    )
    text: str | None = None
    caption: str | None = None
    media: MediaSource | None = None
    ptt: bool | None = Field(None, description="audio: send as a voice note")
    location: Location | None = None
    contact: Contact | None = None
    replyTo: str | None = Field(None, description="id of a message to quote")
    mentions: list[str | int] | None = None


class SendUpload(Body):
    """A media message as multipart/form-data: the fields of a send, the file as `file`."""

    type: Literal["image", "video", "audio", "document", "sticker"]
    to: str = Field(description="phone number, user JID or group JID (...@g.us)")
    file: bytes = Field(description="the media file (streamed to disk)")
    caption: str | None = None
    fileName: str | None = Field(None, description="default: the uploaded file's name")
    mimetype: str | None = Field(None, description="default: the uploaded part's type")
    ptt: bool | None = Field(None, description="audio: send as a voice note")
    replyTo: str | None = Field(None, description="id of a message to quote")
    mentions: list[str] | None = Field(None, description="repeat the field for each")


class MessageSent(Ok):
    status: Literal["sent"]
    id: str
    to: str
    type: str
    timestamp: int


class Reaction(Body):
    emoji: str = Field(examples=["👍"])


class Edit(Body):
    text: str


class Acted(Ok):
    status: str
    id: str
    target: str
    type: str


class Presence(Body):
    to: str | int
    state: Literal["typing", "recording", "paused"]


class CheckNumbers(Body):
    numbers: list[str | int]


class NumberCheck(Body):
    number: str
    exists: bool
    jid: str | None


class NumbersChecked(Ok):
    results: list[NumberCheck]


class Participant(Body):
    jid: str
    isAdmin: bool
    isSuperAdmin: bool


class Group(Body):
    id: str
    name: str
    participants: list[Participant]


class GroupList(Ok):
    groups: list[Group]


class GroupOne(Ok):
    group: Group


class PairCodeRequest(Body):
    phoneNumber: str | int


class PairCode(Ok):
    code: str
    phoneNumber: str
