"""The third-party example in contrib/, installed with pip, loads through its entry point.

It must be installed (``pip install -e contrib/wad-example-plugin``; .ci/run does it).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
import trio
from conftest import Running, make_config, start_daemon

from wad.engines.simulator.engine import SimulatorEngine


def test_installed_as_a_distribution() -> None:
    try:
        dist = distribution("wad-example-plugin")
    except PackageNotFoundError:
        pytest.fail(
            "the example plugin is not installed: pip install -e contrib/wad-example-plugin"
        )
    points = [ep for ep in dist.entry_points if ep.group == "wad.plugins"]
    assert [(ep.name, ep.value) for ep in points] == [
        ("example", "wad_example_plugin:ExamplePlugin")
    ]


async def connect(wad: Running) -> None:
    await wad.client.post("/api/sessions", json={"deviceId": "dev1"}, headers=wad.admin)
    await wad.wait_state("dev1", "waiting_qr")
    wad.engine.link("dev1").scan("15550001111")
    await wad.wait_state("dev1", "connected")


async def test_loads_adds_a_route_and_answers_ping(wad: Running) -> None:
    plugins = {
        p["name"]: p
        for p in (await wad.client.get("/api/plugins", headers=wad.admin)).json()["plugins"]
    }
    example = plugins["example"]
    assert (example["distribution"], example["builtin"]) == ("wad-example-plugin", False)
    assert example["hooks"] == ["wad_event", "wad_http_routes"]
    r = await wad.client.get("/api/example/echo?text=hello", headers=wad.admin)
    assert r.json() == {"success": True, "echo": "hello", "received": {}}
    assert (await wad.client.get("/api/example/echo")).status_code == 401
    await connect(wad)
    with wad.daemon.events.subscribe() as events:
        wad.engine.link("dev1").deliver("15550002222", "just saying")
        wad.engine.link("dev1").deliver("15550002222", "Ping")
        with trio.fail_after(10):
            async for event in events:
                if event.type == "message.sent":
                    break
    assert event.payload["to"] == "15550002222@s.whatsapp.net"
    sent = (await wad.client.get("/api/simulator/sessions/dev1/sent", headers=wad.admin)).json()[
        "messages"
    ]
    assert [(m["to"], m["text"]) for m in sent] == [("15550002222@s.whatsapp.net", "pong")]
    r = await wad.client.get("/api/example/echo", headers=wad.admin)
    assert r.json()["received"] == {"dev1": 2}


async def test_disabled_by_name(tmp_path: Path, nursery: trio.Nursery) -> None:
    wad = await start_daemon(
        nursery, make_config(tmp_path, disable_plugins="example"), SimulatorEngine()
    )
    names = [
        p["name"]
        for p in (await wad.client.get("/api/plugins", headers=wad.admin)).json()["plugins"]
    ]
    assert "example" not in names and "webhooks" in names
    assert (await wad.client.get("/api/example/echo", headers=wad.admin)).status_code == 404
    await wad.close()
