"""The virtual phone's operations, for the simulator's routes and control methods:
scan the QR code, write to a session, report receipts, drop or unlink.

They check their input like any service and reach the engine through the session's
link; they exist only while the daemon runs the simulator engine.
"""

from __future__ import annotations

import secrets
from typing import Any

from wad import validation
from wad.engines.contract import EngineError
from wad.engines.simulator import calls, contacts, lifecycle
from wad.engines.simulator.engine import SimulatorEngine
from wad.errors import StorageFull, bad_request, conflict, not_found
from wad.services import Services, media, outbound
from wad.services.calls import engine_failure

__all__ = ["SimulatorOperations"]

RECEIPTS = ("delivered", "read", "played")


class SimulatorOperations:
    def __init__(self, services: Services) -> None:
        self.lookup = services.lookup
        self.supervisor = services.supervisor
        self.store = services.store

    def engine(self) -> SimulatorEngine:
        engine = self.supervisor.engine
        if not isinstance(engine, SimulatorEngine):
            raise not_found("The simulator controls exist only with --engine simulator")
        return engine

    def _call(self, device_id: object, action: str, *args: Any, **kwargs: Any) -> Any:
        engine = self.engine()
        row = self.lookup.live(device_id)
        try:
            link = engine.link(row.device_id)
            return getattr(link, action)(*args, **kwargs)
        except EngineError as exc:
            raise engine_failure(exc) from None

    def scan(self, device_id: object, phone_number: object) -> None:
        phone = validation.phone_number(phone_number, "phoneNumber")
        session = self.lookup.live(device_id)
        if session.state != "waiting_qr":
            raise conflict(f"The session is not waiting for a QR scan (it is {session.state})")
        self._call(device_id, "scan", phone)

    def incoming(
        self,
        device_id: object,
        sender: object,
        message: object = None,
        spec: dict[str, Any] | None = None,
    ) -> dict[str, str]:
        """A phone writes to the session: a text, or any type (``spec`` as for sending).
        While the disk is full (the last write found no room) it is refused with
        ``storage_full``, as a real network's message would wait for the device."""
        number = validation.phone_number(sender, "from")
        if self.store.full:
            raise StorageFull("storage full: the session cannot store what it receives")
        spec = dict(spec or {})
        addressing = spec.pop("addressing", "pn")
        if addressing not in contacts.ADDRESSING:
            raise bad_request(f"addressing must be one of {', '.join(contacts.ADDRESSING)}")
        type_ = spec.get("type", "text")
        if type_ == "text":
            text = validation.message_text(message)
            said: dict[str, Any] = {}
            if spec.get("mentions") is not None:
                checked = {"type": "text", "text": text, "mentions": spec["mentions"]}
                said["mentions"] = outbound.fields(checked)["mentions"]
            return {"waId": self._call(device_id, "deliver", number, text, addressing, **said)}
        fields = outbound.fields(spec)
        row = self.lookup.live(device_id)
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
        extra["type"] = type_
        return {"waId": self._call(device_id, "deliver", number, "", addressing, **extra)}

    def group(self, device_id: object, name: object, participants: object) -> dict[str, Any]:
        """The session's account is added to a new group."""
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            raise bad_request("name must be 1-100 characters")
        if not isinstance(participants, list) or not 1 <= len(participants) <= 1024:
            raise bad_request("participants must be a list of phone numbers")
        jids = [outbound.recipient(p, "participants[]") for p in participants]
        row = self.lookup.live(device_id)
        return self.engine().add_group(self.supervisor.folder(row.device_id), name, jids)

    def enter_code(self, device_id: object, code: object) -> None:
        if not isinstance(code, str) or len(code.replace("-", "")) != 8:
            raise bad_request("code must be the 8-character pairing code")
        self._call(device_id, "enter_code", code)

    async def receipt(self, device_id: object, message_id: object, status: object) -> None:
        if status not in RECEIPTS:
            raise bad_request("status must be delivered, read or played")
        row = self.lookup.live(device_id)
        if not isinstance(message_id, str):
            raise bad_request("messageId must be a string")
        found = message_id
        message = await self.store.read(lambda q: q.get_message(row.device_id, found))
        if message is None or message["direction"] != "out" or not message["waId"]:
            raise not_found("No sent message with that id")
        self._call(device_id, "receipt", [message["waId"]], status, message["peer"])

    def drop(self, device_id: object) -> None:
        self._call(device_id, "drop")

    def unlink(self, device_id: object) -> None:
        self._call(device_id, "unlink")

    def _act(self, device_id: object, action: Any, *args: Any) -> Any:
        """A network-side scenario (:mod:`.lifecycle`, :mod:`.calls`) on the session's link."""
        engine = self.engine()
        row = self.lookup.live(device_id)
        try:
            return action(engine.link(row.device_id), *args)
        except EngineError as exc:
            raise engine_failure(exc) from None

    def replace(self, device_id: object) -> None:
        self._act(device_id, lifecycle.replace)

    def ban(self, device_id: object, seconds: object, code: object) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
            raise bad_request("seconds must be a positive number")
        self._act(device_id, lifecycle.ban, float(seconds), code)

    def silence(self, device_id: object) -> None:
        self._act(device_id, lifecycle.silence)

    def keepalive(self, device_id: object, failing: object) -> None:
        if not isinstance(failing, bool):
            raise bad_request("failing must be true or false")
        self._act(device_id, lifecycle.keepalive, failing)

    def ring(self, device_id: object, caller: object, video: object = False) -> dict[str, str]:
        number = validation.phone_number(caller, "from")
        return {"callId": self._act(device_id, calls.ring, number, bool(video))}

    def hang_up(self, device_id: object, call_id: object) -> None:
        if not isinstance(call_id, str):
            raise bad_request("callId must be a string")
        self._act(device_id, calls.hang_up, call_id)

    def attempts(self, device_id: object) -> int:
        """How many connections the session opened so far (a reconnect storm shows)."""
        row = self.lookup.live(device_id)
        return self.engine().attempts[row.device_id]

    def sent(self, device_id: object) -> list[dict[str, Any]]:
        """What the session sent, as the phones on the other end received it."""
        engine = self.engine()
        row = self.lookup.live(device_id)
        return engine.sent(self.supervisor.folder(row.device_id))
