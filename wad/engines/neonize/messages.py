"""WhatsApp's ``Message`` for a ``send`` command, built inside a worker process.

Messages are built with neonize's own builders where it has one
(``build_image_message``, ``build_document_message``, ``build_sticker_message``,
``build_reply_message``, ...), uploading their media first; the rest (location,
contact, video and audio without ffmpeg) are filled in here the way neonize would.
The params have been checked by :mod:`wad.engines.neonize.commands` already.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from neonize.client import NewClient
from neonize.proto import Neonize_pb2 as pb
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import (
    AudioMessage,
    ContactMessage,
    ExtendedTextMessage,
    LocationMessage,
    VideoMessage,
)
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message as WAMessage
from neonize.utils.enum import MediaType

from wad.engines.contract import EngineError
from wad.engines.neonize.bridge import Bridge, parse_jid
from wad.engines.neonize.groups import poll_message

MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
# The content field of each type in WhatsApp's Message.
CONTENT_FIELD = {
    "text": "extendedTextMessage",
    "image": "imageMessage",
    "video": "videoMessage",
    "audio": "audioMessage",
    "document": "documentMessage",
    "sticker": "stickerMessage",
    "location": "locationMessage",
    "contact": "contactMessage",
    "poll": "pollCreationMessage",
}


def has_ffmpeg() -> bool:
    """neonize's video and audio builders read duration and thumbnail with ffmpeg."""
    return shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None


class MessageBuilder:
    """Builds messages with one neonize client; ``bridge`` knows our own JID (quotes)."""

    def __init__(self, client: NewClient, bridge: Bridge) -> None:
        self.client = client
        self.bridge = bridge

    def build(self, params: dict[str, Any]) -> WAMessage:
        """WhatsApp's Message for a ``send`` command (uploading its media first)."""
        type_ = params.get("type", "text")
        quoted = self.quoted(params.get("replyTo"))
        if type_ == "poll":
            poll = poll_message(self.client, params["poll"])
            self._quote(poll, type_, quoted)
            return poll
        if type_ == "text":
            message = self._text(params["text"], quoted)
        elif type_ in MEDIA_TYPES:
            message = self._media(type_, params, quoted)
        else:
            message = self._other(type_, params[type_], quoted)
        mentions = params.get("mentions")
        part = getattr(message, CONTENT_FIELD[type_])
        # Exactly the mentions asked for: the builders would also pick up "@digits"
        # from a caption.
        if part.HasField("contextInfo") or mentions:
            del part.contextInfo.mentionedJID[:]
            part.contextInfo.mentionedJID.extend(mentions or [])
        return message

    def quoted(self, reply_to: object) -> pb.Message | None:
        """The quoted message, as neonize's builders take it, from the daemon's record."""
        if reply_to is None:
            return None
        if not isinstance(reply_to, dict) or not isinstance(reply_to.get("id"), str):
            raise EngineError("replyTo must carry the quoted message's id", "bad_request")
        chat = parse_jid(reply_to.get("chat"), "replyTo.chat")
        from_me = bool(reply_to.get("fromMe"))
        sender = (
            self.bridge.me
            if from_me and self.bridge.me is not None
            else parse_jid(reply_to.get("sender") or reply_to.get("chat"), "replyTo.sender")
        )
        source = pb.MessageSource(
            Chat=chat, Sender=sender, IsFromMe=from_me, IsGroup=chat.Server == "g.us"
        )
        return pb.Message(
            Info=pb.MessageInfo(ID=reply_to["id"], MessageSource=source),
            Message=WAMessage(conversation=str(reply_to.get("text") or "")),
        )

    def _text(self, text: str, quoted: pb.Message | None) -> WAMessage:
        if quoted is not None:
            return self.client.build_reply_message(text, quoted)
        return WAMessage(extendedTextMessage=ExtendedTextMessage(text=text))

    def _media(self, type_: str, params: dict[str, Any], quoted: pb.Message | None) -> WAMessage:
        media = params["media"]
        data = Path(media["path"]).read_bytes()
        caption = params.get("caption") or None
        if type_ == "image":
            return self.client.build_image_message(data, caption=caption, quoted=quoted)
        if type_ == "document":
            name = media.get("fileName") or None
            return self.client.build_document_message(
                data,
                caption=caption,
                title=name,
                filename=name,
                mimetype=media.get("mimetype"),
                quoted=quoted,
            )
        if type_ == "sticker":  # the daemon accepts WebP only: sent as it is
            return self.client.build_sticker_message(data, quoted=quoted, passthrough=True)
        if has_ffmpeg():
            if type_ == "video":
                return self.client.build_video_message(data, caption=caption, quoted=quoted)
            return self.client.build_audio_message(data, ptt=bool(params.get("ptt")), quoted=quoted)
        return self._plain_av(type_, data, media, params, quoted)

    def _plain_av(
        self,
        type_: str,
        data: bytes,
        media: dict[str, Any],
        params: dict[str, Any],
        quoted: pb.Message | None,
    ) -> WAMessage:
        """Video or audio without ffmpeg: uploaded with neonize, but with no duration
        or thumbnail (neonize's builders need ffmpeg for those)."""
        kind = MediaType.MediaVideo if type_ == "video" else MediaType.MediaAudio
        upload = self.client.upload(data, kind)
        common = {
            "URL": upload.url,
            "directPath": upload.DirectPath,
            "fileEncSHA256": upload.FileEncSHA256,
            "fileLength": upload.FileLength,
            "fileSHA256": upload.FileSHA256,
            "mediaKey": upload.MediaKey,
            "mimetype": media.get("mimetype"),
        }
        if type_ == "video":
            message = WAMessage(
                videoMessage=VideoMessage(caption=params.get("caption") or None, **common)
            )
        else:
            message = WAMessage(audioMessage=AudioMessage(PTT=bool(params.get("ptt")), **common))
        self._quote(message, type_, quoted)
        return message

    def _other(self, type_: str, spec: dict[str, Any], quoted: pb.Message | None) -> WAMessage:
        if type_ == "location":
            message = WAMessage(
                locationMessage=LocationMessage(
                    degreesLatitude=float(spec["latitude"]),
                    degreesLongitude=float(spec["longitude"]),
                    name=spec.get("name"),
                    address=spec.get("address"),
                )
            )
        else:  # contact, as neonize's send_contact builds it, with the caller's vCard
            message = WAMessage(
                contactMessage=ContactMessage(
                    displayName=str(spec["displayName"]), vcard=str(spec["vcard"])
                )
            )
        self._quote(message, type_, quoted)
        return message

    def _quote(self, message: WAMessage, type_: str, quoted: pb.Message | None) -> None:
        if quoted is not None:
            part = getattr(message, CONTENT_FIELD[type_])
            part.contextInfo.MergeFrom(self.client._make_quoted_message(quoted))
