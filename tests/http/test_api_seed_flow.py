"""The seed README's curl sequence, against a real daemon with the simulator."""

from __future__ import annotations

from conftest import Running


async def test_seed_flow(wad: Running) -> None:
    c, admin = wad.client, wad.admin
    r = await c.post("/api/sessions", json={"deviceId": "my-device"}, headers=admin)
    assert r.status_code == 201
    assert r.json() == {"success": True, "message": "Session created", "deviceId": "my-device"}

    await wad.wait_state("my-device", "waiting_qr")
    r = await c.get("/api/sessions/my-device/qr", headers=admin)
    body = r.json()
    assert body["success"] and body["qrCode"].startswith("2@")
    assert body["qrImage"].startswith("data:image/png;base64,")

    r = await c.post(
        "/api/simulator/sessions/my-device/scan", headers=admin, json={"phoneNumber": "15550001111"}
    )
    assert r.status_code == 200, r.text
    await wad.wait_state("my-device", "connected")

    r = await c.put("/api/sessions/my-device/api-key", headers=admin, json={})
    body = r.json()
    assert body["success"] and body["message"] == "API key updated"
    key = body["apiKey"]
    assert key.startswith("wad_") and len(key) >= 4 + 43

    r = await c.post(
        "/api/messages/send",
        headers={"Authorization": f"Bearer {key}"},
        json={"deviceId": "my-device", "number": "1234567890", "message": "Hello World"},
    )
    body = r.json()
    assert r.status_code == 200, body
    assert body["success"] and body["status"] == "sent"
    assert body["to"] == "1234567890@s.whatsapp.net" and body["message"] == "Hello World"
    assert body["id"] and isinstance(body["timestamp"], int)
    sent = (await c.get("/api/simulator/sessions/my-device/sent", headers=admin)).json()
    assert [m["text"] for m in sent["messages"]] == ["Hello World"]
    assert sent["messages"][0]["id"] == body["id"]

    listed = (await c.get("/api/sessions", headers=admin)).json()
    (item,) = listed["sessions"]
    assert {
        "deviceId",
        "connectionState",
        "hasApiKey",
        "phoneNumber",
        "createdAt",
        "isActive",
    } <= item.keys()
    assert item["connectionState"] == "connected" and item["hasApiKey"] is True
    assert item["phoneNumber"] == "15550001111" and item["createdAt"].endswith("Z")
    assert key not in listed.__repr__()

    one = (await c.get("/api/sessions/my-device", headers=admin)).json()["session"]
    assert one["apiKeyMasked"] == key[:8] + "..."
    assert key not in repr(one)

    r = await c.delete("/api/sessions/my-device", headers=admin)
    assert r.json() == {"success": True, "message": "Session deleted"}
    assert (await c.get("/api/sessions/my-device", headers=admin)).status_code == 404
    assert not (wad.daemon.config.sessions_dir / "my-device").exists()
