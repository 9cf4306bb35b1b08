"""The simulated network's accounts in wad's store (wad.engines.simulator.accounts),
on both backends (tests/store_backends.py): devices, what the phones received (a
message id once), connections and the violations a second one at once makes."""

from __future__ import annotations

import subprocess
import sys

from store_backends import AnyStore

from wad.engines.simulator import accounts
from wad.engines.simulator.accounts import Device


async def test_a_device_is_kept_replaced_and_forgotten(store: AnyStore) -> None:
    assert accounts.migrate(store) == len(accounts.SQLITE) == len(accounts.POSTGRESQL)
    assert accounts.migrate(store) == 1  # once
    device = Device("15550001111", "15550001111:7@s.whatsapp.net", history_pending=True)
    await store.run(lambda q: accounts.put_device(q, "d1", device))
    assert await store.read(lambda q: accounts.get_device(q, "d1")) == device
    assert await store.read(lambda q: accounts.get_device(q, "d2")) is None
    done = Device(device.phone_number, device.jid)
    await store.run(lambda q: accounts.put_device(q, "d1", done))
    assert await store.read(lambda q: accounts.get_device(q, "d1")) == done
    await store.run(lambda q: accounts.delete_device(q, "d1"))
    assert await store.read(lambda q: accounts.get_device(q, "d1")) is None


async def test_a_phone_receives_each_message_id_once_in_order(store: AnyStore) -> None:
    accounts.migrate(store)
    first = {"id": "m1", "text": "one"}
    assert await store.run(lambda q: accounts.add_received(q, "d1", "m1", first))
    assert await store.run(lambda q: accounts.add_received(q, "d1", "m2", {"id": "m2"}))
    # The same id again (a resend): dropped, as WhatsApp drops it.
    assert not await store.run(lambda q: accounts.add_received(q, "d1", "m1", {"id": "m1"}))
    assert await store.run(lambda q: accounts.add_received(q, "d2", "m1", {"id": "m1"}))
    got = await store.read(lambda q: accounts.received(q, "d1"))
    assert got == [first, {"id": "m2"}]
    await store.run(lambda q: accounts.forget(q, "d1"))
    assert await store.read(lambda q: accounts.received(q, "d1")) == []
    assert len(await store.read(lambda q: accounts.received(q, "d2"))) == 1


async def test_a_second_connection_at_once_is_a_violation(store: AnyStore) -> None:
    accounts.migrate(store)
    one, two = accounts.link_name(), accounts.link_name()
    assert await store.run(lambda q: accounts.connect(q, "d1", one)) is None
    assert await store.run(lambda q: accounts.connect(q, "d1", one)) is None  # itself
    assert await store.run(lambda q: accounts.connect(q, "d1", two)) == one  # both alive
    assert await store.read(accounts.violations) == [("d1", two, one)]
    await store.run(lambda q: accounts.disconnect(q, "d1", two))
    three = accounts.link_name()
    assert await store.run(lambda q: accounts.connect(q, "d1", three)) is None
    assert len(await store.read(accounts.violations)) == 1


async def test_a_connection_of_a_process_that_died_is_no_violation(store: AnyStore) -> None:
    """kill -9 of a node: its connections closed with it; the next is no violation."""
    accounts.migrate(store)
    code = "from wad.engines.simulator.accounts import link_name; print(link_name())"
    dead = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert await store.run(lambda q: accounts.connect(q, "d1", dead)) is None
    assert await store.run(lambda q: accounts.connect(q, "d1", accounts.link_name())) is None
    assert await store.read(accounts.violations) == []
