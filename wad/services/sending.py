"""Sending a message of any type, and the seed's text send.

Every send gets its row in the messages table before the engine is called, with
a message id fixed beforehand, and the row is updated with the outcome. The
checks run in a fixed order: the session is connected, the media is saved, the
plugins may pace or refuse (``before_send``), the session is still connected,
then the message goes out. An ``Idempotency-Key`` claims its answer first
(:mod:`wad.services.claims`).

The media file of a send that is refused or fails is deleted, unless its message is
pending (accepted, its outcome unknown: cancelled mid-send, or its acknowledgement
could not be stored): that one is sent again at the next connect, with its file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from wad import validation
from wad.config import Config
from wad.engines.group_events import STATUS_JID
from wad.errors import StorageFull, bad_request, conflict, not_found
from wad.services import calls, media, media_url, outbound
from wad.services.caps import NewContactCap
from wad.services.claims import Claims
from wad.services.lookup import Lookup
from wad.services.outbound import MediaFile
from wad.sessions.events import EventLog
from wad.sessions.session import Session
from wad.store import Queries, Store
from wad.store.shielded import shielded

__all__ = ["BeforeSend", "Sending"]

# Asked before each send with the session's id and the message; raises to refuse.
BeforeSend = Callable[[str, dict[str, Any]], Awaitable[None]]


async def _let_through(device_id: str, message: dict[str, Any]) -> None:
    return None


class Sending:
    def __init__(self, config: Config, lookup: Lookup, store: Store, events: EventLog) -> None:
        self.config = config
        self.lookup = lookup
        self.store = store
        self.events = events
        self.claims = Claims(store)
        self.caps = NewContactCap(config, store)  # WhatsApp's cap on new contacts
        # Set by the daemon to ask plugins (pacing, refusal) before each send.
        self.before_send: BeforeSend = _let_through

    async def send_text(self, device_id: object, number: object, message: object) -> dict[str, Any]:
        """The seed's send: a text to a phone number, answered in the seed's shape."""
        text = validation.message_text(message)
        number = validation.phone_number(number)
        result = await self.send(device_id, {"type": "text", "to": number, "text": text})
        return {
            "status": result["status"],
            "to": result["to"],
            "message": text,
            "id": result["id"],
            "timestamp": result["timestamp"],
        }

    async def send(
        self,
        device_id: object,
        spec: dict[str, Any],
        upload: MediaFile | None = None,
        idempotency_key: str | None = None,
        to_status: bool = False,
    ) -> dict[str, Any]:
        """Send one message of any type; answers once WhatsApp acknowledged it.
        ``to_status``: posted as a status (to ``status@broadcast``), not to ``to``."""
        key = idempotency_key
        try:  # a request refused before it claims anything: its upload goes at once
            session = self.lookup.live(device_id)
            sid = session.device_id
            fields = outbound.fields(spec)
            to = STATUS_JID if to_status else outbound.recipient(spec.get("to"))
            type_ = fields["type"]
            if spec.get("replyTo") is not None:
                fields["replyTo"] = await self._quoted(sid, spec["replyTo"])
            earlier = None if key is None else await self._claim(sid, key, spec, upload)
        except BaseException:
            await self._discard(upload, None)
            raise
        if earlier is not None:
            await self._discard(upload, None)
            return earlier
        message_id = calls.new_message_id()
        stored = upload
        try:
            if session.state != "connected":
                raise conflict("Session not connected")
            await self.caps.admit(sid, to)  # refused before any work: nothing to undo
            stored = await self._media(session.folder, type_, spec, upload)
            await self.before_send(sid, {"to": to, **fields})
            if session.state != "connected":  # it may have dropped while waiting its turn
                raise conflict("Session not connected")
            result = await self._deliver(session, to, fields, stored, message_id, key)
        except BaseException:
            # Maybe a cancellation (the client gone, the daemon stopping): the cleanup
            # must still run (wad.store.shielded). A status not read in time counts as
            # pending: the claim stays open, the file kept, for a retry to settle.
            status: str | None = "pending"
            with shielded():
                status = await self.store.read(lambda q: q.message_status(message_id))
            pending = status == "pending"
            if key is not None:
                with shielded():
                    await self.claims.release(sid, key, keep=pending)
            if not pending:
                with shielded():
                    await self._discard(stored, message_id)
            raise
        if key is not None:
            await self.claims.finish(sid, key, result)
        return result

    async def _claim(
        self, device_id: str, key: str, spec: dict[str, Any], upload: MediaFile | None
    ) -> dict[str, Any] | None:
        if not isinstance(key, str) or not 1 <= len(key) <= 255 or not key.isprintable():
            raise bad_request("Idempotency-Key must be 1-255 printable characters")
        body_hash = _hash(
            {
                "spec": {k: v for k, v in spec.items() if k != "media"},
                "media": (spec.get("media") or {}),
                "upload": upload and upload.sha256,
            }
        )
        return await self.claims.claim(device_id, key, body_hash)

    async def _discard(self, stored: MediaFile | None, message_id: str | None) -> None:
        """Delete the file of a send that will not go; its failed row forgets it."""
        if stored is None:
            return
        media.discard(stored.path)
        if message_id is not None:
            # On a full disk the row still names the file that is gone: 404 for it.
            forgotten = message_id
            with contextlib.suppress(StorageFull):
                await self.store.run(lambda q: q.forget_media(forgotten))

    async def _quoted(self, device_id: str, message_id: object) -> dict[str, Any]:
        if not isinstance(message_id, str):
            raise bad_request("replyTo must be a message id")
        valid = message_id
        quoted = await self.store.read(lambda q: q.get_message(device_id, valid))
        if quoted is None or not quoted["waId"]:
            raise not_found("replyTo: no such message in this session")
        return {
            "id": quoted["waId"],
            "chat": quoted["peer"],
            "fromMe": quoted["direction"] == "out",
            "text": quoted["body"] or "",
            "sender": quoted["fields"].get("from") or quoted["peer"],
        }

    async def _media(
        self, folder: Path, type_: str, spec: dict[str, Any], upload: MediaFile | None
    ) -> MediaFile | None:
        if type_ not in outbound.MEDIA_TYPES:
            if upload is not None or spec.get("media") is not None:
                raise bad_request(f"a {type_} message carries no media")
            return None
        if upload is not None:
            outbound.mimetype(upload.mimetype, type_)
            if upload.size > outbound.media_limit(type_):
                media.discard(upload.path)
                raise media.too_large(outbound.media_limit(type_))
            return upload
        source = spec.get("media")
        if not isinstance(source, dict):
            raise bad_request(
                f"a {type_} needs media: {{data (base64) or url, mimetype}}, or a multipart upload"
            )
        name = outbound.file_name(source.get("fileName"))
        dest = media.media_dir(folder) / f"out-{secrets.token_hex(8)}"
        if "url" in source and "data" not in source:
            fetcher = media_url.fetcher(self.config)
            mime_given = source.get("mimetype")  # else the server's Content-Type
            return await media_url.fetch(source["url"], dest, type_, mime_given, name, fetcher)
        mime = outbound.mimetype(source.get("mimetype"), type_)
        limit = outbound.media_limit(type_)
        if "data" in source:
            return media.save_base64(source["data"], dest, mime, limit, name)
        raise bad_request("media needs data (base64) or url")

    async def _deliver(
        self,
        session: Session,
        to: str,
        fields: dict[str, Any],
        stored: MediaFile | None,
        message_id: str,
        key: str | None,
    ) -> dict[str, Any]:
        device_id = session.device_id
        type_ = fields["type"]
        body = fields.get("text") or fields.get("caption") or fields.get("poll", {}).get("question")
        extra = {k: v for k, v in fields.items() if k not in ("type", "text")}
        if stored is not None:
            extra["media"] = {k: v for k, v in stored.to_json().items() if k != "path"}
        media_path = stored.path if stored else None

        def store_it(q: Queries) -> None:  # the row, and the key's claim naming it: one commit
            q.insert_outgoing(message_id, device_id, to, type_, body, extra or None, media_path)
            if key is not None:
                q.idempotency_attach(device_id, key, message_id)

        await self.store.run(store_it)
        params: dict[str, Any] = {"id": message_id, "to": to, **fields}
        if stored is not None:
            params["media"] = stored.to_json()
        result = await calls.call(self.store, session, "send", params, message_id)
        wa_id = str(result.get("id") or message_id)
        timestamp = int(result.get("timestamp") or time.time())
        # The row's update and its event in one transaction (one commit, not two).
        await self.events.emit(
            device_id,
            "message.sent",
            {"id": message_id, "waId": wa_id, "to": to, "type": type_},
            also=lambda q: q.mark_sent(message_id, wa_id),
        )
        return {"status": "sent", "id": message_id, "to": to, "type": type_, "timestamp": timestamp}


def _hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()
