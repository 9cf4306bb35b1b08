"""A real daemon process with a session already paired with the simulated network."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from conftest import ADMIN_TOKEN

from wad.engines.simulator.engine import CREDENTIALS

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def paired_state(tmp_path: Path, device_id: str) -> Path:
    """A state folder whose session is already linked: it connects without a QR."""
    folder = tmp_path / "state" / "sessions" / device_id
    folder.mkdir(parents=True)
    (folder / CREDENTIALS).write_text(
        '{"phoneNumber": "15550001111", "jid": "15550001111:7@s.whatsapp.net"}'
    )
    return tmp_path / "state"


def connected_key(url: str, device_id: str) -> str:
    """Create the session in the daemon at ``url``, wait until it is connected, and
    give it an API key (returned)."""
    with httpx.Client(base_url=url, timeout=10) as client:
        r = client.post("/api/sessions", headers=ADMIN, json={"deviceId": device_id})
        assert r.status_code in (201, 409), r.text
        deadline = time.monotonic() + 10
        while (
            client.get(f"/api/sessions/{device_id}", headers=ADMIN).json()["session"][
                "connectionState"
            ]
            != "connected"
        ):
            assert time.monotonic() < deadline, "the session did not connect"
            time.sleep(0.05)  # another process's state: nothing to wait on but its answers
        r = client.put(f"/api/sessions/{device_id}/api-key", headers=ADMIN, json={})
        return str(r.json()["apiKey"])
