"""The control socket of a real daemon (in-process, simulator engine, real Unix socket)."""

from __future__ import annotations

import json
import logging
import os
import random
import re
import socket
import stat
from pathlib import Path

import pytest
import trio
import trio.testing
from conftest import make_config, start_daemon
from control_client import Conn, connect

from wad.control import methods as method_table
from wad.control.protocol import ERROR_CODES
from wad.control.socketfile import ControlSocketError

README = Path(__file__).resolve().parents[2] / "README.md"


def sock_path(wad) -> Path:
    return wad.daemon.config.control_socket_path()


async def open_conn(wad) -> Conn:
    return await connect(sock_path(wad))


async def test_status_reports_the_daemon(wad):
    conn = await open_conn(wad)
    status = await conn.call("status")
    assert status["engine"] == "simulator"
    assert status["controlSocket"] == str(sock_path(wad))
    assert status["http"] == [wad.url]
    assert status["sessions"]["connected"] == 0 and status["uptime"] >= 0
    await conn.aclose()


async def test_session_lifecycle_through_the_socket_is_what_rest_sees(wad):
    conn = await open_conn(wad)
    assert await conn.call("sessions.create", deviceId="ctl1") == {"deviceId": "ctl1"}
    assert await conn.error("sessions.create", deviceId="ctl1") == "conflict"
    await wad.wait_state("ctl1", "waiting_qr")
    listed = await conn.call("sessions.list")
    rest = (await wad.client.get("/api/sessions", headers=wad.admin)).json()["sessions"]
    assert [s["deviceId"] for s in listed["sessions"]] == [s["deviceId"] for s in rest] == ["ctl1"]
    qr = await conn.call("sessions.qr", deviceId="ctl1")
    rest_qr = (await wad.client.get("/api/sessions/ctl1/qr", headers=wad.admin)).json()
    assert qr["qrCode"] == rest_qr["qrCode"] and qr["qrImage"].startswith("data:image/png")

    await conn.call("sim.scan", deviceId="ctl1", phoneNumber="15551230001")
    await wad.wait_state("ctl1", "connected")
    session = (await conn.call("sessions.get", deviceId="ctl1"))["session"]
    assert session["connectionState"] == "connected"
    assert session["phoneNumber"] == "15551230001"

    # A generated key is returned once, works on REST, never shows in a list.
    key = (await conn.call("keys.set", deviceId="ctl1"))["apiKey"]
    sent = await wad.client.post(
        "/api/messages/send",
        headers={"Authorization": f"Bearer {key}"},
        json={"deviceId": "ctl1", "number": "15550009999", "message": "hello"},
    )
    assert sent.status_code == 200, sent.text
    assert key not in json.dumps(await conn.call("sessions.list"))
    assert key not in json.dumps(await conn.call("sessions.get", deviceId="ctl1"))
    custom = "my-own-key-for-ctl1-0123456789abcdef"
    assert (await conn.call("keys.set", deviceId="ctl1", apiKey=custom))["apiKey"] == custom
    old = await wad.client.post(
        "/api/messages/send",
        headers={"Authorization": f"Bearer {key}"},
        json={"deviceId": "ctl1", "number": "15550009999", "message": "x"},
    )
    assert old.status_code in (401, 403)

    # The virtual phone: what was sent, a receipt, an incoming message.
    delivered = (await conn.call("sim.sent", deviceId="ctl1"))["messages"]
    assert [m.get("text") or m.get("body") for m in delivered][-1] == "hello"
    message_id = sent.json()["id"]
    await conn.call("sim.receipt", deviceId="ctl1", messageId=message_id, status="read")
    assert (
        await conn.error("sim.receipt", deviceId="ctl1", messageId="nope", status="read")
        == "not_found"
    )
    incoming = await conn.call(
        "sim.incoming", deviceId="ctl1", **{"from": "15550002222"}, message="hi there"
    )
    assert incoming["waId"]
    inbox = await conn.call("sessions.messages", deviceId="ctl1", direction="in")
    assert [m["body"] for m in inbox["messages"]] == ["hi there"]
    outbox = await conn.call("sessions.messages", deviceId="ctl1", direction="out")
    assert outbox["messages"][0]["status"] == "read"

    await conn.call("keys.revoke", deviceId="ctl1")
    assert await conn.error("keys.revoke", deviceId="ctl1") == "not_found"
    rest_one = (await wad.client.get("/api/sessions/ctl1", headers=wad.admin)).json()
    assert rest_one["session"]["hasApiKey"] is False

    # Drop: it reconnects by itself. Logout, restart, pairing by code.
    await conn.call("sim.drop", deviceId="ctl1")
    await wad.wait_state("ctl1", "disconnected")  # else "connected" may be the old one
    await wad.wait_state("ctl1", "connected")
    await conn.call("sessions.logout", deviceId="ctl1")
    await wad.wait_state("ctl1", "logged_out")
    await conn.call("sessions.restart", deviceId="ctl1")
    await wad.wait_state("ctl1", "waiting_qr")
    code = await conn.call("sessions.pair_code", deviceId="ctl1", phoneNumber="15551230001")
    assert len(code["code"].replace("-", "")) == 8
    await conn.call("sim.enter_code", deviceId="ctl1", code=code["code"])
    await wad.wait_state("ctl1", "connected")
    await conn.call("sim.unlink", deviceId="ctl1")
    await wad.wait_state("ctl1", "logged_out")

    updated = await conn.call("sessions.update", deviceId="ctl1", rejectCalls=True)
    assert updated["session"]["rejectCalls"] is True
    assert await conn.error("sessions.update", deviceId="ctl1", rejectCals=True) == "bad_request"
    assert await conn.error("sessions.update", deviceId="ctl1", rejectCalls="y") == "bad_request"

    await conn.call("sessions.delete", deviceId="ctl1")
    assert await conn.error("sessions.get", deviceId="ctl1") == "not_found"
    assert (await wad.client.get("/api/sessions/ctl1", headers=wad.admin)).status_code == 404
    await conn.aclose()


