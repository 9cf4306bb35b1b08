"""Messaging operations beyond the seed's text send, shared by every door.

Every outgoing action (a message of any type, a reaction, an edit, a revoke)
gets its row in the messages table before the engine is called, with a message
id fixed beforehand, and the row is updated with the outcome.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from wad import validation
from wad.engines.contract import EngineError
from wad.errors import WadError, bad_request, conflict, not_found
from wad.services import media, outbound
from wad.services.outbound import MediaFile
from wad.store import id_bits

if TYPE_CHECKING:
    from wad.services.service import Service

SEND_TIMEOUT = 60.0
ENGINE_ERROR_CODES = {
    "not_connected": ("conflict", "Session not connected"),
    "not_on_whatsapp": ("bad_request", None),
    "conflict": ("conflict", None),
    "not_found": ("not_found", None),
    "bad_request": ("bad_request", None),
    "unsupported": ("bad_request", None),
}


def engine_failure(exc: EngineError) -> WadError:
    code, message = ENGINE_ERROR_CODES.get(exc.code, ("unavailable", None))
    return WadError(code, message or str(exc))


def new_message_id() -> str:
    """A WhatsApp-style message id, fixed before the engine is called. Not a secret:
    the store's seeded generator serves (no system call for each id)."""
    return f"3EB0{id_bits(80):020X}"


