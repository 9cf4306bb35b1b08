"""The plugin host and the built-in auth and rate-limit plugins."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
import trio
from conftest import ADMIN_TOKEN, make_config, start_daemon, wait_state

from wad.engines.simulator.engine import SimulatorEngine
from wad.hooks import DaemonAPI
from wad.hooks import specs as hookspecs
from wad.runtime.serve import serve

README = Path(__file__).resolve().parents[2] / "README.md"


async def connected(wad, device_id: str = "dev1") -> str:
    return await wad.connected_key(device_id)


async def test_plugins_listed(wad) -> None:
    r = await wad.client.get("/api/plugins", headers=wad.admin)
    names = {p["name"]: p for p in r.json()["plugins"]}
    assert {"auth", "ratelimit"} <= names.keys()
    assert names["auth"]["builtin"] and names["auth"]["hooks"] == ["wad_authenticate"]
    assert (await wad.client.get("/api/plugins")).status_code == 401


async def test_rate_limit_per_key(tmp_path: Path, nursery: trio.Nursery) -> None:
    config = make_config(tmp_path)
    config.plugin_settings["ratelimit"]["per_minute"] = 5
    wad = await start_daemon(nursery, config, SimulatorEngine())
    statuses = []
    for _ in range(6):
        r = await wad.client.get("/api/sessions", headers=wad.admin)
        statuses.append(r.status_code)
    assert statuses == [200] * 5 + [429]
    assert r.json() == {"success": False, "error": "Too many requests", "code": "rate_limited"}
    assert int(r.headers["Retry-After"]) >= 1
    assert r.headers["RateLimit-Policy"] == '"per-key";q=5;w=60'
    assert re.fullmatch(r'"per-key";r=0;t=\d+', r.headers["RateLimit"])
    # Each caller has its own budget: unauthenticated requests count per address.
    r = await wad.client.get("/api/sessions")
    assert r.status_code == 401 and "RateLimit" in r.headers
    await wad.close()


async def test_send_pace_holds_interval(
    tmp_path: Path, nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    config = make_config(tmp_path)
    config.plugin_settings["ratelimit"]["send_interval"] = 2.0
    daemon = await nursery.start(serve, config, SimulatorEngine())
    svc = daemon.services
    await svc.sessions.create("dev1")
    await wait_state(daemon.events, daemon.supervisor, "dev1", "waiting_qr")
    daemon.supervisor.engine.link("dev1").scan("15550001111")
    await wait_state(daemon.events, daemon.supervisor, "dev1", "connected")
    done: list[float] = []

    async def send(i: int) -> None:
        await svc.sending.send_text("dev1", "15550002222", f"m{i}")
        done.append(trio.current_time())

    start = trio.current_time()
    async with trio.open_nursery() as senders:
        for i in range(5):
            senders.start_soon(send, i)
    done.sort()
    assert done[0] - start < 0.1  # the first goes at once
    gaps = [b - a for a, b in zip(done, done[1:], strict=False)]
    assert all(2.0 <= gap <= 3.0 + 1e-6 for gap in gaps), gaps  # interval + up to 50 % jitter
    assert len({round(g, 3) for g in gaps}) > 1  # jittered, not machine-regular
    daemon.stop()


async def test_disabling_auth_plugin_locks_everything(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    config = make_config(tmp_path, disable_plugins="auth")
    wad = await start_daemon(nursery, config, SimulatorEngine())
    r = await wad.client.get("/api/sessions", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert r.status_code == 401  # no authenticator: nobody is anybody
    await wad.close()


async def test_disabling_ratelimit_plugin_removes_limits(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    config = make_config(tmp_path, disable_plugins="ratelimit")
    config.plugin_settings["ratelimit"]["per_minute"] = 1
    wad = await start_daemon(nursery, config, SimulatorEngine())
    for _ in range(3):
        r = await wad.client.get("/api/sessions", headers=wad.admin)
        assert r.status_code == 200 and "RateLimit" not in r.headers
    names = [
        p["name"]
        for p in (await wad.client.get("/api/plugins", headers=wad.admin)).json()["plugins"]
    ]
    assert "ratelimit" not in names
    await wad.close()


async def test_the_daemon_offers_all_of_daemon_api(wad) -> None:
    """What plugins and doors are promised is there on the running daemon."""
    members = sorted(name for name in vars(DaemonAPI) if not name.startswith("_"))
    assert {"config", "services", "plugins", "start_soon", "reload", "stop"} <= set(members)
    assert [name for name in members if not hasattr(wad.daemon, name)] == []


def readme_hook_table() -> list[str]:
    """The first cell of each row of README's hook table (``| hook | when, ... |``)."""
    lines = README.read_text().splitlines()
    start = lines.index("| hook | when, and what it answers |")
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(line.split("|")[1].strip())
    return rows


