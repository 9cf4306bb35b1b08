"""The simulator on a PostgreSQL store (a cluster's): linked devices and what the
phones received live in the database, so a session that moves to another node keeps
its pairing and its phones' lists, a message id sent again from the new node is not
received twice, and a device connected from two nodes at once counts as a violation.

Two engines, each with its own store on one database, stand for two nodes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from wad.engines.contract import EngineEvent
from wad.engines.simulator import accounts
from wad.engines.simulator.engine import CREDENTIALS, SENT_LOG, SimLink, SimulatorEngine
from wad.store.postgres import PostgresStore

TO = "15550002222@s.whatsapp.net"


@pytest.fixture
def nodes(pg_url: str, tmp_path: Path) -> Iterator[tuple[SimulatorEngine, SimulatorEngine]]:
    stores = [PostgresStore(pg_url, node=n, path=tmp_path / n / "wad.db") for n in ("a", "b")]
    engines = []
    for store in stores:
        engine = SimulatorEngine(qr_interval=60)
        engine.attach_store(store, store.dialect)
        engines.append(engine)
    yield engines[0], engines[1]
    for store in stores:
        store.close()


async def until(link: SimLink, kind: str) -> EngineEvent:
    with trio.fail_after(10):  # a QR instead of a connection would wait a minute
        async for event in link.events():
            if event.kind == kind:
                return event
    raise AssertionError(f"the link ended before {kind}")


async def send(link: SimLink, message_id: str, text: str) -> None:
    await link.call("send", {"id": message_id, "to": TO, "text": text})


async def test_a_session_moved_to_another_node_keeps_its_device_and_phones(
    nodes: tuple[SimulatorEngine, SimulatorEngine], tmp_path: Path
) -> None:
    a, b = nodes
    async with a.open_link("d1", tmp_path / "a" / "d1") as link:
        await until(link, "qr")
        link.scan("15550001111")
        first = await until(link, "connected")
        await send(link, "m1", "one")
    # Nothing in the session's folder: the network's memory is the database's.
    assert not (tmp_path / "a" / "d1" / CREDENTIALS).exists()
    assert not (tmp_path / "a" / "d1" / SENT_LOG).exists()
    async with b.open_link("d1", tmp_path / "b" / "d1") as link:
        again = await until(link, "connected")  # no QR: the device is linked
        assert again.data == first.data
        await send(link, "m1", "one")  # the old node's send, resent: received once
        await send(link, "m2", "two")
    got = b.sent(tmp_path / "b" / "d1")
    assert [(m["id"], m["text"]) for m in got] == [("m1", "one"), ("m2", "two")]
    store = b.memory.store  # type: ignore[union-attr]
    assert len(await store.read(lambda q: accounts.received(q, "d1"))) == 2
    assert await store.read(accounts.violations) == []


async def test_a_device_connected_from_two_nodes_at_once_is_a_violation(
    nodes: tuple[SimulatorEngine, SimulatorEngine], tmp_path: Path
) -> None:
    a, b = nodes
    async with a.open_link("d1", tmp_path / "a" / "d1") as link:
        await until(link, "qr")
        link.scan("15550001111")
        await until(link, "connected")
        async with b.open_link("d1", tmp_path / "b" / "d1") as other:
            await until(other, "connected")
            store = b.memory.store  # type: ignore[union-attr]
            assert await store.read(accounts.violations) == [("d1", other.name, link.name)]


async def test_an_unlinked_device_is_gone_for_every_node(
    nodes: tuple[SimulatorEngine, SimulatorEngine], tmp_path: Path
) -> None:
    a, b = nodes
    async with a.open_link("d1", tmp_path / "a" / "d1") as link:
        await until(link, "qr")
        link.scan("15550001111")
        await until(link, "connected")
        await link.call("logout", {})
        await until(link, "logged_out")
    async with b.open_link("d1", tmp_path / "b" / "d1") as link:
        await until(link, "qr")  # pair again
