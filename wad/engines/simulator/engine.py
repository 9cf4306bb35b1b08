"""An offline stand-in for the WhatsApp network, with a virtual phone per session.

It behaves as wad sees WhatsApp through neonize: an unpaired device gets QR codes
that rotate every ``qr_interval`` seconds until a phone scans one; a paired
device (credentials in its session folder) reconnects without a QR; the phone
can send messages to the device, report receipts, drop the connection or unlink
the device. What the device sends lands in the virtual phone's received list,
kept on disk in the session folder (``simulator-sent.jsonl``) so it survives a
daemon crash; a message id the network has already seen is dropped, as
WhatsApp drops a resend with the same id.

That log is appended through one file descriptor kept open per phone, with a
plain ``write()`` and no ``fsync``: once ``write()`` returns, the line is in the
kernel's page cache, which outlives the process, so a ``kill -9`` of the daemon
loses nothing of what the phones received. Only a crash of the whole machine
could lose the last lines, and the simulator stands in for a network on the far
side of that machine, whose memory would not be lost with it: it does not pay
for an ``fsync`` per message.

Numbers ending in ``0000`` are "not on WhatsApp": sending to them fails.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import os
import secrets
import time
import weakref
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio

from wad.engines import directory
from wad.engines.contract import TERMINAL_KINDS, EngineError, EngineEvent
from wad.engines.link import take_ready
from wad.engines.simulator import accounts, calls, contacts, history, lifecycle
from wad.engines.simulator import groups as virtual_groups
from wad.engines.simulator.accounts import Device
from wad.engines.simulator.address_book import Directory
from wad.engines.simulator.memory import CREDENTIALS, FileMemory, StoreMemory
from wad.files import PRIVATE, write_private

__all__ = ["CREDENTIALS", "SENT_LOG", "SimLink", "SimulatorEngine", "VirtualPhone"]
log = logging.getLogger(__name__)
SENT_LOG = "simulator-sent.jsonl"
GROUPS = "simulator-groups.json"
NOT_ON_WHATSAPP_SUFFIX = "0000"
# Every command a link answers (wad/engine.py); the others are "unsupported".
COMMANDS = (
    frozenset(
        {
            "send",
            "react",
            "edit",
            "revoke",
            "mark_read",
            "presence",
            "groups",
            "group",
            "check_numbers",
            "pair_phone",
            "logout",
            "resolve_ids",
            "ping",
            "reject_call",
        }
    )
    | directory.COMMANDS
    | virtual_groups.COMMANDS
)


def _qr_code() -> str:
    def part(n: int) -> str:
        return base64.b64encode(secrets.token_bytes(n)).decode()

    return f"2@{part(24)},{part(32)},{part(32)},{part(32)}"


def on_whatsapp(number: str) -> bool:
    return not number.endswith(NOT_ON_WHATSAPP_SUFFIX)


class SimLink:
    """One connection of one simulated device."""

    def __init__(
        self,
        engine: SimulatorEngine,
        device_id: str,
        folder: Path,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        self.engine = engine
        self.device_id = device_id
        self.folder = folder
        self.options = dict(options or {})
        self.state = "connecting"
        self.closed = False
        self._send, self._receive = trio.open_memory_channel[EngineEvent](math.inf)
        self._scanned = trio.Event()
        self.pair_code: tuple[str, str] | None = None  # (code, phone number)
        self.silenced = False  # dead without closing: nothing arrives, nothing answers
        self.keepalive_failing: trio.CancelScope | None = None
        self.ringing: dict[str, str] = {}  # call id -> the caller's JID
        self.nursery: trio.Nursery  # set by open_link, for the link's own tasks
        self.name = accounts.link_name()  # this connection's, for the network
        self.device: Device | None = None  # the linked device, once known
        self._paired: Device | None = None  # what a scan linked

    # -- Link -----------------------------------------------------------------------

    async def events(self) -> AsyncIterator[EngineEvent]:
        async for event in self._receive:
            yield event

    def take_ready(self, limit: int) -> list[EngineEvent]:
        return take_ready(self._receive, limit)

    async def call(self, command: str, params: dict[str, Any]) -> dict[str, Any]:
        await trio.lowlevel.checkpoint()
        if command not in COMMANDS:
            raise EngineError(f"unknown command {command!r}", "unsupported")
        if self.closed:
            raise EngineError("the link is closed", "not_connected")
        if self.silenced:
            await trio.sleep_forever()  # a dead connection answers nothing, ever
        if command == "ping":
            return {"connected": self.state == "connected"}
        if command == "pair_phone":
            if self.state != "waiting_qr":
                raise EngineError("pairing needs a session waiting for a QR scan", "conflict")
            code = secrets.token_hex(4).upper()
            self.pair_code = (f"{code[:4]}-{code[4:]}", str(params["phoneNumber"]))
            return {"code": self.pair_code[0]}
        if self.state != "connected":
            raise EngineError("not connected", "not_connected")
        phone = self.engine.phone(self.folder)
        if command == "check_numbers":
            return {
                "results": [
                    {
                        "number": n,
                        "exists": on_whatsapp(n),
                        "jid": f"{n}@s.whatsapp.net" if on_whatsapp(n) else None,
                    }
                    for n in params["numbers"]
                ]
            }
        if command == "resolve_ids":
            return contacts.resolve(params.get("jid"))
        if command in directory.COMMANDS:  # people and channels: .address_book
            result, events = Directory(self.folder).run(command, {"me": self.jid(), **params})
            self.tell(events)
            return result
        if command in ("send", "react", "edit", "revoke"):
            to = str(params.get("to") or params.get("chat"))
            if to.endswith("@g.us") and to not in self.engine.groups(self.folder):
                raise EngineError(f"not a member of group {to}", "not_found")
            Directory(self.folder).outgoing(to, {"command": command, **params})
            return await phone.receive({"command": command, **params})
        if command in ("mark_read", "presence"):
            await phone.note({"command": command, **params})
            return {}
        if command == "reject_call":
            return await calls.reject(self, params)
        if command == "groups":
            return {
                "groups": [
                    virtual_groups.public(g) for g in self.engine.groups(self.folder).values()
                ]
            }
        if command == "group":
            group = self.engine.groups(self.folder).get(str(params["id"]))
            if group is None:
                raise EngineError("no such group", "not_found")
            return {"group": virtual_groups.public(group)}
        if command in virtual_groups.COMMANDS:
            return self.engine.network.call(self, command, params)
        # logout
        self.unlink("logged out by the device")
        return {}

    # -- the network's side ---------------------------------------------------------

    def emit_event(self, kind: str, **data: Any) -> None:
        """What the network tells this device (the group and poll events)."""
        self.emit(kind, **data)

    def emit(self, kind: str, **data: Any) -> None:
        if self.silenced:
            return  # the connection is dead: nothing gets through
        try:
            self._send.send_nowait(EngineEvent(kind, data))
        except trio.ClosedResourceError:
            return
        if kind in TERMINAL_KINDS:
            self.state = kind
            self._send.close()

    async def run(self) -> None:
        await trio.sleep(self.engine.connect_delay)
        if self.engine.offline:
            self.emit(
                "error",
                message="failed to dial whatsapp web websocket: the simulated "
                "network is offline (no such host)",
            )
            return
        memory = self.engine.memory
        device = await memory.device(self)
        if device is None:
            self.state = "waiting_qr"
            while not self._scanned.is_set():
                self.emit("qr", code=_qr_code())
                with trio.move_on_after(self.engine.qr_interval):
                    await self._scanned.wait()
            assert self._paired is not None
            device = self._paired
            await memory.save(self, device)  # linked before it says so
        if lifecycle.banned(self):
            return
        await memory.connected(self)
        self.device = device
        self.state = "connected"
        self.emit("connected", phoneNumber=device.phone_number, jid=device.jid)
        if device.history_pending:  # the first connection after pairing
            self.device = Device(device.phone_number, device.jid)
            await memory.save(self, self.device)
            mode = str(self.options.get("history") or "none")
            for event in history.after_pairing(device.phone_number, mode):
                self.emit(event.kind, **event.data)

    def scan(self, phone_number: str) -> None:
        if self.state != "waiting_qr":
            raise EngineError("the session is not showing a QR code", "conflict")
        self._paired = Device(phone_number, f"{phone_number}:7@s.whatsapp.net", True)
        self._scanned.set()  # the link stores it (run) before it connects

    def enter_code(self, code: str) -> None:
        """The phone's user types the pairing code shown by ``pair_phone``."""
        if self.state != "waiting_qr" or self.pair_code is None:
            raise EngineError("no pairing code was requested", "conflict")
        if code.replace("-", "").upper() != self.pair_code[0].replace("-", ""):
            raise EngineError("wrong pairing code", "bad_request")
        self.scan(self.pair_code[1])

    def deliver(self, sender: str, text: str, addressing: str = "pn", **fields: Any) -> str:
        """A phone sends the device a message: text, or any other type with ``fields``
        (``chat`` for a group the device is in), addressed by phone number or by LID
        (:mod:`.contacts`)."""
        self.require_connected()
        wa_id = "SIM" + secrets.token_hex(8).upper()
        in_group = str(fields.get("chat", "")).endswith("@g.us")
        data: dict[str, Any] = {
            "id": wa_id,
            **contacts.sender_fields(sender, addressing, in_group),
            "type": "text",
            "timestamp": int(time.time()),
            "pushName": f"Phone {sender[-4:]}",
        }
        if text:
            data["text"] = text
        data.update(fields)
        if data.get("mentions"):
            data["mentionIds"] = contacts.mention_ids(data["mentions"])
            data["mentions"] = [m["jid"] for m in data["mentionIds"]]  # phone form first
        # Refused when blocked (the phone-number JID, as the blocklist names people).
        Directory(self.folder).incoming(f"{sender}@s.whatsapp.net", data.get("pushName"))
        self.emit("message", **data)
        return wa_id

    def receipt(self, wa_ids: list[str], status: str, by: str | None = None) -> None:
        """The recipient (``by``, the JID the message was sent to) reports it."""
        self.require_connected()
        number = contacts.recipient_number(by) if by else None
        who = contacts.sender_fields(number, "pn", True) if number else {}
        self.emit("receipt", ids=wa_ids, status=status, chat="", **who)

    def drop(self) -> None:
        self.require_connected()
        self.emit("disconnected", reason="connection dropped by the simulator")

    def unlink(self, reason: str = "the phone removed this linked device") -> None:
        self.device = None
        self.engine.memory.unlink(self)
        self.emit("logged_out", reason=reason)

    def tell(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        """Events the network sends the device (a contact's presence...)."""
        for kind, data in events:
            self.emit(kind, **data)

    def sever(self) -> None:
        """End the connection now, without a checkpoint (the node fenced): nothing
        more arrives or is answered."""
        self.closed = True
        self.state = "severed"
        self._send.close()

    def jid(self) -> str | None:
        if self.device is None:
            return None
        return self.device.jid.replace(":7@", "@")

    def require_connected(self) -> None:
        if self.state != "connected" or self.silenced:
            raise EngineError("the session is not connected", "conflict")


class VirtualPhone:
    """What the phones on the other end received from one device: on disk, or in the
    store (``store``: then :meth:`load` first)."""

    def __init__(self, folder: Path, store: StoreMemory | None = None) -> None:
        self.folder = folder
        self.store = store
        self.path = folder / SENT_LOG
        self.received: list[dict[str, Any]] = []
        self._ids: set[str] = set()
        self._fd: int | None = None
        self._closer: weakref.finalize[[int], VirtualPhone] | None = (
            None  # closes the fd once, even unasked
        )
        if store is None and self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    item = json.loads(line)
                except ValueError:
                    continue  # a line torn by a crash mid-write was never acknowledged
                self.received.append(item)
                if "id" in item:
                    self._ids.add(item["id"])

    async def load(self) -> None:
        """What the store holds (another node may have run the session)."""
        if self.store is not None:
            self.received = await self.store.received(self.folder.name)
            self._ids = {str(item["id"]) for item in self.received if "id" in item}

    async def receive(self, params: dict[str, Any]) -> dict[str, Any]:
        """The network takes a message (or a reaction, edit, revoke) from the device.

        Media bytes are copied to the phone's side, so what arrives can be compared
        byte for byte with what was sent. A repeated message id is dropped.
        """
        to = str(params.get("to") or params.get("chat"))
        number = contacts.recipient_number(to)
        # Groups, channels and status posts: no number to check.
        to_number = not to.endswith(("@g.us", "@newsletter")) and to != virtual_groups.STATUS_JID
        if to_number and (number is None or not on_whatsapp(number)):
            raise EngineError(f"{to.split('@')[0]} is not on WhatsApp", "not_on_whatsapp")
        message_id = str(params["id"])
        if message_id not in self._ids:
            item = {k: v for k, v in params.items() if k != "media"}
            item.setdefault("command", "send")
            if number is not None:  # the phone it reached, however it was addressed
                item["toPhone"] = contacts.phone_jid(number)
            if params.get("media"):
                item["media"] = self._keep_media(message_id, params["media"])
            await self.note(item, message_id)
            self._ids.add(message_id)
        return {"id": message_id, "timestamp": int(time.time())}

    async def note(self, item: dict[str, Any], message_id: str | None = None) -> None:
        item = {**item, "timestamp": int(time.time())}
        if self.store is not None:
            # The network's memory is shared: a message id another node sent already
            # is not received again.
            if await self.store.receive(self.folder.name, message_id, item):
                self.received.append(item)
            return
        line = (json.dumps(item) + "\n").encode()
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE)
            self._closer = weakref.finalize(self, os.close, self._fd)
        view = memoryview(line)
        while view:  # one write for a line this size; the loop covers a short write
            view = view[os.write(self._fd, view) :]
        self.received.append(item)

    def close(self) -> None:
        if self._closer is not None:
            self._closer()
        self._fd = self._closer = None

    def _keep_media(self, message_id: str, media: dict[str, Any]) -> dict[str, Any]:
        source = Path(media["path"])
        kept = self.folder / "simulator-media"
        kept.mkdir(mode=0o700, exist_ok=True)
        data = source.read_bytes()
        write_private(kept / message_id, data)
        return {
            "mimetype": media.get("mimetype"),
            "fileName": media.get("fileName"),
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "path": str(kept / message_id),
        }


