"""From neonize's callbacks to the engine's events, inside a worker process.

neonize calls its handlers on its own threads with protobuf events; :class:`Bridge`
turns each one into an :class:`EngineEvent` (the shapes of :mod:`wad.engine`, the same
the simulator produces) and downloads the media of incoming messages into the
session's media folder, so the daemon can serve them.

A string field of a protobuf whose content is not valid UTF-8 reaches Python as
``bytes`` (protobuf-python's upb hands it back so; it does not raise): every event is
passed through the text rule (:mod:`wad.engines.text`) here, where the original
bytes can still be seen, and they are kept under ``raw``.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from neonize.client import NewClient
from neonize.proto import Neonize_pb2 as pb
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message as WAMessage
from neonize.utils.jid import build_jid

from wad.engines import text
from wad.engines.contract import EngineError, EngineEvent
from wad.engines.neonize import calls
from wad.engines.neonize.ids import Resolver
from wad.files import write_private

log = logging.getLogger(__name__)

RECEIPTS = {pb.Receipt.DELIVERED: "delivered", pb.Receipt.READ: "read", pb.Receipt.PLAYED: "played"}
MEDIA_FIELDS = {
    "imageMessage": "image",
    "videoMessage": "video",
    "audioMessage": "audio",
    "documentMessage": "document",
    "stickerMessage": "sticker",
}
# Content fields that wrap the real message (disappearing, view-once, captioned document).
_WRAPPERS = (
    "ephemeralMessage",
    "viewOnceMessage",
    "viewOnceMessageV2",
    "viewOnceMessageV2Extension",
    "documentWithCaptionMessage",
)
_OTHER_FIELDS = {
    "conversation": "text",
    "extendedTextMessage": "text",
    "locationMessage": "location",
    "contactMessage": "contact",
    "reactionMessage": "reaction",
    "pollCreationMessage": "poll",
}


def _text(value: str | bytes) -> str:
    """A protobuf string field as text (one that was not UTF-8 comes as bytes)."""
    return text.repaired(value)


def jid_str(jid: pb.JID) -> str:
    """A JID without its device part (``user@server``), as the daemon addresses peers."""
    user, server = _text(jid.User), _text(jid.Server)
    return f"{user}@{server}" if user else server


def peer(jid: pb.JID, alt: pb.JID) -> str:
    # WhatsApp may address a person by a privacy id (@lid) and give the phone-number
    # JID alongside: the daemon and its users know people by phone number.
    return jid_str(alt if jid.Server == "lid" and alt.User else jid)


def parse_jid(value: object, field: str = "to") -> pb.JID:
    """``user@server`` (or a bare phone number) as neonize's JID."""
    if not isinstance(value, str):
        raise EngineError(f"'{field}' must be a JID string", "bad_request")
    user, at, server = value.partition("@")
    if not user or (at and not server):
        raise EngineError(f"'{field}' is not a JID: {value!r}", "bad_request")
    return build_jid(user, server or "s.whatsapp.net")


def unix_seconds(timestamp: int) -> int:
    # neonize 0.5 sends MessageInfo.Timestamp in milliseconds (Go's UnixMilli), older
    # releases in seconds; no message is from beyond the year 5000, so both read right.
    return timestamp // 1000 if timestamp > 100_000_000_000 else timestamp


def unwrap(content: WAMessage) -> WAMessage:
    """The message inside disappearing / view-once / captioned-document wrappers."""
    for _ in range(3):
        wrapper = next((w for w in _WRAPPERS if content.HasField(w)), None)
        if wrapper is None:
            break
        content = getattr(content, wrapper).message
    return content


def content_field(content: WAMessage) -> str | None:
    for name in (*_OTHER_FIELDS, *MEDIA_FIELDS):
        if content.HasField(name):
            return name
    return None


