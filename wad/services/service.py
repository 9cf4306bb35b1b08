"""What wad does, once: every operation that the REST API and the control socket share.

Each method validates its input, does the work and returns plain JSON-ready
data, or raises :class:`WadError` with a stable code. The doors only
authenticate, parse and format.
"""

from __future__ import annotations

import base64
import io
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import qrcode

from wad import __version__, validation
from wad.auth import keys
from wad.auth.admin_token import AdminToken
from wad.config import Config
from wad.engines.contract import EngineError
from wad.engines.simulator.engine import SimulatorEngine
from wad.errors import bad_request, conflict, not_found
from wad.services import media, outbound
from wad.services.messaging import Messaging, engine_failure
from wad.sessions.events import EventLog
from wad.sessions.session import Session
from wad.sessions.states import STATES
from wad.store import SessionRow, Store


async def _let_through(device_id: str, message: dict[str, Any]) -> None:
    return None


class Service:
    def __init__(
        self,
        config: Config,
        store: Store,
        supervisor: Any,
        events: EventLog,
        admin: AdminToken,
    ) -> None:
        self.config = config
        self.store = store
        self.supervisor = supervisor
        self.events = events
        self.admin = admin
        self.started = time.monotonic()
        self.http_bound: list[str] = []
        self.control_bound: str | None = None
        self._qr_images: dict[str, str] = {}
        self.messaging = Messaging(self)
        # Set by the daemon to ask plugins (pacing, refusal) before each send.
        self.before_send: Callable[[str, dict[str, Any]], Awaitable[None]] = _let_through

    # -- sessions -------------------------------------------------------------------

    def _row(self, device_id: object) -> SessionRow:
        device_id = validation.device_id(device_id)
        row = self.store.get_session(device_id)
        if row is None:
            raise not_found("Session not found")
        return row

    def _live(self, device_id: object) -> Session:
        """A session by its id, from memory: the supervisor holds one for every stored
        session (added after its row is written, dropped before its row is deleted),
        so the send path needs no query to know that the session exists."""
        return self._session(validation.device_id(device_id))

    def _session(self, device_id: str) -> Session:
        session = self.supervisor.get(device_id)
        if session is None:
            raise not_found("Session not found")
        return session

    def _session_json(self, row: SessionRow, detail: bool) -> dict[str, Any]:
        session = self.supervisor.get(row.device_id)
        state = session.state if session is not None else row.connection_state
        data: dict[str, Any] = {
            "deviceId": row.device_id,
            "connectionState": state,
            "hasApiKey": row.key_prefix is not None,
            "phoneNumber": row.phone_number,
            "createdAt": row.created_at,
            "isActive": state in ("connecting", "waiting_qr", "connected"),
            "lastError": row.last_error,
            "nextRetryAt": row.next_retry_at,
            "updatedAt": row.updated_at,
        }
        if detail:
            data["apiKeyMasked"] = keys.mask(row.key_prefix) if row.key_prefix else None
        return data

    def list_sessions(self) -> list[dict[str, Any]]:
        return [self._session_json(row, detail=False) for row in self.store.list_sessions()]

    def get_session(self, device_id: object) -> dict[str, Any]:
        return self._session_json(self._row(device_id), detail=True)

    def create_session(self, device_id: object) -> dict[str, Any]:
        device_id = validation.device_id(device_id)
        if self.supervisor.create(device_id) is None:
            raise conflict("Session already exists")
        return {"deviceId": device_id}

    async def delete_session(self, device_id: object) -> None:
        row = self._row(device_id)
        await self.supervisor.delete(row.device_id)

    async def logout(self, device_id: object) -> None:
        session = self._session(self._row(device_id).device_id)
        try:
            await session.logout()
        except EngineError as exc:
            raise engine_failure(exc) from None

    def restart(self, device_id: object) -> None:
        self._session(self._row(device_id).device_id).restart()

    def qr(self, device_id: object) -> dict[str, Any]:
        row = self._row(device_id)
        session = self._session(row.device_id)
        if session.qr is None:
            raise conflict(f"No QR code available: the session is {session.state}")
        return {"qrCode": session.qr, "qrImage": self.qr_image(session.qr)}

    def qr_image(self, code: str) -> str:
        """A PNG data URL of the QR code; the last few are cached (they rotate)."""
        cached = self._qr_images.get(code)
        if cached is None:
            buffer = io.BytesIO()
            qrcode.make(code, box_size=8, border=2).save(buffer, format="PNG")
            cached = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
            if len(self._qr_images) > 64:
                self._qr_images.clear()
            self._qr_images[code] = cached
        return cached

    # -- keys ------------------------------------------------------------------------

    def set_api_key(self, device_id: object, custom: object = None) -> str:
        """Set or replace a session's key; the only time the full key is returned."""
        row = self._row(device_id)
        key = keys.generate_api_key() if custom in (None, "") else validation.custom_key(custom)
        key_hash = keys.hash_key(key)
        if self.store.key_in_use(key_hash, row.device_id):
            raise conflict("That API key is already used by another session")
        self.store.set_api_key(row.device_id, key_hash, key[:8])
        return key

    def revoke_api_key(self, device_id: object) -> None:
        if not self.store.revoke_api_key(self._row(device_id).device_id):
            raise not_found("The session has no API key")

    def session_for_key(self, key: str) -> str | None:
        # A lookup by the key's SHA-256 digest: timing reveals nothing of the key.
        return self.store.session_for_key(keys.hash_key(key))

    # -- messages -------------------------------------------------------------------

    async def send_text(self, device_id: object, number: object, message: object) -> dict[str, Any]:
        """The seed's send: a text to a phone number, answered in the seed's shape."""
        text = validation.message_text(message)
        number = validation.phone_number(number)
        result = await self.messaging.send(device_id, {"type": "text", "to": number, "text": text})
        return {
            "status": result["status"],
            "to": result["to"],
            "message": text,
            "id": result["id"],
            "timestamp": result["timestamp"],
        }

    def list_messages(
        self, device_id: object, direction: object = None, before: object = None, limit: object = 50
    ) -> dict[str, Any]:
        row = self._row(device_id)
        if direction not in (None, "", "in", "out"):
            raise bad_request("direction must be 'in' or 'out'")
        try:
            count = int(limit)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            raise bad_request("limit must be a number from 1 to 200") from None
        if not 1 <= count <= 200:
            raise bad_request("limit must be a number from 1 to 200")
        if before is not None and not isinstance(before, str):
            raise bad_request("before must be a message id")
        items = self.store.list_messages(row.device_id, direction or None, before, count + 1)
        more = len(items) > count
        items = items[:count]
        return {"messages": items, "nextBefore": items[-1]["id"] if more else None}

    # -- the daemon -------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        counts = {state: 0 for state in STATES}
        counts.update(self.supervisor.counts())
        return {
            "version": __version__,
            "uptime": round(time.monotonic() - self.started, 3),
            "engine": self.config.engine,
            "http": self.http_bound,
            "controlSocket": self.control_bound,
            "sessions": counts,
        }

    def rotate_admin_token(self) -> str:
        return self.admin.rotate()

    # -- the simulator's virtual phone -------------------------------------------------

    def simulator(self) -> SimulatorEngine:
        engine = self.supervisor.engine
        if not isinstance(engine, SimulatorEngine):
            raise not_found("The simulator controls exist only with --engine simulator")
        return engine

    def _sim_call(self, device_id: object, action: str, *args: Any, **kwargs: Any) -> Any:
        engine = self.simulator()
        row = self._row(device_id)
        try:
            link = engine.link(row.device_id)
            return getattr(link, action)(*args, **kwargs)
        except EngineError as exc:
            raise engine_failure(exc) from None

    def sim_scan(self, device_id: object, phone_number: object) -> None:
        phone = validation.phone_number(phone_number, "phoneNumber")
        session = self._session(self._row(device_id).device_id)
        if session.state != "waiting_qr":
            raise conflict(f"The session is not waiting for a QR scan (it is {session.state})")
        self._sim_call(device_id, "scan", phone)

    def sim_incoming(
        self,
        device_id: object,
        sender: object,
        message: object = None,
        spec: dict[str, Any] | None = None,
    ) -> dict[str, str]:
        """A phone writes to the session: a text, or any type (``spec`` as for sending)."""
        number = validation.phone_number(sender, "from")
        spec = dict(spec or {})
        type_ = spec.get("type", "text")
        if type_ == "text":
            return {
                "waId": self._sim_call(
                    device_id, "deliver", number, validation.message_text(message)
                )
            }
        fields = outbound.fields(spec)
        row = self._row(device_id)
        extra: dict[str, Any] = {k: v for k, v in fields.items() if k != "type"}
        if type_ in outbound.MEDIA_TYPES:
            source = spec.get("media")
            if not isinstance(source, dict):
                raise bad_request("media (data, mimetype) is required for this type")
            folder = self.supervisor.folder(row.device_id)
            saved = media.save_base64(
                source.get("data"),
                media.media_dir(folder) / f"in-{secrets.token_hex(8)}",
                outbound.mimetype(source.get("mimetype"), type_),
                outbound.media_limit(type_),
                outbound.file_name(source.get("fileName")),
            )
            extra["mediaPath"] = saved.path
            extra["media"] = {k: v for k, v in saved.to_json().items() if k != "path"}
        if spec.get("chat") is not None:
            extra["chat"] = outbound.recipient(spec["chat"], "chat")
        return {
            "waId": self._sim_call(device_id, "deliver", number, "", **{"type": type_, **extra})
        }

    def sim_group(self, device_id: object, name: object, participants: object) -> dict[str, Any]:
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            raise bad_request("name must be 1-100 characters")
        if not isinstance(participants, list) or not 1 <= len(participants) <= 1024:
            raise bad_request("participants must be a list of phone numbers")
        jids = [outbound.recipient(p, "participants[]") for p in participants]
        row = self._row(device_id)
        return self.simulator().add_group(self.supervisor.folder(row.device_id), name, jids)

    def sim_enter_code(self, device_id: object, code: object) -> None:
        if not isinstance(code, str) or len(code.replace("-", "")) != 8:
            raise bad_request("code must be the 8-character pairing code")
        self._sim_call(device_id, "enter_code", code)

    def sim_receipt(self, device_id: object, message_id: object, status: object) -> None:
        if status not in ("delivered", "read", "played"):
            raise bad_request("status must be delivered, read or played")
        row = self._row(device_id)
        if not isinstance(message_id, str):
            raise bad_request("messageId must be a string")
        message = self.store.get_message(row.device_id, message_id)
        if message is None or message["direction"] != "out" or not message["waId"]:
            raise not_found("No sent message with that id")
        self._sim_call(device_id, "receipt", [message["waId"]], status)

    def sim_drop(self, device_id: object) -> None:
        self._sim_call(device_id, "drop")

    def sim_unlink(self, device_id: object) -> None:
        self._sim_call(device_id, "unlink")

    def sim_sent(self, device_id: object) -> list[dict[str, Any]]:
        engine = self.simulator()
        row = self._row(device_id)
        return engine.sent(self.supervisor.folder(row.device_id))
