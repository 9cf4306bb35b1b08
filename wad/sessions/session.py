"""One linked WhatsApp account: a trio task with a state machine.

States (``connectionState`` in the API)::

    disconnected ─▶ connecting ─▶ waiting_qr ─▶ connected
         ▲              │              │            │
         └── backoff ◀── failed ◀──────┘            ├─▶ disconnected (dropped; reconnects)
                                                    └─▶ logged_out (rests)
    stopped: pairing timed out or an administrator stopped it (rests)

``logged_out`` and ``stopped`` are resting states: the session keeps its record
and waits for :meth:`Session.restart` (REST ``POST .../restart``, ``wadctl
restart``), which also happens at daemon start for sessions that were running.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from wad.engines.contract import EngineError, EngineEvent
from wad.engines.link import Engine, Link
from wad.sessions.backoff import Backoff
from wad.sessions.events import EventLog
from wad.store import Store
from wad.store.clock import iso_at

log = logging.getLogger(__name__)

RESTING = frozenset({"logged_out", "stopped"})
BATCH_MAX = 256  # events taken from a link at once, at most


@dataclass(frozen=True, slots=True)
class SessionTiming:
    pairing_timeout: float = 300.0
    backoff_initial: float = 2.0
    backoff_cap: float = 300.0


class Session:
    def __init__(
        self,
        device_id: str,
        folder: Path,
        engine: Engine,
        store: Store,
        events: EventLog,
        timing: SessionTiming,
        state: str = "disconnected",
    ) -> None:
        self.device_id = device_id
        self.folder = folder
        self.engine = engine
        self.store = store
        self.events = events
        self.timing = timing
        self.state = state
        self.qr: str | None = None
        self.qr_expires_at: float | None = None
        self.link: Link | None = None
        self.backoff = Backoff(timing.backoff_initial, timing.backoff_cap)
        self._link_scope: trio.CancelScope | None = None
        self._wake = trio.Event()
        self._pending: str | None = None  # "restart" or "logout", asked from a door
        self.scope = trio.CancelScope()
        self.finished = trio.Event()

    # -- commands from the doors --------------------------------------------------------

    def restart(self) -> None:
        """Drop the current connection (if any) and connect again now."""
        self._interrupt("restart")

    def stop(self) -> None:
        """Stop for good (the session is being deleted or the daemon stops)."""
        self.scope.cancel()

    async def wait_stopped(self) -> None:
        await self.finished.wait()

    async def call(self, command: str, params: dict[str, Any]) -> dict[str, Any]:
        if self.state != "connected" or self.link is None:
            raise EngineError("Session not connected", "not_connected")
        return await self.link.call(command, params)

    async def call_any(self, command: str, params: dict[str, Any]) -> dict[str, Any]:
        """A command that does not need a connected session (pairing code, ...)."""
        if self.link is None:
            raise EngineError("the session has no live connection", "not_connected")
        return await self.link.call(command, params)

    async def logout(self) -> None:
        """Unlink the device and keep the record, ready for a new pairing.

        Connected, WhatsApp is told (the engine then reports ``logged_out``);
        otherwise the local credentials are forgotten.
        """
        if self.state == "connected" and self.link is not None:
            await self.link.call("logout", {})
        else:
            self._interrupt("logout")

    def _interrupt(self, action: str) -> None:
        self._pending = action
        self.backoff.reset()
        if self._link_scope is not None:
            self._link_scope.cancel()
        self._wake.set()

    def _take_pending(self) -> str | None:
        action, self._pending = self._pending, None
        if action is not None:
            self._wake = trio.Event()
        return action

    def wipe_credentials(self) -> None:
        """Forget the engine's files of this session (its whatsmeow database)."""
        if self.folder.exists():
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True, mode=0o700, exist_ok=True)

    # -- the task -------------------------------------------------------------------------

    async def run(self) -> None:
        """Keep the session connected until cancelled through :attr:`scope`."""
        try:
            with self.scope:
                self.folder.mkdir(parents=True, mode=0o700, exist_ok=True)
                await self._loop()
        finally:
            self.link = None
            self.finished.set()

    async def _loop(self) -> None:
        while True:
            action = self._take_pending()
            if action == "logout":
                self.wipe_credentials()
                self._set_state("logged_out", last_error=None)
                continue
            if action is None and self.state in RESTING:
                await self._wait_wake()
                continue
            outcome, detail = await self._connect_once()
            if self._pending is not None:
                continue
            if outcome == "logged_out":
                self._set_state("logged_out", last_error=None)
            elif outcome == "pairing_timeout":
                self._set_state("stopped", last_error=detail)
            else:
                # After "dropped" the delay is short: backoff was reset on connecting.
                delay = self.backoff.next_delay()
                retry_at = iso_at(time.time() + delay)
                state = "disconnected" if outcome == "dropped" else "failed"
                self._set_state(state, last_error=detail, next_retry_at=retry_at)
                with trio.move_on_after(delay):
                    await self._wait_wake()

    async def _wait_wake(self) -> None:
        await self._wake.wait()
        self._wake = trio.Event()

    async def _connect_once(self) -> tuple[str, str | None]:
        self._set_state("connecting")
        self._link_scope = scope = trio.CancelScope()
        outcome: tuple[str, str | None] = ("failed", "the engine ended the connection")
        with scope:
            async with self.engine.open_link(self.device_id, self.folder) as link:
                self.link = link
                try:
                    outcome = await self._follow(link, scope)
                finally:
                    self.link = None
                    self.qr = None
        self._link_scope = None
        if scope.cancelled_caught and self._pending is None:
            return "pairing_timeout", (
                f"no phone linked within {self.timing.pairing_timeout:g} s; restart to pair again"
            )
        return outcome

    async def _follow(self, link: Link, scope: trio.CancelScope) -> tuple[str, str | None]:
        async for first in link.events():
            # What arrived with it is handled now too: a run of messages is stored in
            # one transaction (one commit instead of one each when the loop is busy).
            batch = [first, *link.take_ready(BATCH_MAX - 1)]
            start = 0
            while start < len(batch):
                event = batch[start]
                if event.kind == "message":
                    end = start + 1
                    while end < len(batch) and batch[end].kind == "message":
                        end += 1
                    self._incoming_many([e.data for e in batch[start:end]])
                    start = end
                    continue
                start += 1
                outcome = self._handle(event, scope)
                if outcome is not None:
                    return outcome
                if event.kind == "connected":
                    await self._resend_pending(link)
        return "failed", "the engine ended the connection without a reason"

    async def _resend_pending(self, link: Link) -> None:
        """Sends accepted but never acknowledged (the daemon stopped mid-send) go again,
        with the message id fixed before the first try, so a network that saw the first
        one drops the repeat."""
        for pending in self.store.pending_outgoing(self.device_id):
            message_id, type_ = pending["id"], pending["type"]
            params = resend_params(pending)
            if params is None:  # an interrupted reaction/edit/revoke is not replayed
                self.store.mark_failed(message_id, "interrupted by a daemon restart")
                continue
            try:
                result = await link.call("send", params)
            except EngineError as exc:
                if exc.code == "not_connected":
                    return
                self.store.mark_failed(message_id, str(exc))
                continue
            wa_id = str(result.get("id") or message_id)
            self.store.mark_sent(message_id, wa_id)
            log.info("session %s: resent message %s after a restart", self.device_id, message_id)
            self.events.emit(
                self.device_id,
                "message.sent",
                {
                    "id": message_id,
                    "waId": wa_id,
                    "to": params["to"],
                    "type": type_,
                    "resent": True,
                },
            )

    def _handle(self, event: EngineEvent, scope: trio.CancelScope) -> tuple[str, str | None] | None:
        data = event.data
        match event.kind:
            case "qr":
                if math.isinf(scope.deadline):
                    scope.deadline = trio.current_time() + self.timing.pairing_timeout
                self.qr = str(data.get("code", ""))
                self.qr_expires_at = None
                if self.state != "waiting_qr":
                    self._set_state("waiting_qr")
                self.events.emit(self.device_id, "session.qr", {"qrCode": self.qr})
            case "pair_code":
                self.events.emit(self.device_id, "session.qr", {"pairCode": data.get("code")})
            case "connected":
                scope.deadline = math.inf
                self.qr = None
                self.backoff.reset()
                phone = str(data.get("phoneNumber") or "") or None
                self._set_state(
                    "connected", phone_number=phone, last_error=None, next_retry_at=None
                )
            case "message":
                self._incoming_many([data])
            case "receipt":
                self._receipt(data)
            case "disconnected":
                return "dropped", str(data.get("reason", "disconnected"))
            case "logged_out":
                return "logged_out", str(data.get("reason", "logged out"))
            case "error":
                return "failed", str(data.get("message", "engine error"))
        return None

    def _incoming_many(self, messages: list[dict[str, Any]]) -> None:
        """Store received messages in one transaction: each row, its event and the webhook
        deliveries commit together (one commit for the lot), in arrival order."""
        self.events.emit_many(
            self.device_id, "message", [self._incoming_write(data) for data in messages]
        )

    def _incoming_write(self, data: dict[str, Any]) -> Callable[[], dict[str, Any] | None]:
        """The write of one received message of any type, stored once; its event's
        payload, without file paths (None for a repeat)."""
        peer = str(data.get("chat") or data.get("from") or "")
        type_ = str(data.get("type", "text"))
        media_path = data.get("mediaPath")
        public = {k: v for k, v in data.items() if k != "mediaPath"}
        if media_path:
            public["hasMedia"] = True
        fields = {
            k: v for k, v in public.items() if k not in ("id", "chat", "type", "text", "timestamp")
        }

        def store() -> dict[str, Any] | None:
            stored = self.store.insert_incoming(
                self.device_id,
                str(data.get("id", "")),
                peer,
                type_,
                data.get("text") or data.get("caption"),
                fields,
                media_path,
            )
            return None if stored is None else {**public, "id": stored, "waId": data.get("id")}

        return store

    def _receipt(self, data: dict[str, Any]) -> None:
        status = str(data.get("status", "delivered"))
        if status not in ("delivered", "read", "played"):
            return
        moved = self.store.apply_receipt(
            self.device_id, [str(i) for i in data.get("ids", [])], status
        )
        for message_id in moved:
            self.events.emit(self.device_id, "message.ack", {"id": message_id, "status": status})

    def _set_state(self, state: str, **fields: Any) -> None:
        previous, self.state = self.state, state
        fields.setdefault("next_retry_at", None)
        self.store.update_session(self.device_id, connection_state=state, **fields)
        if previous != state or "last_error" in fields:
            log.info(
                "session %s: %s -> %s%s",
                self.device_id,
                previous,
                state,
                f" ({fields['last_error']})" if fields.get("last_error") else "",
            )
        self.events.emit(
            self.device_id,
            "session.status",
            {
                "state": state,
                "previous": previous,
                "lastError": fields.get("last_error"),
                "nextRetryAt": fields.get("next_retry_at"),
                "phoneNumber": fields.get("phone_number"),
            },
        )


def resend_params(pending: dict[str, Any]) -> dict[str, Any] | None:
    """The engine's ``send`` command for a stored, never acknowledged message."""
    type_ = pending["type"]
    if type_ in ("reaction", "edit", "revoke"):
        return None
    fields = {k: v for k, v in pending["fields"].items() if k != "media"}
    params: dict[str, Any] = {"id": pending["id"], "to": pending["to"], "type": type_, **fields}
    if type_ == "text":
        params["text"] = pending["body"]
    elif pending["body"] is not None and "caption" not in fields:
        params["caption"] = pending["body"]
    if pending["mediaPath"]:
        params["media"] = {**pending["fields"].get("media", {}), "path": pending["mediaPath"]}
    return params