def message_data(message: pb.Message) -> dict[str, Any] | None:
    """A ``message`` event's data, or None for content that is no message to a user
    (protocol, key distribution and other housekeeping messages)."""
    content = unwrap(message.Message)
    field = content_field(content)
    if field is None:
        return None
    info, source = message.Info, message.Info.MessageSource
    data: dict[str, Any] = {
        "id": info.ID,
        "chat": peer(source.Chat, source.RecipientAlt if source.IsFromMe else source.SenderAlt),
        "from": peer(source.Sender, source.SenderAlt),
        "fromMe": source.IsFromMe,
        "type": MEDIA_FIELDS.get(field) or _OTHER_FIELDS[field],
        "timestamp": unix_seconds(info.Timestamp),
        "pushName": info.Pushname,
    }
    if source.IsGroup:
        data["isGroup"] = True
    if field == "conversation":
        data["text"] = content.conversation
        return data
    part = getattr(content, field)
    _fill(data, field, part)
    has_context = "contextInfo" in part.DESCRIPTOR.fields_by_name and part.HasField("contextInfo")
    if has_context:
        context = part.contextInfo
        if context.stanzaID:
            data["replyTo"] = context.stanzaID
        if context.mentionedJID:
            data["mentions"] = list(context.mentionedJID)
    return data


def unreadable_message(message: pb.Message) -> dict[str, Any]:
    """What can be told of a message whose content could not be read: who, when, and the
    whole protobuf, base64, under ``raw.message``."""
    info, source = message.Info, message.Info.MessageSource
    return {
        "id": info.ID,
        "chat": jid_str(source.Chat),
        "from": jid_str(source.Sender),
        "fromMe": source.IsFromMe,
        "type": "unknown",
        "timestamp": unix_seconds(info.Timestamp),
        "pushName": info.Pushname,
        "reduced": True,
        text.RAW: {"message": base64.b64encode(message.SerializePartialToString()).decode()},
    }


def _fill(data: dict[str, Any], field: str, part: Any) -> None:
    if field == "extendedTextMessage":
        data["text"] = part.text
    elif field in MEDIA_FIELDS:
        if field not in ("audioMessage", "stickerMessage") and part.caption:
            data["caption"] = part.caption
        if field == "audioMessage":
            data["ptt"] = part.PTT
        media = {"mimetype": part.mimetype, "size": part.fileLength}
        if field == "documentMessage" and part.fileName:
            media["fileName"] = part.fileName
        data["media"] = media
    elif field == "locationMessage":
        location: dict[str, Any] = {
            "latitude": part.degreesLatitude,
            "longitude": part.degreesLongitude,
        }
        for key in ("name", "address"):
            if getattr(part, key):
                location[key] = getattr(part, key)
        data["location"] = location
    elif field == "contactMessage":
        data["contact"] = {"displayName": part.displayName, "vcard": part.vcard}
    elif field == "reactionMessage":
        data["text"] = part.text
        data["reactedTo"] = part.key.ID
    elif field == "pollCreationMessage":
        data["text"] = part.name
        # Kept, so that the votes on a received poll can be told (their option hashes).
        data["poll"] = {
            "question": part.name,
            "options": [o.optionName for o in part.options],
            "selectableCount": part.selectableOptionsCount,
        }