def test_every_hook_is_documented_in_readme() -> None:
    """README's hook table has one row per hook, with its exact argument list, and
    no row for a hook that does not exist."""
    hooks = sorted(name for name in dir(hookspecs) if name.startswith("wad_"))
    assert {"wad_metrics", "wad_ctl_commands", "wad_startup"} <= set(hooks)
    signatures = [
        f"`{name}({', '.join(inspect.signature(getattr(hookspecs, name)).parameters)})`"
        for name in hooks
    ]
    table = readme_hook_table()
    assert sorted(table) == sorted(signatures), "README's hook table and wad/hooks/specs.py differ"


def test_every_hook_spec_is_typed_and_documented() -> None:
    """Each spec takes typed arguments (``daemon`` is a DaemonAPI, never Daemon), says
    what it answers, and has a one-line docstring."""
    for name in (n for n in dir(hookspecs) if n.startswith("wad_")):
        spec = getattr(hookspecs, name)
        doc = inspect.getdoc(spec) or ""
        assert doc and "\n" not in doc, f"{name}: one line of docstring"
        params = inspect.signature(spec).parameters.values()
        assert all(p.annotation is not inspect.Parameter.empty for p in params), name
        assert inspect.signature(spec).return_annotation is not inspect.Signature.empty, name
        daemon = inspect.signature(spec).parameters.get("daemon")
        assert daemon is None or daemon.annotation == "DaemonAPI", name


@pytest.mark.parametrize("direction", ["in", "out"])
async def test_messages_listing_filters(wad, direction: str) -> None:
    key = await connected(wad)
    auth = {"Authorization": f"Bearer {key}"}
    for i in range(3):
        await wad.client.post(
            "/api/messages/send",
            headers=auth,
            json={"deviceId": "dev1", "number": "15550002222", "message": f"out {i}"},
        )
        wad.engine.link("dev1").deliver("15550002222", f"in {i}")
    r = await wad.client.get(
        f"/api/sessions/dev1/messages?direction={direction}&limit=2", headers=auth
    )
    page = r.json()
    assert [m["body"] for m in page["messages"]] == [f"{direction} 2", f"{direction} 1"]
    assert all(m["direction"] == direction for m in page["messages"])
    r = await wad.client.get(
        f"/api/sessions/dev1/messages?direction={direction}&limit=2&before={page['nextBefore']}",
        headers=wad.admin,
    )
    rest = r.json()
    assert [m["body"] for m in rest["messages"]] == [f"{direction} 0"]
    assert rest["nextBefore"] is None
    bad = await wad.client.get("/api/sessions/dev1/messages?limit=0", headers=auth)
    assert bad.status_code == 400
    other = await wad.client.get("/api/sessions/dev1/messages")
    assert other.status_code == 401


async def test_receipts_move_status_forward(wad) -> None:
    key = await connected(wad)
    r = await wad.client.post(
        "/api/messages/send",
        headers={"Authorization": f"Bearer {key}"},
        json={"deviceId": "dev1", "number": "15550002222", "message": "hello"},
    )
    message_id = r.json()["id"]
    seen: list[tuple[str, int]] = []
    with wad.daemon.events.subscribe() as events:
        for status in ("delivered", "read", "delivered"):  # a late "delivered" never goes back
            r = await wad.client.post(
                "/api/simulator/sessions/dev1/receipt",
                headers=wad.admin,
                json={"messageId": message_id, "status": status},
            )
            assert r.status_code == 200
        wad.engine.link("dev1").deliver("15550002222", "reply")
        async for event in events:
            seen.append((event.type, event.seq))
            if event.type == "message":
                break
    types = [t for t, _ in seen]
    assert types == ["message.ack", "message.ack", "message"]
    seqs = [s for _, s in seen]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    listed = (
        await wad.client.get("/api/sessions/dev1/messages?direction=out", headers=wad.admin)
    ).json()["messages"]
    assert listed[0]["status"] == "read"
