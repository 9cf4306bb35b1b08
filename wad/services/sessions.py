"""Sessions as the admin sees them: list, create, delete, log out, restart, link by QR
code or by pairing code."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from typing import Any

import qrcode
from qrcode.image.pil import PilImage

from wad import validation
from wad.auth import keys
from wad.engines.contract import EngineError
from wad.errors import bad_request, conflict
from wad.services.calls import engine_failure
from wad.services.lookup import Lookup
from wad.services.settings import SETTINGS, SessionSettings
from wad.sessions.events import EventLog
from wad.sessions.states import State
from wad.sessions.supervisor import Supervisor
from wad.store import Queries, SessionRow, Store

__all__ = ["Sessions"]

ACTIVE_STATES = ("connecting", "waiting_qr", "connected")
QR_CACHE_SIZE = 64  # QR codes rotate: only the last few are asked for again


class Sessions:
    def __init__(
        self, lookup: Lookup, store: Store, supervisor: Supervisor, events: EventLog
    ) -> None:
        self.lookup = lookup
        self.store = store
        self.supervisor = supervisor
        self.events = events
        self.settings = SessionSettings(store)
        supervisor.link_options = self.settings.engine_options
        self._qr_images: dict[str, str] = {}

    def _json(
        self,
        row: SessionRow,
        stored: Mapping[str, Any],
        detail: bool,
        owners: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """A session as the API shows it: its row and ``stored``, its settings; in a
        cluster (``owners``: each running session's node) also ``node``, its node."""
        session = self.supervisor.get(row.device_id)
        state = session.state if session is not None else row.connection_state
        data: dict[str, Any] = {
            "deviceId": row.device_id,
            "connectionState": state,
            "hasApiKey": row.key_prefix is not None,
            "phoneNumber": row.phone_number,
            "createdAt": row.created_at,
            "isActive": state in ACTIVE_STATES,
            "lastError": row.last_error,
            "nextRetryAt": row.next_retry_at,
            "updatedAt": row.updated_at,
            "degraded": session is not None and session.degraded,
            "bannedUntil": row.next_retry_at if state == State.BANNED else None,
            **self.settings.shown_of(row.device_id, stored),
        }
        if detail:
            data["apiKeyMasked"] = keys.mask(row.key_prefix) if row.key_prefix else None
            # Engines that isolate sessions say which run alone after crashes (neonize).
            quarantined = getattr(self.supervisor.engine, "is_quarantined", None)
            data["quarantined"] = bool(quarantined and quarantined(row.device_id))
        if owners is not None:  # None while it is being handed over
            data["node"] = owners.get(row.device_id)
        return data

    def _owners(self, q: Queries, device_id: str | None = None) -> dict[str, str] | None:
        """Each running session's node in a cluster (lists are cluster-wide: every row
        is in the shared database), or only ``device_id``'s; None for one daemon."""
        if self.supervisor.cluster is None:
            return None
        from wad.cluster import owners  # psycopg: the postgresql extra

        if device_id is None:
            return owners.owners(q)
        node = owners.owner_of(q, device_id)
        return {} if node is None else {device_id: node}

    async def list_all(self) -> list[dict[str, Any]]:
        def listing(
            q: Queries,
        ) -> tuple[list[tuple[SessionRow, dict[str, Any]]], dict[str, str] | None]:
            rows = [(row, q.session_settings(row.device_id)) for row in q.list_sessions()]
            return rows, self._owners(q)

        listed, owners = await self.store.read(listing)
        return [self._json(row, stored, False, owners) for row, stored in listed]

    async def get(self, device_id: object) -> dict[str, Any]:
        row = await self.lookup.row(device_id)
        stored, owners = await self.store.read(
            lambda q: (q.session_settings(row.device_id), self._owners(q, row.device_id))
        )
        return self._json(row, stored, True, owners)

    async def create(
        self, device_id: object, settings: Mapping[str, object] | None = None
    ) -> dict[str, Any]:
        valid = validation.device_id(device_id)
        values = self.settings.validate(settings or {})
        # Stored with the session's row, before its task first runs, so its first
        # connection already has them.
        stored = self.settings.sealed(valid, values)
        also = (lambda q: q.set_session_settings(valid, stored)) if stored else None
        if not await self.supervisor.add(valid, also=also):
            raise conflict("Session already exists")
        return {"deviceId": valid}

    async def update(self, device_id: object, changes: Mapping[str, object]) -> dict[str, Any]:
        """Change some of a session's settings; the session as :meth:`get` shows it."""
        row = await self.lookup.row(device_id)
        if not changes:
            raise bad_request(f"nothing to change; settings: {', '.join(SETTINGS)}")
        values = self.settings.validate(changes)
        if await self.settings.apply(row.device_id, values):
            (await self.lookup.session(row.device_id)).restart()
        return await self.get(row.device_id)

    async def delete(self, device_id: object) -> None:
        row = await self.lookup.row(device_id)
        await self.supervisor.delete(row.device_id)
        await self.store.read(lambda q: q.forget_settings(row.device_id))

    async def logout(self, device_id: object) -> None:
        session = await self.lookup.session(device_id)
        try:
            await session.logout()
        except EngineError as exc:
            raise engine_failure(exc) from None

    async def restart(self, device_id: object) -> None:
        (await self.lookup.session(device_id)).restart()

    async def qr(self, device_id: object) -> dict[str, Any]:
        session = await self.lookup.session(device_id)
        if session.qr is None:
            raise conflict(f"No QR code available: the session is {session.state}")
        return {"qrCode": session.qr, "qrImage": self.qr_image(session.qr)}

    def qr_image(self, code: str) -> str:
        """A PNG data URL of the QR code; the last few are cached (they rotate)."""
        cached = self._qr_images.get(code)
        if cached is None:
            buffer = io.BytesIO()
            qrcode.make(code, box_size=8, border=2, image_factory=PilImage).save(
                buffer, format="PNG"
            )
            cached = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
            if len(self._qr_images) > QR_CACHE_SIZE:
                self._qr_images.clear()
            self._qr_images[code] = cached
        return cached

    async def pair_code(self, device_id: object, phone_number: object) -> dict[str, Any]:
        """Link by phone number: the 8-character code to type on the phone."""
        phone = validation.phone_number(phone_number, "phoneNumber")
        session = await self.lookup.session(device_id)
        if session.state != "waiting_qr":
            raise conflict(f"Pairing needs a session waiting to be linked (it is {session.state})")
        try:
            result = await session.call_any("pair_phone", {"phoneNumber": phone})
        except EngineError as exc:
            raise engine_failure(exc) from None
        code = str(result.get("code", ""))
        await self.events.emit(session.device_id, "session.qr", {"pairCode": code})
        return {"code": code, "phoneNumber": phone}