class Bridge:
    """Registers handlers on a neonize client and turns what they get into EngineEvents.

    Handlers run on neonize's threads, and ctypes swallows what they raise: each one is
    wrapped so a failure is logged and reported instead of vanishing. It costs that one
    event only: a ``fault`` event (counted by the session), a message reduced to what
    could be read (its protobuf kept under ``raw``); only a ``Connected`` that cannot be
    read ends the connection (``error``), as the session cannot work without it.
    ``connected`` and ``waiting_qr`` follow the events, for the commands to check.
    """

    def __init__(
        self, client: NewClient, emit: Callable[[EngineEvent], None], media_dir: Path | None = None
    ) -> None:
        self.client = client
        self._emit = emit
        self.media_dir = media_dir
        #: Called with a message's data before its media are downloaded (the worker
        #: spools it then, so a download that takes long, or a crash during it, costs
        #: at most the file, never the message).
        self.before_media: Callable[[dict[str, Any]], None] | None = None
        self.connected = False
        self.waiting_qr = False
        self.me: pb.JID | None = None
        self.ids = Resolver(client)
        # Messages whose content is one of these fields are events of their own (a poll
        # vote): their translators, set by the commands (wad.engines.neonize.groups).
        self.by_content: dict[str, Callable[[pb.Message], EngineEvent | None]] = {}
        # Replaces neonize's default, which draws the QR code on stdout.
        client.event.qr(self._guard(self._qr))
        translators: dict[type[Any], Callable[[Any], EngineEvent | None]] = {
            pb.Connected: self._connected,
            pb.Message: self._message,
            pb.Receipt: self._receipt,
            pb.LoggedOut: self._logged_out,
            pb.Disconnected: self._disconnected,
            pb.PairStatus: self._pair_status,
            pb.ConnectFailure: self._connect_failure,
            pb.StreamError: self._stream_error,
            pb.StreamReplaced: self._stream_replaced,
            pb.TemporaryBan: self._temporary_ban,
            pb.ClientOutdated: self._client_outdated,
            pb.UndecryptableMessage: self._undecryptable,
            pb.KeepAliveTimeout: self._keepalive_timeout,
            pb.KeepAliveRestored: lambda _: EngineEvent("keepalive_restored"),
        }
        translators.update(
            {
                pb.CallOffer: calls.offer,
                pb.CallOfferNotice: calls.offer_notice,
                pb.CallTerminate: calls.terminate,
            }
        )
        self.register(translators)

    def register(self, translators: dict[type[Any], Callable[[Any], EngineEvent | None]]) -> None:
        """Turn these neonize events into engine events (before ``connect()``)."""
        for event_type, translate in translators.items():
            self.handle(event_type, translate)

    def handle(self, event_type: type[Any], translate: Callable[[Any], EngineEvent | None]) -> None:
        """Translate neonize's ``event_type`` with ``translate`` (guarded as the others).
        neonize subscribes, in Go, to exactly the types registered before connect()."""
        self.client.event(event_type)(self._guard(translate))

    def translate(
        self, event_type: type[Any], fn: Callable[[Any], EngineEvent | list[EngineEvent] | None]
    ) -> None:
        """Handle one more of neonize's event types (register before ``connect()``)."""
        self.client.event(event_type)(self._guard(fn))

    def emit(self, event: EngineEvent) -> None:
        try:
            self._emit(event)
        except Exception:  # the worker is shutting down: nobody is left to tell
            log.warning("dropped a %s event: the worker is stopping", event.kind)

    def _guard(
        self, translate: Callable[[Any], EngineEvent | list[EngineEvent] | None]
    ) -> Callable[[Any, Any], None]:
        def handler(_client: NewClient, payload: Any) -> None:
            try:
                got = translate(payload)
                found = got if isinstance(got, list) else [] if got is None else [got]
                events = [EngineEvent(e.kind, text.clean(e.data)) for e in found]
            except Exception as exc:
                log.exception("could not handle neonize's %s", type(payload).__name__)
                failed = self._failed(payload, exc)
                events = [] if failed is None else [failed]
            for event in events:
                self.emit(event)

        return handler

    def _failed(self, payload: Any, exc: Exception) -> EngineEvent | None:
        what = f"could not handle neonize's {type(payload).__name__}: {exc}"
        if isinstance(payload, pb.Connected):
            return EngineEvent("error", {"message": what})
        if not isinstance(payload, pb.Message):
            return EngineEvent("fault", {"cause": "engine", "message": what})
        self.emit(EngineEvent("fault", {"cause": "message", "message": what}))
        try:
            return EngineEvent("message", text.clean(unreadable_message(payload)))
        except Exception:
            log.exception("could not even reduce message %r", payload.Info.ID)
            return None

    def _qr(self, code: bytes) -> EngineEvent:
        self.waiting_qr = True
        return EngineEvent("qr", {"code": code.decode(errors="replace")})

    def _connected(self, _: pb.Connected) -> EngineEvent:
        # neonize delivers the Device event (kept as client.me) before any other one.
        # get_me() would be the fallback, but it panics Go (killing the process) when
        # the device is not known: report an error instead.
        me = self.client.me
        if me is None or not me.JID.User:
            raise RuntimeError("connected, but neonize reported no device")
        self.me = me.JID
        self.connected, self.waiting_qr = True, False
        return EngineEvent("connected", {"phoneNumber": me.JID.User, "jid": jid_str(me.JID)})

    def _message(self, message: pb.Message) -> EngineEvent | None:
        content = unwrap(message.Message)
        special = next((f for f in self.by_content if content.HasField(f)), None)
        if special is not None:
            return self.by_content[special](message)
        data = message_data(message)
        if data is None:
            log.debug("skipped message %s: no user content", message.Info.ID)
            return None
        self.ids.message_people(message, data)
        if "media" in data and self.media_dir is not None:
            if self.before_media is not None:
                self.before_media(data)
            self._download(unwrap(message.Message), data)
        return EngineEvent("message", data)

    def _download(self, content: WAMessage, data: dict[str, Any]) -> None:
        """Fetch and decrypt the media into the session's folder (``mediaPath``).

        A failed download, or a file that could not be written, still delivers the
        message, with ``mediaError``."""
        assert self.media_dir is not None
        try:
            blob = self.client.download_any(content)
        except Exception as exc:
            log.warning("could not download the media of message %s: %s", data["id"], exc)
            data["mediaError"] = str(exc) or type(exc).__name__
            return
        path = self.media_dir / f"in-{secrets.token_hex(8)}"
        try:
            self.media_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_private(path, blob)  # atomic: nothing is left of a write that failed
        except OSError as exc:  # the disk is full, say: the message still goes, without it
            log.warning("could not keep the media of message %s: %s", data["id"], exc)
            data["mediaError"] = f"could not keep the media: {exc.strerror or exc}"
            return
        data["media"].update(size=len(blob), sha256=hashlib.sha256(blob).hexdigest())
        data["mediaPath"] = str(path)

    def _undecryptable(self, event: pb.UndecryptableMessage) -> EngineEvent:
        # whatsmeow has asked the sender's phone to send it again (a retry receipt); what
        # comes then is an ordinary message. Counted, so no message vanishes unseen.
        info = event.Info
        who = self.ids.person("from", info.MessageSource.Sender, info.MessageSource.SenderAlt)
        return EngineEvent(
            "fault",
            {
                "cause": "undecryptable",
                "message": f"message {_text(info.ID)} from {who.get('from', '?')} could not be"
                " decrypted; the sender's phone was asked to send it again",
            },
        )

    def _receipt(self, receipt: pb.Receipt) -> EngineEvent | None:
        status = RECEIPTS.get(receipt.Type)
        if status is None:  # our other devices' reads, retries, ...: not a delivery state
            return None
        return EngineEvent(
            "receipt",
            {
                "ids": list(receipt.MessageIDs),
                "chat": jid_str(receipt.MessageSource.Chat),
                "status": status,
                **self.ids.receipt_people(receipt),
            },
        )

    def _logged_out(self, event: pb.LoggedOut) -> EngineEvent:
        self.connected = False
        reason = pb.ConnectFailureReason.Name(event.Reason)
        when = " while connecting" if event.OnConnect else ""
        return EngineEvent(
            "logged_out", {"reason": f"WhatsApp unlinked the device{when} ({reason})"}
        )

    def _disconnected(self, _: pb.Disconnected) -> EngineEvent:
        self.connected = False
        return EngineEvent("disconnected", {"reason": "the connection to WhatsApp was lost"})

    def _pair_status(self, event: pb.PairStatus) -> EngineEvent | None:
        if event.Status == pb.PairStatus.SUCCESS:
            log.info("paired as %s", jid_str(event.ID))
            return None
        return EngineEvent("error", {"message": f"pairing failed: {_text(event.Error)}"})

    def _connect_failure(self, event: pb.ConnectFailure) -> EngineEvent:
        reason = pb.ConnectFailureReason.Name(event.Reason)
        return EngineEvent(
            "error",
            {"message": f"WhatsApp refused the connection ({reason}): {_text(event.Message)}"},
        )

    def _stream_error(self, event: pb.StreamError) -> EngineEvent:
        self.connected = False
        return EngineEvent("disconnected", {"reason": f"stream error {event.Code}"})

    def _stream_replaced(self, _: pb.StreamReplaced) -> EngineEvent:
        # whatsmeow does not reconnect after it, and neither does the session.
        self.connected = False
        return EngineEvent(
            "replaced", {"reason": "another client connected with this device's credentials"}
        )

    def _temporary_ban(self, event: pb.TemporaryBan) -> EngineEvent:
        self.connected = False
        # neonize leaves Code unset (0, no name) for a reason it does not know.
        code = (
            pb.TemporaryBan.TempBanReason.Name(event.Code) if event.HasField("Code") else "UNKNOWN"
        )
        return EngineEvent("banned", {"code": code, "expiresIn": max(event.Expire, 0)})

    def _client_outdated(self, _: pb.ClientOutdated) -> EngineEvent:
        self.connected = False
        return EngineEvent(
            "outdated",
            {"reason": "WhatsApp rejected this client version as outdated: upgrade neonize"},
        )

    def _keepalive_timeout(self, event: pb.KeepAliveTimeout) -> EngineEvent:
        return EngineEvent(
            "keepalive_timeout",
            {"errorCount": event.ErrorCount, "lastSuccess": event.LastSuccess},
        )
