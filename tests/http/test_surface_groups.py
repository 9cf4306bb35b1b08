"""Groups, polls and status through the REST API of a real daemon on loopback (the
simulator's virtual groups and contacts), each event checked where a subscriber
gets it: the webhook receiver."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio
from conftest import Running, make_config, start_daemon
from webhook_receiver import Receiver

from wad.engines.simulator.engine import SimulatorEngine

ME, ANA, BEN, CAL = "15550001111", "15550002222", "15550003333", "15550004444"
SHY = "15550005403"  # refuses being added: its privacy settings
GHOST = "15550060000"  # not on WhatsApp
WEBHOOKS = {"allow_networks": "127.0.0.0/8", "retry_schedule": "10ms,20ms", "timeout": 5}
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


def jid(number: str) -> str:
    return f"{number}@s.whatsapp.net"


@pytest.fixture
async def hooked(tmp_path: Path, nursery: trio.Nursery) -> AsyncIterator[Running]:
    config = make_config(tmp_path)
    config.plugin_settings["webhooks"] = WEBHOOKS
    running = await start_daemon(nursery, config, SimulatorEngine())
    yield running
    await running.close()


@pytest.fixture
async def receiver(nursery: trio.Nursery) -> Receiver:
    receiver = Receiver()
    await nursery.start(receiver.serve)
    return receiver


class Api:
    def __init__(self, wad: Running, key: str, device_id: str = "dev1") -> None:
        self.wad, self.device_id = wad, device_id
        self.headers = {"Authorization": f"Bearer {key}"}

    async def call(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        url = f"/api/sessions/{self.device_id}{path}"
        r = await self.wad.client.request(method, url, headers=self.headers, **kw)
        assert r.status_code == status, r.text
        return r.json()


async def events(receiver: Receiver, type_: str, count: int) -> list[dict[str, Any]]:
    """The first ``count`` deliveries of ``type_`` the receiver got (waiting for them)."""

    def found() -> list[dict[str, Any]]:
        return [r.json for r in receiver.requests if r.json["event"] == type_]

    with trio.fail_after(10):
        await receiver.wait_until(lambda: len(found()) >= count)
    return found()[:count]


async def test_the_whole_surface(hooked: Running, receiver: Receiver) -> None:
    wad = hooked
    key = await wad.connected_key("dev1", ME)
    r = await wad.client.post(
        "/api/sessions/dev1/webhooks", headers=wad.admin, json={"url": receiver.url + "/hook"}
    )
    assert r.status_code == 201, r.text
    api = Api(wad, key)

    # Create a group with two virtual contacts; one refuses, one is not on WhatsApp.
    created = await api.call(
        "POST", "/groups", 201, json={"subject": "Team", "participants": [ANA, BEN, SHY, GHOST]}
    )
    group = created["group"]
    gid = group["id"]
    assert group["name"] == "Team"
    assert {p["jid"] for p in group["participants"]} == {jid(ME), jid(ANA), jid(BEN)}
    results = {r["jid"]: r for r in created["participants"]}
    assert results[jid(ANA)]["status"] == results[jid(BEN)]["status"] == 200
    assert results[jid(SHY)]["status"] == 403 and results[jid(SHY)]["inviteCode"]
    assert results[jid(GHOST)]["status"] == 404
    (joined,) = await events(receiver, "group.participants", 1)
    assert joined["payload"]["action"] == "join" and joined["payload"]["group"] == gid
    assert joined["payload"]["subject"] == "Team"

    # Rename it, describe it, picture and settings: each a group.update.
    await api.call("PUT", f"/groups/{gid}/subject", json={"subject": "Team 2"})
    await api.call("PUT", f"/groups/{gid}/description", json={"description": "for us"})
    picture = await api.call(
        "PUT", f"/groups/{gid}/picture", json={"data": base64.b64encode(JPEG).decode()}
    )
    assert picture["pictureId"]
    settings = await api.call(
        "PATCH", f"/groups/{gid}/settings", json={"announce": True, "disappearing": 86400}
    )
    assert settings["announce"] is True and settings["disappearing"] == 86400
    updates = [e["payload"] for e in await events(receiver, "group.update", 4)]
    assert updates[0]["subject"] == "Team 2" and updates[0]["by"]["phone"] == jid(ME)
    assert updates[0]["by"]["lid"].endswith("@lid")
    assert updates[1]["description"] == "for us"
    assert updates[2]["pictureId"] == picture["pictureId"]
    assert updates[3]["announce"] is True and updates[3]["disappearing"] == 86400
    shown = (await api.call("GET", f"/groups/{gid}"))["group"]
    assert shown["name"] == "Team 2" and shown["topic"] == "for us"

    # Promote one; promoting someone who is not a member is refused for that one only.
    promoted = await api.call(
        "POST", f"/groups/{gid}/participants/promote", json={"participants": [ANA, CAL]}
    )
    assert [(r["jid"], r["status"]) for r in promoted["results"]] == [
        (jid(ANA), 200),
        (jid(CAL), 404),
    ]
    promotion = (await events(receiver, "group.participants", 2))[1]["payload"]
    assert promotion["action"] == "promote"
    (who,) = promotion["participants"]
    assert who["phone"] == jid(ANA) and who["lid"].endswith("@lid")
    admins = {
        p["jid"]
        for p in (await api.call("GET", f"/groups/{gid}"))["group"]["participants"]
        if p["isAdmin"]
    }
    assert admins == {jid(ME), jid(ANA)}

    # Get the invite link and revoke it: the old one stops working.
    first = await api.call("GET", f"/groups/{gid}/invite")
    assert first["link"] == "https://chat.whatsapp.com/" + first["code"]
    assert (await api.call("GET", f"/groups/{gid}/invite"))["code"] == first["code"]
    second = await api.call("DELETE", f"/groups/{gid}/invite")
    assert second["code"] != first["code"]
    revoked = (await events(receiver, "group.update", 5))[4]["payload"]
    assert revoked["inviteLinkRevoked"] is True
    r = await wad.client.post(
        "/api/simulator/join", headers=wad.admin, json={"from": CAL, "link": first["link"]}
    )
    assert r.status_code == 404, r.text

    # A third joins by the new link.
    r = await wad.client.post(
        "/api/simulator/join", headers=wad.admin, json={"from": CAL, "link": second["link"]}
    )
    assert r.status_code == 200 and r.json()["pending"] is False, r.text
    joined_cal = (await events(receiver, "group.participants", 3))[2]["payload"]
    assert joined_cal["action"] == "join" and joined_cal["participants"][0]["phone"] == jid(CAL)
    members = (await api.call("GET", f"/groups/{gid}"))["group"]["participants"]
    assert jid(CAL) in {p["jid"] for p in members}

    # Send a poll to the group and receive votes: the latest of each voter counts.
    sent = await api.call(
        "POST",
        "/polls",
        json={"to": gid, "question": "Lunch?", "options": ["Pizza", "Sushi", "Salad"]},
    )
    assert sent["type"] == "poll" and sent["to"] == gid
    poll_id = sent["id"]
    on_phone = wad.engine.sent(wad.daemon.supervisor.folder("dev1"))[-1]
    assert on_phone["poll"]["options"] == ["Pizza", "Sushi", "Salad"]
    for voter, options in ((ANA, ["Sushi"]), (BEN, ["Pizza"]), (ANA, ["Salad"])):
        r = await wad.client.post(
            "/api/simulator/sessions/dev1/vote",
            headers=wad.admin,
            json={"from": voter, "messageId": poll_id, "options": options},
        )
        assert r.status_code == 200, r.text
    votes = [e["payload"] for e in await events(receiver, "poll.vote", 3)]
    assert [(v["voter"]["phone"], v["options"]) for v in votes] == [
        (jid(ANA), ["Sushi"]),
        (jid(BEN), ["Pizza"]),
        (jid(ANA), ["Salad"]),
    ]
    assert votes[0]["pollId"] == poll_id and votes[0]["chat"] == gid
    tally = (await api.call("GET", f"/messages/{poll_id}/poll"))["poll"]
    assert tally["question"] == "Lunch?"
    assert tally["options"] == [
        {"name": "Pizza", "votes": 1},
        {"name": "Sushi", "votes": 0},
        {"name": "Salad", "votes": 1},
    ]
    assert {v["voter"]["phone"]: v["options"] for v in tally["votes"]} == {
        jid(ANA): ["Salad"],
        jid(BEN): ["Pizza"],
    }

    # Post a status; receive one from a contact.
    posted = await api.call("POST", "/status", json={"type": "text", "text": "hello world"})
    assert posted["to"] == "status@broadcast" and posted["type"] == "text"
    on_phone = wad.engine.sent(wad.daemon.supervisor.folder("dev1"))[-1]
    assert on_phone["to"] == "status@broadcast" and on_phone["text"] == "hello world"
    r = await wad.client.post(
        "/api/simulator/sessions/dev1/status",
        headers=wad.admin,
        json={"from": BEN, "text": "at the beach"},
    )
    assert r.status_code == 200, r.text
    (status,) = await events(receiver, "status", 1)
    assert status["payload"]["chat"] == "status@broadcast"
    assert status["payload"]["text"] == "at the beach" and status["payload"]["isStatus"] is True
    assert status["payload"]["from"] == jid(BEN)
    sent_events = [e["payload"] for e in await events(receiver, "message.sent", 2)]
    assert [e["type"] for e in sent_events] == ["poll", "text"]

    # Demote, remove, and leave.
    await api.call("POST", f"/groups/{gid}/participants/demote", json={"participants": [ANA]})
    removed = await api.call(
        "POST", f"/groups/{gid}/participants/remove", json={"participants": [BEN]}
    )
    assert removed["results"] == [{"jid": jid(BEN), "status": 200}]
    await api.call("POST", f"/groups/{gid}/leave")
    changes = [e["payload"]["action"] for e in await events(receiver, "group.participants", 6)]
    assert changes[3:] == ["demote", "remove", "leave"]
    assert gid not in {g["id"] for g in (await api.call("GET", "/groups"))["groups"]}


async def test_join_requests_and_joining_by_link(hooked: Running, receiver: Receiver) -> None:
    wad = hooked
    key = await wad.connected_key("dev1", ME)
    other_key = await wad.connected_key("dev2", ANA)
    api, other = Api(wad, key), Api(wad, other_key, "dev2")
    gid = (await api.call("POST", "/groups", 201, json={"subject": "Club"}))["group"]["id"]
    code = (await api.call("GET", f"/groups/{gid}/invite"))["code"]

    # Another session of this daemon joins by the code: both see it.
    assert (await other.call("POST", "/groups/join", json={"link": code}))["id"] == gid
    assert gid in {g["id"] for g in (await other.call("GET", "/groups"))["groups"]}
    again = await other.call("POST", "/groups/join", 409, json={"link": code})
    assert again["code"] == "conflict"

    # A contact asks to join; the admin lists, approves one and rejects another.
    for number in (BEN, CAL):
        r = await wad.client.post(
            "/api/simulator/join",
            headers=wad.admin,
            json={"from": number, "link": code, "ask": True},
        )
        assert r.json()["pending"] is True, r.text
    listed = (await api.call("GET", f"/groups/{gid}/requests"))["requests"]
    assert [(q["phone"], q["lid"] is not None) for q in listed] == [
        (jid(BEN), True),
        (jid(CAL), True),
    ]
    approved = await api.call(
        "POST", f"/groups/{gid}/requests/approve", json={"participants": [BEN]}
    )
    assert approved["results"] == [{"jid": jid(BEN), "status": 200}]
    rejected = await api.call(
        "POST", f"/groups/{gid}/requests/reject", json={"participants": [CAL, GHOST]}
    )
    assert [r["status"] for r in rejected["results"]] == [200, 404]
    assert (await api.call("GET", f"/groups/{gid}/requests"))["requests"] == []
    members = {p["jid"] for p in (await api.call("GET", f"/groups/{gid}"))["group"]["participants"]}
    assert members == {jid(ME), jid(ANA), jid(BEN)}

    # Only admins change settings: the member that joined by link is refused.
    refused = await other.call("PATCH", f"/groups/{gid}/settings", 409, json={"locked": True})
    assert "admin" in refused["error"]


async def test_bad_requests_are_refused_before_whatsapp(hooked: Running) -> None:
    key = await hooked.connected_key("dev1", ME)
    api = Api(hooked, key)
    for method, path, body in (
        ("POST", "/groups", {"subject": ""}),
        ("POST", "/groups", {"subject": "x", "participants": ["120363000000000001@g.us"]}),
        ("PUT", "/groups/15550002222/subject", {"subject": "x"}),
        ("PATCH", "/groups/120363000000000001@g.us/settings", {}),
        ("PATCH", "/groups/120363000000000001@g.us/settings", {"disappearing": 5}),
        (
            "PUT",
            "/groups/120363000000000001@g.us/picture",
            {"data": base64.b64encode(b"GIF89a").decode()},
        ),
        ("POST", "/groups/join", {"link": "not a link!"}),
        ("POST", "/polls", {"to": ANA, "question": "?", "options": ["a"]}),
        ("POST", "/polls", {"to": ANA, "question": "?", "options": ["a", "a"]}),
        (
            "POST",
            "/polls",
            {"to": ANA, "question": "?", "options": ["a", "b"], "selectableCount": 3},
        ),
        ("POST", "/status", {"type": "audio"}),
    ):
        answer = await api.call(method, path, 400, json=body)
        assert answer["code"] == "bad_request", (path, body)
    missing = await api.call(
        "PUT", "/groups/120363000000000001@g.us/subject", 404, json={"subject": "x"}
    )
    assert missing["code"] == "not_found"
    text = await api.call("POST", "/messages", json={"to": ANA, "type": "text", "text": "hi"})
    not_poll = await api.call("GET", f"/messages/{text['id']}/poll", 400)
    assert not_poll["code"] == "bad_request"
