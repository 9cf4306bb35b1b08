"""wadctl's contacts, blocklist, block and unblock against a real ``wad serve``
(simulator engine), as an administrator uses them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from conftest import ADMIN_TOKEN, spawn_daemon
from test_wadctl import wadctl

from wad.ctl.main import EXIT_USAGE

pytestmark = pytest.mark.slow
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_contacts_search_block_and_unblock(tmp_path: Path) -> None:
    process = spawn_daemon(tmp_path, "--engine", "simulator")
    sock = tmp_path / "wad.sock"
    api = httpx.Client(base_url=process.url, headers=ADMIN, timeout=30)
    try:
        wadctl(sock, "create", "ops")
        deadline = time.monotonic() + 20
        while api.get("/api/sessions/ops").json()["session"]["connectionState"] != "waiting_qr":
            assert time.monotonic() < deadline
            time.sleep(0.05)  # another process's state: no event to wait on from here
        wadctl(sock, "sim", "scan", "ops", "15557770001")
        wadctl(
            sock,
            "call",
            "sim.contact",
            '{"deviceId": "ops", "phoneNumber": "15550002222", "name": "Ada Lovelace"}',
        )
        wadctl(
            sock,
            "call",
            "sim.contact",
            '{"deviceId": "ops", "phoneNumber": "15550003333",'
            ' "name": "Bob", "businessName": "Bob Bikes"}',
        )
        deadline = time.monotonic() + 20
        while wadctl(sock, "contacts", "ops", check=False).returncode != 0:
            assert time.monotonic() < deadline  # until the session is connected
            time.sleep(0.05)

        table = wadctl(sock, "contacts", "ops").stdout.splitlines()
        assert table[0].split()[:2] == ["JID", "NAME"]
        assert [line.split()[0] for line in table[1:]] == [
            "15550002222@s.whatsapp.net",
            "15550003333@s.whatsapp.net",
        ]
        found = json.loads(wadctl(sock, "--json", "contacts", "ops", "bikes").stdout)
        assert [c["name"] for c in found["contacts"]] == ["Bob"]
        paged = wadctl(sock, "contacts", "ops", "--limit", "1").stdout
        assert "more: --cursor " in paged

        assert wadctl(sock, "block", "ops", "15550002222").stdout.strip() == (
            "blocked 15550002222@s.whatsapp.net"
        )
        assert wadctl(sock, "blocklist", "ops").stdout.strip() == "15550002222@s.whatsapp.net"
        # What the admin blocked, the session's API refuses to send to.
        key = wadctl(sock, "key", "ops").stdout.strip()
        r = api.post(
            "/api/sessions/ops/messages",
            headers={"Authorization": f"Bearer {key}"},
            json={"to": "15550002222", "text": "hi"},
        )
        assert r.status_code == 409 and "blocked" in r.json()["error"]
        wadctl(sock, "unblock", "ops", "15550002222@s.whatsapp.net")
        assert wadctl(sock, "blocklist", "ops").stdout.strip() == "nobody is blocked"
        bad = wadctl(sock, "block", "ops", "not-a-number", check=False)
        assert bad.returncode == EXIT_USAGE and bad.stderr.startswith("wadctl: ")
    finally:
        api.close()
        process.stop()
