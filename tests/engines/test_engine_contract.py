"""The contract of :mod:`wad.engine`, run against both engines: the in-process simulator
and the neonize engine through its real worker process.

This machine cannot reach WhatsApp, so the neonize engine runs the parts that need no
network: its offline failure, and a live but unconnected link (a worker held in its
dial by a local "proxy" that never answers). The simulator runs the same checks in the
states it reaches the same way (offline mode; waiting for a scan).
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio

from wad.engines.contract import EVENT_KINDS, TERMINAL_KINDS, EngineError, EngineEvent
from wad.engines.link import Link
from wad.engines.neonize.engine import NeonizeEngine
from wad.engines.neonize.worker import PROXY_ENV
from wad.engines.simulator.engine import SimulatorEngine

# What the session and the messaging layer send to a link (wad/sessions/session.py, wad/services/).
PEER = "15550002222@s.whatsapp.net"
COMMANDS_NEEDING_A_CONNECTION: list[tuple[str, dict[str, Any]]] = [
    ("send", {"id": "3EB0CONTRACT01", "to": PEER, "type": "text", "text": "hi"}),
    (
        "react",
        {
            "id": "3EB0CONTRACT02",
            "chat": PEER,
            "targetId": "X1",
            "fromMe": False,
            "sender": PEER,
            "emoji": "👍",
        },
    ),
    (
        "edit",
        {
            "id": "3EB0CONTRACT03",
            "chat": PEER,
            "targetId": "X1",
            "fromMe": True,
            "sender": PEER,
            "text": "new",
        },
    ),
    (
        "revoke",
        {"id": "3EB0CONTRACT04", "chat": PEER, "targetId": "X1", "fromMe": True, "sender": PEER},
    ),
    ("mark_read", {"chat": PEER, "sender": PEER, "ids": ["X1"]}),
    ("presence", {"to": PEER, "state": "typing"}),
    ("groups", {}),
    ("group", {"id": "120363000000000001@g.us"}),
    ("check_numbers", {"numbers": ["15550002222"]}),
    # People and channels (wad.engines.directory); set_picture needs a file,
    # remove_picture is unsupported on neonize whatever the state.
    ("contacts", {}),
    ("picture", {"jid": PEER}),
    ("user_info", {"jid": PEER}),
    ("profile", {}),
    ("set_push_name", {"name": "Sales"}),
    ("set_about", {"text": "Open"}),
    ("privacy", {}),
    ("set_privacy", {"name": "lastSeen", "value": "contacts"}),
    ("blocklist", {}),
    ("block", {"jid": PEER}),
    ("unblock", {"jid": PEER}),
    ("channels", {}),
    ("channel_follow", {"id": "120363000000000001@newsletter"}),
    ("channel_unfollow", {"id": "120363000000000001@newsletter"}),
    ("channel_messages", {"id": "120363000000000001@newsletter", "count": 10, "before": None}),
    ("subscribe_presence", {"jid": PEER}),
    ("chat_settings", {"jids": [PEER]}),
]


@dataclass
class Case:
    """One engine, and how to bring its link to a live, unconnected state offline."""

    name: str
    open_link: Callable[[str, Path], AbstractAsyncContextManager[Link]]
    wait_live: Callable[[Link], Any]
    set_offline: Callable[[], None]


class SilentProxy:
    def __init__(self) -> None:
        self.connections = 0
        self.changed = trio.Event()

    async def handle(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        self.changed.set()
        self.changed = trio.Event()
        async with stream:
            await trio.sleep_forever()

    async def wait_for(self, count: int) -> None:
        while self.connections < count:
            await self.changed.wait()


@pytest.fixture(params=["simulator", "neonize"])
async def case(
    request: pytest.FixtureRequest, nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Case]:
    if request.param == "simulator":
        sim = SimulatorEngine(qr_interval=20.0)

        async def sim_live(link: Link) -> None:
            async for event in link.events():
                if event.kind == "qr":  # waiting for a scan: live, not connected
                    return

        def sim_offline() -> None:
            sim.offline = True

        yield Case("simulator", sim.open_link, sim_live, sim_offline)
        return
    proxy = SilentProxy()
    listeners = await nursery.start(
        functools.partial(trio.serve_tcp, proxy.handle, 0, host="127.0.0.1")
    )
    monkeypatch.setenv(PROXY_ENV, f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}")
    engine = NeonizeEngine(grace=1.0)
    opened = 0

    async def neonize_live(link: Link) -> None:
        await proxy.wait_for(opened)  # its worker is dialing: live, not connected

    def open_counted(device_id: str, folder: Path) -> AbstractAsyncContextManager[Link]:
        nonlocal opened
        opened += 1
        return engine.open_link(device_id, folder)

    def neonize_offline() -> None:
        monkeypatch.delenv(PROXY_ENV)  # this machine's own network: no WhatsApp

    yield Case("neonize", open_counted, neonize_live, neonize_offline)


def wire_round_trip(event: EngineEvent) -> EngineEvent:
    return EngineEvent.from_wire(json.loads(json.dumps(event.to_wire())))


async def test_offline_a_link_ends_with_one_error_event(case: Case, tmp_path: Path) -> None:
    case.set_offline()
    with trio.fail_after(30):
        async with case.open_link("c1", tmp_path / "c1") as link:
            events = [event async for event in link.events()]  # ends by itself
    assert events and all(e.kind in EVENT_KINDS for e in events)
    assert [e.kind for e in events if e.kind in TERMINAL_KINDS] == ["error"]
    assert events[-1].kind == "error"
    assert "failed to dial" in events[-1].data["message"]
    assert "no such host" in events[-1].data["message"]
    for event in events:
        assert wire_round_trip(event) == event


async def test_commands_on_an_unconnected_link_say_not_connected(
    case: Case, tmp_path: Path
) -> None:
    with trio.fail_after(30):
        async with case.open_link("c1", tmp_path / "c1") as link:
            await case.wait_live(link)
            for command, params in COMMANDS_NEEDING_A_CONNECTION:
                with pytest.raises(EngineError) as caught:
                    await link.call(command, params)
                assert caught.value.code == "not_connected", command


async def test_a_closed_link_refuses_commands(case: Case, tmp_path: Path) -> None:
    with trio.fail_after(30):
        async with case.open_link("c1", tmp_path / "c1") as link:
            await case.wait_live(link)
        with pytest.raises(EngineError) as caught:
            await link.call("send", COMMANDS_NEEDING_A_CONNECTION[0][1])
        assert caught.value.code == "not_connected"


async def test_pairing_by_code_needs_a_qr_first(case: Case, tmp_path: Path) -> None:
    """Before any QR (the simulator: offline; neonize: still dialing) a pairing code is
    refused as a conflict."""
    if case.name == "simulator":
        case.set_offline()
    with trio.fail_after(30):
        async with case.open_link("c1", tmp_path / "c1") as link:
            if case.name == "neonize":
                await case.wait_live(link)
            with pytest.raises(EngineError) as caught:
                await link.call("pair_phone", {"phoneNumber": "15550001111"})
            assert caught.value.code == "conflict"


async def test_links_of_two_sessions_are_independent(case: Case, tmp_path: Path) -> None:
    with trio.fail_after(30):
        async with case.open_link("c1", tmp_path / "c1") as first:
            await case.wait_live(first)
            async with case.open_link("c2", tmp_path / "c2") as second:
                await case.wait_live(second)
            # The second one closed; the first still answers (and is still unconnected).
            with pytest.raises(EngineError) as caught:
                await first.call("groups", {})
            assert caught.value.code == "not_connected"


async def test_an_unknown_command_is_unsupported(case: Case, tmp_path: Path) -> None:
    with trio.fail_after(30):
        async with case.open_link("c1", tmp_path / "c1") as link:
            await case.wait_live(link)
            with pytest.raises(EngineError) as caught:
                await link.call("teleport", {})
            assert caught.value.code == "unsupported"


async def test_events_end_when_the_link_closes(case: Case, tmp_path: Path) -> None:
    with trio.fail_after(30):
        async with case.open_link("c1", tmp_path / "c1") as link:
            await case.wait_live(link)
        rest = [event async for event in link.events()]  # must end, not hang
    assert all(event.kind in EVENT_KINDS for event in rest)


async def test_take_ready_mixes_with_events_in_order(case: Case, tmp_path: Path) -> None:
    """What ``take_ready`` hands over and what ``events`` yields after it form one stream:
    nothing lost, nothing after the terminal event, and it never waits."""
    case.set_offline()
    with trio.fail_after(30):
        async with case.open_link("c1", tmp_path / "c1") as link:
            stream = link.events()
            events = [await stream.__anext__()]
            while events[-1].kind not in TERMINAL_KINDS:
                ready = link.take_ready(100)
                events += ready or [await stream.__anext__()]
            assert link.take_ready(100) == []
            assert [event async for event in stream] == []
    assert [e.kind for e in events if e.kind in TERMINAL_KINDS] == ["error"]
    assert events[-1].kind == "error"