async def test_daemon_methods_log_level_reload_plugins(wad):
    conn = await open_conn(wad)
    assert await conn.call("log_level.set", level="debug") == {"level": "DEBUG"}
    assert logging.getLogger().level == logging.DEBUG
    assert await conn.error("log_level.set", level="LOUD") == "bad_request"
    await conn.call("log_level.set", level="WARNING")
    assert await conn.call("reload") == {}
    names = {p["name"] for p in (await conn.call("plugins.list"))["plugins"]}
    rest = (await wad.client.get("/api/plugins", headers=wad.admin)).json()["plugins"]
    assert names == {p["name"] for p in rest} and {"auth", "webhooks"} <= names
    # The admin token comes from WAD_ADMIN_TOKEN here: rotating it is refused.
    assert await conn.error("admin_token.rotate") == "conflict"
    await conn.aclose()


async def test_admin_token_rotation_from_the_token_file(tmp_path, nursery):
    config = make_config(tmp_path / "d2", control_socket=str(tmp_path / "d2.sock"))
    config.admin_token = None
    running = await start_daemon(nursery, config)
    conn = await connect(tmp_path / "d2.sock")
    first = config.admin_token_file.read_text().strip()
    token = (await conn.call("admin_token.rotate"))["adminToken"]
    assert token != first and config.admin_token_file.read_text().strip() == token
    new = await running.client.get("/api/sessions", headers={"Authorization": f"Bearer {token}"})
    old = await running.client.get("/api/sessions", headers={"Authorization": f"Bearer {first}"})
    assert (new.status_code, old.status_code) == (200, 401)
    await conn.aclose()
    await running.close()


async def test_webhooks_through_the_plugins_control_methods(wad):
    conn = await open_conn(wad)
    await conn.call("sessions.create", deviceId="hooked")
    made = (
        await conn.call(
            "webhooks.create",
            deviceId="hooked",
            url="http://93.184.215.14/hook",
            events=["message"],
        )
    )["webhook"]
    assert made["secret"].startswith("whsec_") and made["events"] == ["message"]
    listed = (await conn.call("webhooks.list", deviceId="hooked"))["webhooks"]
    assert [w["id"] for w in listed] == [made["id"]] and "secret" not in listed[0]
    rest = (await wad.client.get("/api/sessions/hooked/webhooks", headers=wad.admin)).json()
    assert [w["id"] for w in rest["webhooks"]] == [made["id"]]
    assert await conn.error("webhooks.create", deviceId="hooked", url="http://127.0.0.1:9/x") in (
        "bad_request",
        "forbidden",
    )
    await conn.call("webhooks.delete", deviceId="hooked", webhookId=made["id"])
    assert (await conn.call("webhooks.list", deviceId="hooked"))["webhooks"] == []
    await conn.aclose()


async def test_events_subscribe_streams_until_the_client_leaves(wad):
    conn = await open_conn(wad)
    other = await open_conn(wad)
    assert await conn.call("events.subscribe", deviceId="evt") == {"subscribed": True}
    await other.call("sessions.create", deviceId="noise")
    await other.call("sessions.create", deviceId="evt")
    seen = []
    while "waiting_qr" not in seen:
        line = await conn.line()
        event = line["event"]
        assert event["session"] == "evt"
        assert set(event) == {"id", "event", "session", "seq", "timestamp", "payload"}
        if event["event"] == "session.status":
            seen.append(event["payload"]["state"])
    qr = await conn.line()
    assert qr["event"]["event"] == "session.qr" and qr["event"]["payload"]["qrCode"]
    assert wad.daemon.events.statistics()["subscribers"] >= 1
    before = wad.daemon.events.statistics()["subscribers"]
    await conn.aclose()
    # The server notices the hang-up and unsubscribes.
    await trio.testing.wait_all_tasks_blocked()
    assert wad.daemon.events.statistics()["subscribers"] == before - 1
    assert await other.error("events.subscribe", events=["nope"]) == "bad_request"
    assert await other.error("events.subscribe", deviceId="../x") == "bad_request"
    assert (await other.call("status"))["engine"] == "simulator"  # still usable
    await other.aclose()


