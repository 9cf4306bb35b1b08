"""A session's own settings: set at create time, changed by PATCH and by the control
socket's ``sessions.update``, shown in the session's JSON, checked with clear 400s."""

from __future__ import annotations

from conftest import Running


async def test_settings_at_create_and_by_patch(wad: Running) -> None:
    c, admin = wad.client, wad.admin
    r = await c.post(
        "/api/sessions",
        json={"deviceId": "s1", "rejectCalls": True, "rejectCallsMessage": "No calls, please"},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    one = (await c.get("/api/sessions/s1", headers=admin)).json()["session"]
    assert one["rejectCalls"] is True and one["rejectCallsMessage"] == "No calls, please"
    assert one["newContactDailyCap"] is None

    r = await c.patch("/api/sessions/s1", json={"rejectCalls": False}, headers=admin)
    assert r.status_code == 200, r.text
    shown = r.json()["session"]
    assert shown["rejectCalls"] is False and shown["rejectCallsMessage"] == "No calls, please"

    r = await c.patch(
        "/api/sessions/s1",
        json={"rejectCallsMessage": None, "newContactDailyCap": 5},
        headers=admin,
    )
    shown = r.json()["session"]
    assert shown["rejectCallsMessage"] is None and shown["newContactDailyCap"] == 5
    listed = (await c.get("/api/sessions", headers=admin)).json()["sessions"]
    assert listed[0]["newContactDailyCap"] == 5 and listed[0]["rejectCalls"] is False

    # Deleted and created again: nothing of the old settings is left (cache included).
    await c.delete("/api/sessions/s1", headers=admin)
    await c.post("/api/sessions", json={"deviceId": "s1"}, headers=admin)
    one = (await c.get("/api/sessions/s1", headers=admin)).json()["session"]
    assert one["newContactDailyCap"] is None and one["rejectCalls"] is False


async def test_bad_settings_are_clear_400s(wad: Running) -> None:
    c, admin = wad.client, wad.admin
    await c.post("/api/sessions", json={"deviceId": "s2"}, headers=admin)
    cases = [
        ({"rejectCals": True}, "rejectCals"),
        ({"rejectCallsMessage": "x" * 2000}, "at most 1024"),
        ({"newContactDailyCap": -1}, "newContactDailyCap"),
        ({}, "nothing to change"),
    ]
    for patch, words in cases:
        r = await c.patch("/api/sessions/s2", json=patch, headers=admin)
        assert r.status_code == 400, (patch, r.text)
        assert words in r.json()["error"], (patch, r.text)
    r = await c.post(
        "/api/sessions", json={"deviceId": "s3", "rejectCallsMessage": " "}, headers=admin
    )
    assert r.status_code == 400 and "rejectCallsMessage" in r.json()["error"]
    assert (await c.get("/api/sessions/s3", headers=admin)).status_code == 404
    r = await c.patch("/api/sessions/nope", json={"rejectCalls": True}, headers=admin)
    assert r.status_code == 404
    r = await c.patch("/api/sessions/s2", json={"rejectCalls": True})
    assert r.status_code == 401