class SimulatorEngine:
    name = "simulator"

    def __init__(self, qr_interval: float = 20.0, connect_delay: float = 0.0) -> None:
        self.qr_interval = qr_interval
        self.connect_delay = connect_delay
        # Where linked devices and the phones' lists live: the session folders, or
        # the store when it is PostgreSQL (attach_store; .memory).
        self.memory: FileMemory | StoreMemory = FileMemory()
        # Offline, every connection fails as neonize's does on a machine that
        # cannot reach WhatsApp: for demos and tests of backoff.
        self.offline = False
        self._links: dict[str, SimLink] = {}
        self._phones: dict[Path, VirtualPhone] = {}
        self.network = virtual_groups.Network(self)
        # The network's bans, by account (session folder): (until, on trio's clock; code).
        self.bans: dict[Path, tuple[float, str]] = {}
        # Connection attempts by session: a test counts them (no reconnect storm).
        self.attempts: Counter[str] = Counter()

    def attach_store(self, store: accounts.Store, dialect: str) -> None:
        """The daemon's store: on PostgreSQL (a cluster), the network's memory is
        there (.accounts); on SQLite it stays in the session folders, as before."""
        if dialect == "postgresql":
            accounts.migrate(store)
            self.memory = StoreMemory(store)

    @asynccontextmanager
    async def open_link(
        self, device_id: str, folder: Path, options: Mapping[str, Any] | None = None
    ) -> AsyncIterator[SimLink]:
        link = SimLink(self, device_id, folder, options or {})
        self._links[device_id] = link
        self.attempts[device_id] += 1
        if isinstance(self.memory, StoreMemory) and folder not in self._phones:
            phone = self._phones[folder] = VirtualPhone(folder, self.memory)
            await phone.load()
        try:
            async with trio.open_nursery() as nursery:
                link.nursery = nursery
                nursery.start_soon(link.run)
                yield link
                nursery.cancel_scope.cancel()
        finally:
            # A closed link answers nothing more, and its event stream ends.
            link.closed = True
            link._send.close()
            if self._links.get(device_id) is link:
                del self._links[device_id]
            with trio.CancelScope(shield=True):
                await self.memory.flush(link)

    def phone(self, folder: Path) -> VirtualPhone:
        if folder not in self._phones:
            store = self.memory if isinstance(self.memory, StoreMemory) else None
            self._phones[folder] = VirtualPhone(folder, store)
        return self._phones[folder]

    def forget(self, folder: Path) -> None:
        """Drop what is cached of a deleted session's folder (and, in the store, what
        the network kept of its account: in the background)."""
        phone = self._phones.pop(folder, None)
        if phone is not None:
            phone.close()
        if isinstance(self.memory, StoreMemory):
            trio.lowlevel.spawn_system_task(self._forget, self.memory, folder.name)

    @staticmethod
    async def _forget(memory: StoreMemory, device_id: str) -> None:
        try:
            await memory.forget(device_id)
        except Exception:  # a system task must not raise; the rows stay, harmless
            log.exception("session %s: the simulator's rows were left", device_id)

    def sever(self) -> None:
        """Fencing (the daemon's ``SessionRunner.stop_all``): end every connection
        now, synchronously."""
        for link in list(self._links.values()):
            link.sever()

    def live_links(self) -> list[SimLink]:
        return [link for link in self._links.values() if link.state == "connected"]

    def link(self, device_id: str) -> SimLink:
        """The live link of a session, for the virtual phone's controls."""
        link = self._links.get(device_id)
        if link is None:
            raise EngineError("the session has no live connection", "conflict")
        return link

    def sent(self, folder: Path) -> list[dict[str, Any]]:
        return list(self.phone(folder).received)

    def groups(self, folder: Path) -> dict[str, dict[str, Any]]:
        """The groups the device's account is in (kept in the session folder)."""
        path = folder / GROUPS
        return json.loads(path.read_text()) if path.exists() else {}

    def add_group(self, folder: Path, name: str, participants: list[str]) -> dict[str, Any]:
        groups = self.groups(folder)
        jid = f"1203630{secrets.randbelow(10**11):011d}@g.us"
        group = {
            "id": jid,
            "name": name,
            "participants": [
                {"jid": p, "isAdmin": i == 0, "isSuperAdmin": i == 0, **contacts.participant(p)}
                for i, p in enumerate(participants)
            ],
        }
        groups[jid] = group
        write_private(folder / GROUPS, json.dumps(groups))
        return group