class Messaging:
    def __init__(self, service: Service) -> None:
        self.service = service
        self.store = service.store

    # -- sending ------------------------------------------------------------------------

    async def send(
        self,
        device_id: object,
        spec: dict[str, Any],
        upload: MediaFile | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Send one message of any type; answers once WhatsApp acknowledged it."""
        svc = self.service
        session = svc._live(device_id)
        sid = session.device_id
        fields = outbound.fields(spec)
        to = outbound.recipient(spec.get("to"))
        type_ = fields["type"]
        if spec.get("replyTo") is not None:
            fields["replyTo"] = self._quoted(sid, spec["replyTo"])
        if idempotency_key is not None:
            body_hash = _hash(
                {
                    "spec": {k: v for k, v in spec.items() if k != "media"},
                    "media": (spec.get("media") or {}),
                    "upload": upload and upload.sha256,
                }
            )
            earlier = self._claim(sid, idempotency_key, body_hash)
            if earlier is not None:
                return earlier
        try:
            if session.state != "connected":
                raise conflict("Session not connected")
            stored = await self._media(session.folder, type_, spec, upload)
            await svc.before_send(sid, {"to": to, **fields})
            if session.state != "connected":  # it may have dropped while waiting its turn
                raise conflict("Session not connected")
            result = await self._deliver(session, sid, to, fields, stored)
        except BaseException:
            if idempotency_key is not None:
                self.store.idempotency_finish(sid, idempotency_key, None)
            raise
        if idempotency_key is not None:
            self.store.idempotency_finish(sid, idempotency_key, result)
        return result

    def _claim(self, device_id: str, key: str, body_hash: str) -> dict[str, Any] | None:
        if not isinstance(key, str) or not 1 <= len(key) <= 255 or not key.isprintable():
            raise bad_request("Idempotency-Key must be 1-255 printable characters")
        outcome, earlier = self.store.idempotency_claim(device_id, key, body_hash)
        if outcome == "mismatch":
            raise conflict("This Idempotency-Key was used with a different request body")
        if outcome == "busy":
            raise conflict("A request with this Idempotency-Key is still being sent")
        return earlier

    def _quoted(self, device_id: str, message_id: object) -> dict[str, Any]:
        if not isinstance(message_id, str):
            raise bad_request("replyTo must be a message id")
        quoted = self.store.get_message(device_id, message_id)
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
        mime = outbound.mimetype(source.get("mimetype"), type_)
        name = outbound.file_name(source.get("fileName"))
        limit = outbound.media_limit(type_)
        dest = media.media_dir(folder) / f"out-{secrets.token_hex(8)}"
        if "data" in source:
            return media.save_base64(source["data"], dest, mime, limit, name)
        if "url" in source:
            return await media.fetch_url(
                source["url"], dest, mime, limit, name, self.service.config
            )
        raise bad_request("media needs data (base64) or url")

    async def _deliver(
        self,
        session: Any,
        device_id: str,
        to: str,
        fields: dict[str, Any],
        stored: MediaFile | None,
    ) -> dict[str, Any]:
        message_id = new_message_id()
        type_ = fields["type"]
        body = fields.get("text") or fields.get("caption")
        extra = {k: v for k, v in fields.items() if k not in ("type", "text")}
        if stored is not None:
            extra["media"] = {k: v for k, v in stored.to_json().items() if k != "path"}
        self.store.insert_outgoing(
            message_id, device_id, to, type_, body, extra or None, stored.path if stored else None
        )
        params: dict[str, Any] = {"id": message_id, "to": to, **fields}
        if stored is not None:
            params["media"] = stored.to_json()
        result = await self._call(session, "send", params, message_id)
        wa_id = str(result.get("id") or message_id)
        timestamp = int(result.get("timestamp") or time.time())
        # The row's update and its event in one transaction (one commit, not two).
        self.service.events.emit(
            device_id,
            "message.sent",
            {"id": message_id, "waId": wa_id, "to": to, "type": type_},
            also=lambda: self.store.mark_sent(message_id, wa_id),
        )
        return {"status": "sent", "id": message_id, "to": to, "type": type_, "timestamp": timestamp}

    async def _call(
        self, session: Any, command: str, params: dict[str, Any], message_id: str | None = None
    ) -> dict[str, Any]:
        """Call the engine; record a failure on the message row when there is one."""
        try:
            with trio.fail_after(SEND_TIMEOUT):
                return await session.call(command, params)
        except EngineError as exc:
            if message_id:
                self.store.mark_failed(message_id, str(exc))
            raise engine_failure(exc) from None
        except trio.TooSlowError:
            if message_id:
                self.store.mark_failed(message_id, "timed out waiting for WhatsApp")
            raise WadError("unavailable", "timed out waiting for WhatsApp") from None

    # -- acting on messages -------------------------------------------------------------

    def _message(self, device_id: str, message_id: object) -> dict[str, Any]:
        if not isinstance(message_id, str) or not 1 <= len(message_id) <= 128:
            raise bad_request("message id must be a string")
        found = self.store.get_message(device_id, message_id)
        if found is None or not found["waId"]:
            raise not_found("No such message in this session")
        return found

    async def _act(
        self,
        device_id: object,
        message_id: object,
        type_: str,
        command: str,
        params: dict[str, Any],
        own: bool | None = None,
    ) -> dict[str, Any]:
        svc = self.service
        row = svc._row(device_id)
        session = svc._session(row.device_id)
        target = self._message(row.device_id, message_id)
        if own is True and target["direction"] != "out":
            raise bad_request(f"only your own messages can get a {type_}")
        if own is False and target["direction"] != "in":
            raise bad_request(f"{type_} applies to received messages")
        if session.state != "connected":
            raise conflict("Session not connected")
        action_id = new_message_id()
        fields = {"targetId": target["id"], **{k: v for k, v in params.items()}}
        self.store.insert_outgoing(
            action_id,
            row.device_id,
            target["peer"],
            type_,
            params.get("text") or params.get("emoji"),
            fields,
        )
        full = {
            "id": action_id,
            "chat": target["peer"],
            "targetId": target["waId"],
            "fromMe": target["direction"] == "out",
            "sender": target["fields"].get("from") or target["peer"],
            **params,
        }
        result = await self._call(session, command, full, action_id)
        self.store.mark_sent(action_id, str(result.get("id") or action_id))
        return {"status": "sent", "id": action_id, "target": target["id"], "type": type_}

    async def react(self, device_id: object, message_id: object, emoji: object) -> dict[str, Any]:
        if not isinstance(emoji, str) or len(emoji) > 16:
            raise bad_request("emoji must be a short string (empty removes the reaction)")
        return await self._act(device_id, message_id, "reaction", "react", {"emoji": emoji})

    async def edit(self, device_id: object, message_id: object, text: object) -> dict[str, Any]:
        text = validation.message_text(text, "text")
        result = await self._act(device_id, message_id, "edit", "edit", {"text": text}, own=True)
        self.store.edit_body(result["target"], text)
        return result

    async def revoke(self, device_id: object, message_id: object) -> dict[str, Any]:
        result = await self._act(device_id, message_id, "revoke", "revoke", {}, own=True)
        self.store.set_status(result["target"], "revoked")
        return result

    async def mark_read(self, device_id: object, message_id: object) -> dict[str, Any]:
        svc = self.service
        row = svc._row(device_id)
        session = svc._session(row.device_id)
        target = self._message(row.device_id, message_id)
        if target["direction"] != "in":
            raise bad_request("only received messages can be marked as read")
        await self._call(
            session,
            "mark_read",
            {
                "chat": target["peer"],
                "sender": target["fields"].get("from") or target["peer"],
                "ids": [target["waId"]],
            },
        )
        self.store.set_status(target["id"], "read")
        return {"status": "read", "id": target["id"]}

    async def presence(self, device_id: object, to: object, state: object) -> dict[str, Any]:
        if state not in ("typing", "recording", "paused"):
            raise bad_request("state must be typing, recording or paused")
        jid = outbound.recipient(to)
        svc = self.service
        session = svc._session(svc._row(device_id).device_id)
        await self._call(session, "presence", {"to": jid, "state": state})
        return {"to": jid, "state": state}

    async def check_numbers(self, device_id: object, numbers: object) -> list[dict[str, Any]]:
        if not isinstance(numbers, list) or not 1 <= len(numbers) <= 50:
            raise bad_request("numbers must be a list of 1-50 phone numbers")
        clean = [validation.phone_number(n, "numbers[]") for n in numbers]
        svc = self.service
        session = svc._session(svc._row(device_id).device_id)
        result = await self._call(session, "check_numbers", {"numbers": clean})
        return list(result.get("results", []))

    async def groups(self, device_id: object) -> list[dict[str, Any]]:
        svc = self.service
        session = svc._session(svc._row(device_id).device_id)
        return list((await self._call(session, "groups", {})).get("groups", []))

    async def group(self, device_id: object, group_id: object) -> dict[str, Any]:
        jid = outbound.recipient(group_id, "groupId")
        if not outbound.is_group(jid):
            raise bad_request("groupId must be a group JID (...@g.us)")
        svc = self.service
        session = svc._session(svc._row(device_id).device_id)
        return dict((await self._call(session, "group", {"id": jid})).get("group", {}))

    async def pair_code(self, device_id: object, phone_number: object) -> dict[str, Any]:
        phone = validation.phone_number(phone_number, "phoneNumber")
        svc = self.service
        session = svc._session(svc._row(device_id).device_id)
        if session.state != "waiting_qr":
            raise conflict(f"Pairing needs a session waiting to be linked (it is {session.state})")
        try:
            result = await session.call_any("pair_phone", {"phoneNumber": phone})
        except EngineError as exc:
            raise engine_failure(exc) from None
        code = str(result.get("code", ""))
        svc.events.emit(session.device_id, "session.qr", {"pairCode": code})
        return {"code": code, "phoneNumber": phone}

    def media_file(self, device_id: object, message_id: object) -> tuple[Path, str, str | None]:
        row = self.service._row(device_id)
        target = self._message(row.device_id, message_id)
        path = self.store.media_path(row.device_id, target["id"])
        if path is None or not Path(path).exists():
            raise not_found("This message has no media")
        meta = target["fields"].get("media", {})
        return Path(path), meta.get("mimetype") or "application/octet-stream", meta.get("fileName")


def _hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()
