"""One linked WhatsApp account: a trio task with a state machine.

States (``connectionState`` in the API)::

    disconnected ─▶ connecting ─▶ waiting_qr ─▶ connected
         ▲              │              │            │
         └── backoff ◀── failed ◀──────┘            ├─▶ disconnected (dropped; reconnects)
                                                    └─▶ logged_out (rests)
    stopped: pairing timed out or an administrator stopped it (rests)
    conflict: another client took the connection over (rests)
    banned: WhatsApp banned the account for a while; it connects again once it ends
    failed, the client outdated: rests (a retry cannot help until neonize is upgraded)

``logged_out``, ``stopped`` and ``conflict`` are resting states: the session keeps
its record and waits for :meth:`Session.restart` (REST ``POST .../restart``,
``wadctl restart``), which also happens at daemon start for sessions that were
running. While connected, a watchdog (:mod:`wad.sessions.liveness`) ends a
connection whose engine went silent or whose keep-alives keep failing
(``degraded``), and the session reconnects.
"""

from __future__ import annotations

import functools
import logging
import math
import shutil
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import trio

from wad.engines import text
from wad.engines.contract import EngineError, EngineEvent
from wad.engines.link import Engine, Link
from wad.errors import StorageFull
from wad.sessions import group_events, history, incoming, presence, resend
from wad.sessions.backoff import Backoff
from wad.sessions.calls import Calls
from wad.sessions.events import EventLog
from wad.sessions.faults import Faults
from wad.sessions.inbound import Inbound
from wad.sessions.liveness import LivenessTiming, Watchdog
from wad.sessions.states import RESTING, State
from wad.store import Store
from wad.store.clock import iso_at

log = logging.getLogger(__name__)

BATCH_MAX = 256  # events taken from a link at once, at most
# A write that found the disk full is tried again after these delays (doubling).
FULL_RETRY_INITIAL = 0.5
FULL_RETRY_CAP = 5.0

T = TypeVar("T")


async def _no_options() -> Mapping[str, Any]:
    return {}


