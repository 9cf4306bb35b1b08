"""wadctl and the control socket for groups: a real ``wad serve`` (simulator engine)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import spawn_daemon
from test_wadctl import wadctl

from wad.ctl.main import EXIT_NOT_FOUND

pytestmark = pytest.mark.slow


@pytest.fixture
def daemon(tmp_path: Path):
    process = spawn_daemon(tmp_path, "--engine", "simulator")
    yield process, tmp_path / "wad.sock"
    process.stop()


def call(sock: Path, method: str, **params: object) -> dict:
    return json.loads(wadctl(sock, "--json", "call", method, json.dumps(params)).stdout)


def test_groups_listed_created_and_administered(daemon):
    _, sock = daemon
    wadctl(sock, "create", "cli1")
    # The QR shows up a moment after the session is created: the scan waits for it.
    for _ in range(100):
        if wadctl(sock, "sim", "scan", "cli1", "15557770001", check=False).returncode == 0:
            break
    assert wadctl(sock, "groups", "cli1").stdout.strip() == "no groups"

    created = call(
        sock, "groups.create", deviceId="cli1", subject="Ops", participants=["15550002222"]
    )
    gid = created["group"]["id"]
    call(
        sock,
        "groups.create",
        deviceId="cli1",
        subject="Big",
        participants=["15550003333", "15550004444"],
    )
    rows = wadctl(sock, "groups", "cli1").stdout.splitlines()
    assert rows[0].split() == ["GROUP", "SUBJECT", "PARTICIPANTS", "ADMINS"]
    assert sorted(r.split()[1:] for r in rows[1:]) == [["Big", "3", "1"], ["Ops", "2", "1"]]
    listed = json.loads(wadctl(sock, "--json", "groups", "cli1").stdout)["groups"]
    assert {g["name"] for g in listed} == {"Ops", "Big"}

    promoted = call(
        sock,
        "groups.participants",
        deviceId="cli1",
        groupId=gid,
        action="promote",
        participants=["15550002222"],
    )
    assert promoted["results"] == [{"jid": "15550002222@s.whatsapp.net", "status": 200}]
    assert call(sock, "groups.get", deviceId="cli1", groupId=gid)["group"]["participants"][1][
        "isAdmin"
    ]
    link = call(sock, "groups.invite", deviceId="cli1", groupId=gid)["link"]
    assert link.startswith("https://chat.whatsapp.com/")
    call(sock, "groups.leave", deviceId="cli1", groupId=gid)
    assert [r.split()[1] for r in wadctl(sock, "groups", "cli1").stdout.splitlines()[1:]] == ["Big"]
    assert wadctl(sock, "groups", "nosuch", check=False).returncode == EXIT_NOT_FOUND
