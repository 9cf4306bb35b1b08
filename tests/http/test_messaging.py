"""Every message type, and every action on messages, end to end with the simulator."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest
import trio
from conftest import Running

VCARD = "BEGIN:VCARD\nVERSION:3.0\nFN:Ada Lovelace\nTEL:+15550003333\nEND:VCARD"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


async def linked(wad: Running, device_id: str = "dev1") -> dict[str, str]:
    return {"Authorization": f"Bearer {await wad.connected_key(device_id)}"}


def phone_log(wad: Running, device_id: str = "dev1") -> list[dict]:
    return wad.engine.sent(wad.daemon.supervisor.folder(device_id))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


SENDS = [
    {"type": "text", "text": "hello *world*"},
    {"type": "image", "caption": "a pixel", "media": {"data": b64(PNG), "mimetype": "image/png"}},
    {
        "type": "video",
        "caption": "clip",
        "media": {"data": b64(b"\0\0\0\x18ftypmp42" + os.urandom(64)), "mimetype": "video/mp4"},
    },
    {
        "type": "audio",
        "ptt": True,
        "media": {"data": b64(b"OggS" + os.urandom(64)), "mimetype": "audio/ogg"},
    },
    {
        "type": "document",
        "caption": "the report",
        "media": {
            "data": b64(b"%PDF-1.4 " + os.urandom(256)),
            "mimetype": "application/pdf",
            "fileName": "report.pdf",
        },
    },
    {
        "type": "sticker",
        "media": {"data": b64(b"RIFF\0\0\0\0WEBP" + os.urandom(32)), "mimetype": "image/webp"},
    },
    {
        "type": "location",
        "location": {
            "latitude": 52.52,
            "longitude": 13.405,
            "name": "Berlin",
            "address": "Pariser Platz",
        },
    },
    {"type": "contact", "contact": {"displayName": "Ada Lovelace", "vcard": VCARD}},
]


@pytest.mark.parametrize("spec", SENDS, ids=[s["type"] for s in SENDS])
async def test_every_type_reaches_the_phone(wad: Running, spec: dict) -> None:
    auth = await linked(wad)
    r = await wad.client.post(
        "/api/sessions/dev1/messages", headers=auth, json={"to": "15550002222", **spec}
    )
    assert r.status_code == 200, r.text
    sent = r.json()
    assert sent["success"] and sent["type"] == spec["type"] and sent["id"].startswith("3EB0")
    (got,) = phone_log(wad)
    assert got["id"] == sent["id"] and got["to"] == "15550002222@s.whatsapp.net"
    assert got["type"] == spec["type"]
    for key in ("text", "caption", "ptt", "location", "contact"):
        if key in spec:
            assert got[key] == spec[key]
    if "media" in spec:
        raw = base64.b64decode(spec["media"]["data"])
        assert got["media"]["sha256"] == hashlib.sha256(raw).hexdigest()
        assert got["media"]["mimetype"] == spec["media"]["mimetype"]
        with open(got["media"]["path"], "rb") as f:
            assert f.read() == raw  # byte for byte on the other side
    listed = (
        await wad.client.get("/api/sessions/dev1/messages?direction=out", headers=auth)
    ).json()["messages"]
    assert listed[0]["id"] == sent["id"] and listed[0]["type"] == spec["type"]
    assert listed[0]["status"] == "sent"


async def test_multipart_upload_and_media_round_trip(wad: Running) -> None:
    auth = await linked(wad)
    payload = os.urandom(300_000)
    r = await wad.client.post(
        "/api/sessions/dev1/messages",
        headers=auth,
        data={"type": "document", "to": "15550002222", "caption": "big one"},
        files={"file": ("data.bin", payload, "application/octet-stream")},
    )
    assert r.status_code == 200, r.text
    (got,) = phone_log(wad)
    assert got["media"]["sha256"] == hashlib.sha256(payload).hexdigest()
    assert got["media"]["fileName"] == "data.bin" and got["caption"] == "big one"
    # The phone sends the same file back; it downloads byte for byte, streamed.
    r = await wad.client.post(
        "/api/simulator/sessions/dev1/incoming",
        headers=wad.admin,
        json={
            "from": "15550002222",
            "type": "document",
            "caption": "back to you",
            "media": {
                "data": b64(payload),
                "mimetype": "application/octet-stream",
                "fileName": "data.bin",
            },
        },
    )
    assert r.status_code == 200, r.text
    incoming = (
        await wad.client.get("/api/sessions/dev1/messages?direction=in", headers=auth)
    ).json()["messages"][0]
    assert incoming["type"] == "document" and incoming["hasMedia"]
    assert incoming["body"] == "back to you"
    r = await wad.client.get(f"/api/sessions/dev1/messages/{incoming['id']}/media", headers=auth)
    assert r.status_code == 200 and r.content == payload
    assert r.headers["content-type"] == "application/octet-stream"
    assert "data.bin" in r.headers["content-disposition"]


async def test_incoming_types_are_stored_and_emitted(wad: Running) -> None:
    auth = await linked(wad)
    kinds = [
        {"type": "text", "message": "hi"},
        {"type": "image", "caption": "look", "media": {"data": b64(PNG), "mimetype": "image/png"}},
        {"type": "location", "location": {"latitude": 1.5, "longitude": 2.5}},
        {"type": "contact", "contact": {"displayName": "Ada", "vcard": VCARD}},
    ]
    with wad.daemon.events.subscribe() as events:
        for kind in kinds:
            r = await wad.client.post(
                "/api/simulator/sessions/dev1/incoming",
                headers=wad.admin,
                json={"from": "15550002222", **kind},
            )
            assert r.status_code == 200, r.text
        seen = []
        async for event in events:
            if event.type == "message":
                seen.append(event.payload)
                if len(seen) == len(kinds):
                    break
    assert [p["type"] for p in seen] == [k["type"] for k in kinds]
    assert seen[1]["hasMedia"] and "mediaPath" not in seen[1]
    assert seen[2]["location"] == {"latitude": 1.5, "longitude": 2.5}
    listed = (
        await wad.client.get("/api/sessions/dev1/messages?direction=in", headers=auth)
    ).json()["messages"]
    assert [m["type"] for m in reversed(listed)] == [k["type"] for k in kinds]


async def test_reply_reaction_edit_revoke_read(wad: Running) -> None:
    auth = await linked(wad)
    c = wad.client
    first = (
        await c.post(
            "/api/sessions/dev1/messages", headers=auth, json={"to": "15550002222", "text": "first"}
        )
    ).json()
    r = await c.post(
        "/api/sessions/dev1/messages",
        headers=auth,
        json={
            "to": "15550002222",
            "text": "a reply",
            "replyTo": first["id"],
            "mentions": ["15550002222"],
        },
    )
    assert r.status_code == 200, r.text
    r = await c.post(
        f"/api/sessions/dev1/messages/{first['id']}/reaction", headers=auth, json={"emoji": "👍"}
    )
    assert r.status_code == 200 and r.json()["type"] == "reaction"
    r = await c.patch(
        f"/api/sessions/dev1/messages/{first['id']}", headers=auth, json={"text": "first (edited)"}
    )
    assert r.status_code == 200
    r = await c.delete(f"/api/sessions/dev1/messages/{first['id']}", headers=auth)
    assert r.status_code == 200
    log = phone_log(wad)
    assert [e["command"] for e in log] == ["send", "send", "react", "edit", "revoke"]
    assert log[1]["replyTo"]["id"] == first["id"] and log[1]["replyTo"]["text"] == "first"
    assert log[1]["mentions"] == ["15550002222@s.whatsapp.net"]
    assert log[2]["emoji"] == "👍" and log[2]["targetId"] == first["id"]
    assert log[3]["text"] == "first (edited)"
    mine = (
        await c.get("/api/sessions/dev1/messages?direction=out&limit=200", headers=auth)
    ).json()["messages"]
    original = next(m for m in mine if m["id"] == first["id"])
    assert original["status"] == "revoked" and original["body"] == "first (edited)"
    # Read marks only for received messages; edits only for own ones.
    wad.engine.link("dev1").deliver("15550002222", "incoming")
    incoming = (await c.get("/api/sessions/dev1/messages?direction=in", headers=auth)).json()[
        "messages"
    ][0]
    r = await c.post(f"/api/sessions/dev1/messages/{incoming['id']}/read", headers=auth)
    assert r.status_code == 200
    assert phone_log(wad)[-1]["command"] == "mark_read"
    r = await c.patch(
        f"/api/sessions/dev1/messages/{incoming['id']}", headers=auth, json={"text": "nope"}
    )
    assert r.status_code == 400
    r = await c.post(f"/api/sessions/dev1/messages/{first['id']}/read", headers=auth)
    assert r.status_code == 400
    r = await c.post("/api/sessions/dev1/messages/nope/reaction", headers=auth, json={"emoji": "x"})
    assert r.status_code == 404
    r = await c.post(
        "/api/sessions/dev1/presence", headers=auth, json={"to": "15550002222", "state": "typing"}
    )
    assert r.status_code == 200 and phone_log(wad)[-1]["state"] == "typing"


async def test_idempotency_key_sends_once(wad: Running) -> None:
    auth = await linked(wad)
    body = {"to": "15550002222", "text": "only once"}
    headers = {**auth, "Idempotency-Key": "order-42"}
    first = await wad.client.post("/api/sessions/dev1/messages", headers=headers, json=body)
    again = await wad.client.post("/api/sessions/dev1/messages", headers=headers, json=body)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert [e["text"] for e in phone_log(wad)] == ["only once"]
    other = await wad.client.post(
        "/api/sessions/dev1/messages", headers=headers, json={**body, "text": "different"}
    )
    assert other.status_code == 409


async def test_numbers_groups_and_group_send(wad: Running) -> None:
    auth = await linked(wad)
    c = wad.client
    r = await c.post(
        "/api/sessions/dev1/contacts/check",
        headers=auth,
        json={"numbers": ["15550002222", "+1 555 000 0000"]},
    )
    assert r.json()["results"] == [
        {"number": "15550002222", "exists": True, "jid": "15550002222@s.whatsapp.net"},
        {"number": "15550000000", "exists": False, "jid": None},
    ]
    r = await c.post(
        "/api/simulator/sessions/dev1/groups",
        headers=wad.admin,
        json={"name": "Team", "participants": ["15550001111", "15550002222"]},
    )
    group = r.json()["group"]
    listed = (await c.get("/api/sessions/dev1/groups", headers=auth)).json()["groups"]
    assert listed == [group] and group["name"] == "Team"
    assert [p["jid"] for p in group["participants"]] == [
        "15550001111@s.whatsapp.net",
        "15550002222@s.whatsapp.net",
    ]
    one = (await c.get(f"/api/sessions/dev1/groups/{group['id']}", headers=auth)).json()
    assert one["group"] == group
    r = await c.post(
        "/api/sessions/dev1/messages", headers=auth, json={"to": group["id"], "text": "hello team"}
    )
    assert r.status_code == 200 and phone_log(wad)[-1]["to"] == group["id"]
    r = await c.post(
        "/api/sessions/dev1/messages",
        headers=auth,
        json={"to": "120363000000000000@g.us", "text": "nobody"},
    )
    assert r.status_code == 404
    r = await c.post(
        "/api/sessions/dev1/messages", headers=auth, json={"to": "15550000000", "text": "not there"}
    )
    assert r.status_code == 400 and "not on WhatsApp" in r.json()["error"]


async def test_pairing_by_code(wad: Running) -> None:
    c = wad.client
    await c.post("/api/sessions", json={"deviceId": "dev1"}, headers=wad.admin)
    await wad.wait_state("dev1", "waiting_qr")
    r = await c.post(
        "/api/sessions/dev1/pair-code", headers=wad.admin, json={"phoneNumber": "15550001111"}
    )
    code = r.json()["code"]
    assert r.status_code == 200 and len(code.replace("-", "")) == 8
    r = await c.post(
        "/api/simulator/sessions/dev1/enter-code", headers=wad.admin, json={"code": "0000-0000"}
    )
    assert r.status_code == 400
    r = await c.post(
        "/api/simulator/sessions/dev1/enter-code", headers=wad.admin, json={"code": code}
    )
    assert r.status_code == 200
    await wad.wait_state("dev1", "connected")
    row = (await c.get("/api/sessions/dev1", headers=wad.admin)).json()["session"]
    assert row["phoneNumber"] == "15550001111"
    r = await c.post(
        "/api/sessions/dev1/pair-code", headers=wad.admin, json={"phoneNumber": "15550001111"}
    )
    assert r.status_code == 409


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ({"type": "image", "media": {"data": b64(PNG), "mimetype": "application/pdf"}}, "image/"),
        ({"type": "image", "media": {"data": "!!!", "mimetype": "image/png"}}, "base64"),
        ({"type": "image"}, "needs media"),
        (
            {
                "type": "sticker",
                "caption": "x",
                "media": {"data": b64(PNG), "mimetype": "image/webp"},
            },
            "no caption",
        ),
        ({"type": "location", "location": {"latitude": 91, "longitude": 0}}, "range"),
        ({"type": "contact", "contact": {"displayName": "x", "vcard": "nope"}}, "vCard"),
        ({"type": "poll"}, "type"),
        ({"type": "text", "text": "x", "to": "12@example.com"}, "JID"),
        ({"type": "text", "text": "x", "replyTo": "nope"}, "replyTo"),
        (
            {
                "type": "document",
                "media": {"data": b64(b"x"), "mimetype": "text/plain", "fileName": "../etc/passwd"},
            },
            "fileName",
        ),
    ],
)
async def test_send_validation(wad: Running, spec: dict, words: str) -> None:
    auth = await linked(wad)
    r = await wad.client.post(
        "/api/sessions/dev1/messages", headers=auth, json={"to": "15550002222", **spec}
    )
    assert 400 <= r.status_code < 500 and words in r.json()["error"], r.text
    assert phone_log(wad) == []


async def test_oversize_upload_is_refused_before_reading(wad: Running) -> None:
    auth = await linked(wad)
    # A declared length over the limit is refused from the headers alone: the
    # client sends no byte of the body and still gets its answer.
    host, port = wad.url.removeprefix("http://").split(":")
    stream = await trio.open_tcp_stream(host, int(port))
    async with stream:
        await stream.send_all(
            b"POST /api/sessions/dev1/messages HTTP/1.1\r\nHost: x\r\n"
            + f"Authorization: {auth['Authorization']}\r\n".encode()
            + b"Content-Type: multipart/form-data; boundary=x\r\n"
            + f"Content-Length: {200 * 1024 * 1024}\r\n\r\n".encode()
        )
        reply = await stream.receive_some(65536)
    assert reply.startswith(b"HTTP/1.1 413")
    # A sticker over its own 1 MiB limit: streamed to disk, stopped, nothing sent.
    r = await wad.client.post(
        "/api/sessions/dev1/messages",
        headers=auth,
        data={"type": "sticker", "to": "15550002222"},
        files={"file": ("s.webp", os.urandom(1024 * 1024 + 10), "image/webp")},
    )
    assert r.status_code == 413 and phone_log(wad) == []
    leftovers = list((wad.daemon.supervisor.folder("dev1") / "media").iterdir())
    assert leftovers == []