async def test_errors_keep_the_connection_usable(wad):
    conn = await open_conn(wad)
    await conn.send_raw(b"this is not json\n")
    assert (await conn.line())["error"]["code"] == "bad_json"
    await conn.send_raw(b'["a", "list"]\n')
    assert (await conn.line())["error"]["code"] == "bad_request"
    assert await conn.error("no.such.method") == "unknown_method"
    assert await conn.error("sessions.get") == "bad_request"  # missing deviceId
    assert await conn.error("sessions.get", deviceId="x", extra=1) == "bad_request"
    assert await conn.error("sessions.get", deviceId="../../etc") == "bad_request"
    assert await conn.error("sessions.get", deviceId="ghost") == "not_found"
    assert await conn.error("sim.scan", deviceId="ghost", phoneNumber="12") == "bad_request"
    await conn.send_raw(b"x" * (2 << 20) + b"\n")
    answer = await conn.line()
    assert answer["error"]["code"] == "line_too_long"
    assert (await conn.call("status"))["engine"] == "simulator"
    await conn.aclose()


async def test_garbage_never_crashes_or_stalls_the_daemon(wad):
    rng = random.Random(1234)
    path = sock_path(wad)
    # Random bytes, then a request on the same connection.
    conn = await connect(path)
    await conn.send_raw(bytes(rng.getrandbits(8) for _ in range(200_000)) + b"\n")
    await conn.send_raw(b'{"id": "after", "method": "status"}\n')
    while (line := await conn.line()).get("id") != "after":
        assert line["error"]["code"] in ERROR_CODES
    await conn.aclose()
    # Half requests, then hang-ups; a 2 MiB line without a newline, then a hang-up.
    for _ in range(20):
        half = await connect(path)
        await half.send_raw(b'{"id": 1, "method": "sessions.li')
        await half.aclose()
    big = await connect(path)
    await big.send_raw(b"{" * (2 << 20))
    assert (await big.line())["error"]["code"] == "line_too_long"
    await big.aclose()
    # Hundreds of connections at once: the cap answers the excess with "busy".
    conns = [await connect(path) for _ in range(300)]
    codes = []
    for c in conns[64:]:
        codes.append((await c.line())["error"]["code"])
    assert set(codes) == {"busy"}
    for c in conns[:64]:
        assert (await c.call("status"))["engine"] == "simulator"
    for c in conns:
        await c.aclose()
    # Still answering, on the socket and over HTTP.
    conn = await connect(path)
    assert (await conn.call("status"))["engine"] == "simulator"
    await conn.aclose()
    assert (await wad.client.get("/healthz")).status_code == 200


async def test_socket_file_is_0660(wad):
    mode = os.stat(sock_path(wad)).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o660
    assert not [p for p in sock_path(wad).parent.iterdir() if p.name.startswith(".w")]


async def test_stale_socket_replaced_live_one_refused_removed_on_exit(tmp_path):
    path = tmp_path / "wad.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))  # a crashed daemon's: the file stays, nobody listens
    stale.close()
    config = make_config(tmp_path)
    async with trio.open_nursery() as nursery:
        running = await start_daemon(nursery, config)
        conn = await connect(path)
        assert (await conn.call("status"))["controlSocket"] == str(path)
        # A second daemon on the same socket refuses to start and leaves it alone.
        with pytest.RaisesGroup(
            pytest.RaisesExc(ControlSocketError, match="already listening"), flatten_subgroups=True
        ):
            await start_daemon(nursery, make_config(tmp_path / "second", control_socket=str(path)))
        assert (await conn.call("status"))["engine"] == "simulator"
        await conn.aclose()
        await running.close()
    assert not path.exists()


async def test_a_file_that_is_not_a_socket_is_not_replaced(tmp_path):
    path = tmp_path / "wad.sock"
    path.write_text("precious")
    async with trio.open_nursery() as nursery:
        with pytest.RaisesGroup(
            pytest.RaisesExc(ControlSocketError, match="not a socket"), flatten_subgroups=True
        ):
            await start_daemon(nursery, make_config(tmp_path))
    assert path.read_text() == "precious"


async def test_every_method_is_in_the_readme(wad):
    section = README.read_text().split("## Control socket and wadctl", 1)[1]
    section = section.split("\n## ", 1)[0]
    listing = section.split("### Methods", 1)[1].split("\n### ", 1)[0]
    documented = set(re.findall(r"^\| `([a-z_]+(?:\.[a-z_]+)*)` \|", listing, re.M))
    served = set(method_table.build(wad.daemon)) | {method_table.SUBSCRIBE}
    assert served - documented == set(), "methods missing from the README"
    assert documented - served == set(), "the README lists methods that do not exist"
    codes = set(re.findall(r"^\| `([a-z_]+)` \| ", section.split("### Error codes", 1)[1], re.M))
    assert codes >= set(ERROR_CODES)
