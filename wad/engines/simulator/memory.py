"""Where the simulated network keeps each account's linked device and its phone's
received log: files in the session's folder (one daemon, the default, unchanged), or
wad's store when that is PostgreSQL (a cluster: any node sees the same network, see
:mod:`.accounts`).

The engine's synchronous paths (a scan, an unlink, the phone's list) keep theirs: a
link holds its device in memory, and what must reach the store before the link ends
(an unlink) is written when it ends (:meth:`StoreMemory.flush`). A phone's list is
kept in memory too, loaded from the store when a link of that account opens on this
node: ``sent`` answers from the node that runs (or ran) the session.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any, Protocol

from wad.engines.simulator import accounts
from wad.engines.simulator.accounts import Device
from wad.files import write_private

CREDENTIALS = "simulator-device.json"


class Account(Protocol):
    """A link as the memory sees it."""

    device_id: str
    folder: Path
    name: str  # the connection's name (accounts.link_name)


class FileMemory:
    """The device in ``simulator-device.json`` in the session's folder."""

    async def device(self, link: Account) -> Device | None:
        path = link.folder / CREDENTIALS
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        return Device(data["phoneNumber"], data["jid"], bool(data.get("historyPending")))

    async def save(self, link: Account, device: Device) -> None:
        data: dict[str, Any] = {"phoneNumber": device.phone_number, "jid": device.jid}
        if device.history_pending:
            data["historyPending"] = True
        write_private(link.folder / CREDENTIALS, json.dumps(data))

    def unlink(self, link: Account) -> None:
        (link.folder / CREDENTIALS).unlink(missing_ok=True)

    async def connected(self, link: Account) -> None:
        """One daemon: a second connection at once cannot happen (one link a session)."""

    async def flush(self, link: Account) -> None:
        pass


class StoreMemory:
    """The device, the connection and the phones' lists in the store's tables."""

    def __init__(self, store: accounts.Store) -> None:
        self.store = store
        self._unlinked: set[str] = set()  # link names whose device goes at their end

    async def device(self, link: Account) -> Device | None:
        found: Device | None = await self.store.read(
            lambda q: accounts.get_device(q, link.device_id)
        )
        return found

    async def save(self, link: Account, device: Device) -> None:
        await self.store.run(lambda q: accounts.put_device(q, link.device_id, device))

    def unlink(self, link: Account) -> None:
        self._unlinked.add(link.name)

    async def connected(self, link: Account) -> None:
        await self.store.run(lambda q: accounts.connect(q, link.device_id, link.name))

    async def flush(self, link: Account) -> None:
        """The link ended: its connection is gone, and an unlinked device with it."""
        unlinked = link.name in self._unlinked
        self._unlinked.discard(link.name)

        def end(q: Any) -> None:
            accounts.disconnect(q, link.device_id, link.name)
            if unlinked:
                accounts.delete_device(q, link.device_id)

        await self.store.run(end)

    async def received(self, device_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = await self.store.read(
            lambda q: accounts.received(q, device_id)
        )
        return items

    async def receive(self, device_id: str, message_id: str | None, item: dict[str, Any]) -> bool:
        """Note what a phone got; False when the message id was there already. An item
        without an id (a read mark, a presence) is noted every time."""
        key = message_id if message_id is not None else "note-" + secrets.token_hex(8)
        added: bool = await self.store.run(lambda q: accounts.add_received(q, device_id, key, item))
        return added

    async def forget(self, device_id: str) -> None:
        await self.store.run(lambda q: accounts.forget(q, device_id))