@dataclass(frozen=True, slots=True)
class SessionTiming:
    pairing_timeout: float = 300.0
    backoff_initial: float = 2.0
    backoff_cap: float = 300.0
    liveness: LivenessTiming = LivenessTiming()


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
        faults: Faults | None = None,
        ban_left: float | None = None,
    ) -> None:
        self.device_id = device_id
        self.folder = folder
        self.engine = engine
        self.store = store
        self.events = events
        self.timing = timing
        self.state = State(state)
        self.faults = faults or Faults()
        self.qr: str | None = None
        self.qr_expires_at: float | None = None
        self.link: Link | None = None
        self.backoff = Backoff(timing.backoff_initial, timing.backoff_cap)
        self._link_scope: trio.CancelScope | None = None
        self._wake = trio.Event()
        self._pending: str | None = None  # "restart" or "logout", asked from a door
        self.scope = trio.CancelScope()
        self.finished = trio.Event()
        # What the engine is given with each connection (proxy, history...): read at
        # every connect, so a changed setting applies at the next one.
        self.options: Callable[[], Awaitable[Mapping[str, Any]]] = _no_options
        self.inbound = Inbound()  # the supervisor's, shared by its sessions
        self.degraded = False  # keep-alives failing (see wad.sessions.liveness)
        self.tasks: trio.Nursery | None = None  # the live connection's own tasks
        self.calls = Calls(self)
        self._watchdog: Watchdog | None = None
        self._verdict: tuple[str, str] | None = None  # why the watchdog ended the link
        self._ban_left = ban_left  # seconds a ban still lasts (banned: wait, then connect)

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
        """Keep the session connected until cancelled through :attr:`scope`.

        Nothing raised by the session's work leaves this task: a failure with one item
        (an event, a message) costs that item only (see :meth:`_follow`); anything
        else is logged and counted, and the session starts over after a backoff delay.
        """
        try:
            with self.scope:
                while True:
                    try:
                        self.folder.mkdir(parents=True, mode=0o700, exist_ok=True)
                        await self._loop()
                    except* Exception as group:
                        failure = group.exceptions[0] if len(group.exceptions) == 1 else group
                        self.faults.record(
                            self.device_id, "session", "the session failed; it starts over", failure
                        )
                    await trio.sleep(self.backoff.next_delay())
        finally:
            self.link = None
            self.finished.set()

    async def _loop(self) -> None:
        while True:
            action = self._take_pending()
            if action == "logout":
                self.wipe_credentials()
                await self._state("logged_out", last_error=None)
                continue
            if action is None and self.state in RESTING:
                await self._wait_wake()
                continue
            if action is None and self.state == State.BANNED and self._ban_left is not None:
                # No attempt before the ban ends: each would only be banned again.
                with trio.move_on_after(max(self._ban_left, 0.0)):
                    await self._wait_wake()
                self._ban_left = None
                continue
            outcome, detail = await self._connect_once()
            if self._pending is not None:
                continue
            if outcome == "logged_out":
                await self._state("logged_out", last_error=None)
            elif outcome == "pairing_timeout":
                await self._state("stopped", last_error=detail)
            elif outcome == "replaced":
                await self._state(State.CONFLICT, last_error=detail, cause=outcome)
            elif outcome == "banned":
                left = self._ban_left or 0.0
                retry_at = iso_at(time.time() + left)
                await self._state(State.BANNED, last_error=detail, next_retry_at=retry_at)
            elif outcome == "outdated":
                # Every attempt would be refused the same way: rest until restarted.
                await self._state(State.FAILED, last_error=detail, cause=outcome)
                await self._wait_wake()
            else:
                # After "dropped" the delay is short: backoff was reset on connecting.
                delay = self.backoff.next_delay()
                retry_at = iso_at(time.time() + delay)
                state = "failed" if outcome == "failed" else "disconnected"
                cause = outcome if outcome in ("unresponsive", "degraded") else None
                if cause is not None:
                    log.warning("session %s: restarting the connection: %s", self.device_id, detail)
                await self._state(state, last_error=detail, next_retry_at=retry_at, cause=cause)
                with trio.move_on_after(delay):
                    await self._wait_wake()

    async def _wait_wake(self) -> None:
        await self._wake.wait()
        self._wake = trio.Event()

    async def _connect_once(self) -> tuple[str, str | None]:
        await self._state("connecting")
        self._link_scope = scope = trio.CancelScope()
        outcome: tuple[str, str | None] = ("failed", "the engine ended the connection")
        with scope:
            options = await self.options()
            async with self.engine.open_link(self.device_id, self.folder, options) as link:
                self.link = link
                try:
                    async with trio.open_nursery() as tasks:
                        self.tasks = tasks
                        outcome = await self._follow(link, scope)
                        tasks.cancel_scope.cancel()
                finally:
                    self.link = self.tasks = self._watchdog = None
                    self.qr = None
                    self.degraded = False  # the next state change reports it
        self._link_scope = None
        verdict, self._verdict = self._verdict, None
        if verdict is not None and self._pending is None:
            return verdict
        if scope.cancelled_caught and self._pending is None:
            return "pairing_timeout", (
                f"no phone linked within {self.timing.pairing_timeout:g} s; restart to pair again"
            )
        return outcome

    async def _watch(self, link: Link, scope: trio.CancelScope, watchdog: Watchdog) -> None:
        """End the connection once the watchdog finds it dead (the session reconnects)."""

        async def probe() -> bool:
            return bool((await link.call("ping", {})).get("connected", False))

        self._verdict = await watchdog.wait_dead(probe)
        scope.cancel()

    async def _follow(self, link: Link, scope: trio.CancelScope) -> tuple[str, str | None]:
        async for first in link.events():
            if self._watchdog is not None and first.kind != "keepalive_timeout":
                self._watchdog.saw_event()
            # What arrived with it is handled now too: a run of messages is stored in
            # one transaction (one commit instead of one each when the loop is busy).
            taken = (self._clean(e) for e in (first, *link.take_ready(BATCH_MAX - 1)))
            batch = [e for e in taken if e is not None]
            start = 0
            while start < len(batch):
                event = batch[start]
                if event.kind == "message":
                    end = start + 1
                    while end < len(batch) and batch[end].kind == "message":
                        end += 1
                    await self._incoming([e.data for e in batch[start:end]])
                    start = end
                    continue
                start += 1
                outcome = await self._event(event, scope)
                if outcome is not None:
                    return outcome
                if event.kind == "connected":
                    await resend.resend_pending(self, link)
        return "failed", "the engine ended the connection without a reason"

    # -- one item at a time: a failure costs that item, never the session ---------------

    def _clean(self, event: EngineEvent) -> EngineEvent | None:
        """The engine-event edge: text made valid Unicode (:mod:`wad.engines.text`). An
        event that cannot even be cleaned (nested beyond any reason) is skipped, a
        message reduced to its plain fields."""
        try:
            data = text.clean(event.data)
        except Exception as exc:
            self.faults.record(self.device_id, "event", f"a {event.kind} event is unreadable", exc)
            return (
                EngineEvent("message", incoming.reduced(event.data))
                if event.kind == "message"
                else None
            )
        if text.RAW in data:  # replaced here, or already by the engine (neonize's worker)
            self.faults.record(
                self.device_id,
                "invalid_text",
                f"{event.kind} {str(data.get('id', ''))[:64]}: text that is not valid Unicode"
                f" was replaced; the original bytes are kept under {text.RAW}",
            )
        return event if data is event.data else EngineEvent(event.kind, data)

    async def _event(
        self, event: EngineEvent, scope: trio.CancelScope
    ) -> tuple[str, str | None] | None:
        try:
            return await self.until_stored(functools.partial(self._handle, event, scope))
        except Exception as exc:
            self.faults.record(
                self.device_id, "event", f"could not handle a {event.kind} event; skipped", exc
            )
            return None

    async def _incoming(self, messages: list[dict[str, Any]]) -> None:
        """Store received messages together; when that fails, each alone, so a message
        that cannot be stored as it came costs only itself: it is then stored reduced to
        what can be kept (:func:`incoming.reduced`), or, failing that too, dropped."""
        self.inbound.add("received", len(messages))
        try:
            await self.until_stored(functools.partial(self._incoming_many, messages))
            return
        except Exception as exc:
            if len(messages) == 1:
                await self._incoming_reduced(messages[0], exc)
                return
        for data in messages:
            try:
                await self.until_stored(functools.partial(self._incoming_many, [data]))
            except Exception as exc:
                await self._incoming_reduced(data, exc)

    async def _incoming_reduced(self, data: dict[str, Any], failure: Exception) -> None:
        wa_id = str(data.get("id", ""))[:64]
        self.faults.record(
            self.device_id,
            "message",
            f"could not store message {wa_id}; storing it reduced",
            failure,
        )
        try:
            await self.until_stored(
                functools.partial(self._incoming_many, [incoming.reduced(data)], "reduced")
            )
        except Exception as exc:
            self.faults.record(self.device_id, "message", f"message {wa_id} was dropped", exc)
            self.inbound.add("dropped")

    async def until_stored(self, write: Callable[[], Awaitable[T]]) -> T:
        """Run one write of the session's; while the disk is full, wait and run it again.
        What was received meanwhile waits in the engine's buffers: nothing is dropped
        for want of room, and the session goes on once space is freed."""
        delay, counted = FULL_RETRY_INITIAL, False
        while True:
            try:
                return await write()
            except StorageFull:
                if not counted:
                    self.faults.record(self.device_id, "storage_full", "a write found no room")
                    counted = True
            await trio.sleep(delay)
            delay = min(delay * 2, FULL_RETRY_CAP)

    async def _state(self, state: str, **fields: Any) -> None:
        await self.until_stored(functools.partial(self._set_state, state, **fields))

    async def _handle(
        self, event: EngineEvent, scope: trio.CancelScope
    ) -> tuple[str, str | None] | None:
        data = event.data
        match event.kind:
            case "qr":
                if math.isinf(scope.deadline):
                    scope.deadline = trio.current_time() + self.timing.pairing_timeout
                self.qr = str(data.get("code", ""))
                self.qr_expires_at = None
                if self.state != "waiting_qr":
                    await self._set_state("waiting_qr")
                await self.events.emit(self.device_id, "session.qr", {"qrCode": self.qr})
            case "pair_code":
                await self.events.emit(self.device_id, "session.qr", {"pairCode": data.get("code")})
            case "connected":
                scope.deadline = math.inf
                self.qr = None
                self.backoff.reset()
                phone = str(data.get("phoneNumber") or "") or None
                await self._set_state(
                    "connected", phone_number=phone, last_error=None, next_retry_at=None
                )
                if self.tasks is not None and self.link is not None and self._watchdog is None:
                    self._watchdog = Watchdog(self.timing.liveness)
                    self.tasks.start_soon(self._watch, self.link, scope, self._watchdog)
            case "replaced" | "outdated":
                return event.kind, str(data.get("reason") or event.kind)
            case "banned":
                return "banned", self._banned(data)
            case "keepalive_timeout":
                if self._watchdog is not None and self._watchdog.degrade():
                    self.degraded = True
                    count = data.get("errorCount")
                    await self._set_state(
                        self.state,
                        last_error="WhatsApp's keep-alives are failing"
                        + (f" ({count} in a row)" if count else ""),
                    )
            case "keepalive_restored":
                if self._watchdog is not None and self._watchdog.restore():
                    self.degraded = False
                    await self._set_state(self.state, last_error=None)
            case "call_offer":
                if self.link is not None:
                    await self.calls.offer(self.link, data)
            case "call_ended":
                await self.calls.ended(data)
            case "receipt":
                await self._receipt(data)
            case "history":
                mode = str((await self.options()).get("history") or "none")
                await history.keep(self.events, self.device_id, mode, data)
            case "presence":
                found = presence.payload(data)
                if found is not None:
                    await self.events.emit(self.device_id, "presence", found)
            case "disconnected":
                return "dropped", str(data.get("reason", "disconnected"))
            case "logged_out":
                return "logged_out", str(data.get("reason", "logged out"))
            case "error":
                return "failed", str(data.get("message", "engine error"))
            case kind if kind in group_events.KINDS:
                await group_events.handle(self.store, self.events, self.device_id, event)
            case "fault":
                cause = data.get("cause")
                if cause == "undecryptable":
                    self.inbound.add("undecryptable")
                self.faults.record(
                    self.device_id,
                    cause if cause in ("invalid_text", "message", "event") else "engine",
                    f"the engine: {data.get('message', 'a fault')}",
                )
        return None

    def _banned(self, data: dict[str, Any]) -> str:
        """Keep how long a ban lasts; its description, for ``lastError``."""
        try:
            left = max(float(data.get("expiresIn", 0)), 0.0)
        except (TypeError, ValueError):
            left = 0.0
        # A ban without a known end: try again after the longest backoff delay.
        self._ban_left = left or self.timing.backoff_cap
        code = str(data.get("code") or "unknown reason")
        return (
            f"temporarily banned by WhatsApp ({code}) until {iso_at(time.time() + self._ban_left)}"
        )

    async def _incoming_many(self, messages: list[dict[str, Any]], stage: str = "stored") -> None:
        """Store received messages in one transaction: each row, its event and the webhook
        deliveries commit together (one commit for the lot), in arrival order."""
        stored = await self.events.emit_many(
            self.device_id,
            "message",
            [incoming.write(self.device_id, data) for data in messages],
            type_of=incoming.event_type,
        )
        self.inbound.add(stage, len(stored))
        self.inbound.add("duplicate", len(messages) - len(stored))

    async def _receipt(self, data: dict[str, Any]) -> None:
        status = str(data.get("status", "delivered"))
        if status not in ("delivered", "read", "played"):
            return
        ids = [str(i) for i in data.get("ids", [])]
        moved = await self.store.run(lambda q: q.apply_receipt(self.device_id, ids, status))
        who = {k: data[k] for k in ("from", "fromPhone", "fromLid") if data.get(k)}
        for message_id in moved:
            await self.events.emit(
                self.device_id, "message.ack", {"id": message_id, "status": status, **who}
            )

    async def _set_state(self, state: str, *, cause: str | None = None, **fields: Any) -> None:
        """Move to ``state``: the row and its ``session.status`` event commit together,
        and nothing changes (in memory either) when they cannot be stored. ``cause``
        names why a connection ended (``/metrics`` counts it)."""
        previous, self.state = self.state, State(state)
        fields.setdefault("next_retry_at", None)
        retry_at = fields.get("next_retry_at")
        try:
            await self.events.emit(
                self.device_id,
                "session.status",
                {
                    "state": state,
                    "previous": previous,
                    "lastError": fields.get("last_error"),
                    "nextRetryAt": retry_at,
                    "phoneNumber": fields.get("phone_number"),
                    "degraded": self.degraded,
                    "bannedUntil": retry_at if state == State.BANNED else None,
                    "cause": cause,
                },
                also=lambda q: q.update_session(self.device_id, connection_state=state, **fields),
            )
        except BaseException:
            self.state = previous
            raise
        if previous != state or "last_error" in fields:
            log.info(
                "session %s: %s -> %s%s",
                self.device_id,
                previous,
                state,
                f" ({fields['last_error']})" if fields.get("last_error") else "",
            )
