"""LID and phone number, always both: through a real daemon on loopback, with the
simulator's contacts (each virtual number has a LID) writing by phone number, by LID
only, and by a LID the engine cannot map; sends to a LID and to a number reach the
same virtual phone."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Running

from wad.engines.simulator.contacts import lid_for, number_for

PEER = "15550002222"
PEER_JID = f"{PEER}@s.whatsapp.net"


async def linked(wad: Running) -> dict[str, str]:
    return {"Authorization": f"Bearer {await wad.connected_key('dev1')}"}


async def incoming(wad: Running, **body: Any) -> list[dict[str, Any]]:
    """Deliver through the simulator's route; the pushed ``message`` event's payload."""
    with wad.daemon.events.subscribe() as events:
        r = await wad.client.post(
            "/api/simulator/sessions/dev1/incoming", headers=wad.admin, json=body
        )
        assert r.status_code == 200, r.text
        async for event in events:
            if event.type == "message":
                return [event.payload, r.json()]
    raise AssertionError("no message event")


def test_a_virtual_number_has_one_lid_that_maps_back() -> None:
    lid = lid_for(PEER)
    assert lid.endswith("@lid") and lid != lid_for("15550003333")
    assert lid_for(PEER) == lid and number_for(lid) == PEER
    assert number_for("1@lid") is None and number_for("77@lid") is None
    assert number_for("0123456789@lid") != PEER
    assert number_for(lid_for("0612345678")) == "0612345678"  # a leading zero survives


@pytest.mark.parametrize("addressing", ["pn", "lid"])
async def test_a_contact_writing_by_lid_is_stored_and_pushed_with_its_phone(
    wad: Running, addressing: str
) -> None:
    auth = await linked(wad)
    payload, _ = await incoming(wad, **{"from": PEER, "message": "hi", "addressing": addressing})
    assert payload["from"] == PEER_JID and payload["chat"] == PEER_JID
    assert payload["fromPhone"] == PEER_JID and payload["fromLid"] == lid_for(PEER)
    assert payload["chatLid"] == lid_for(PEER)
    (stored,) = (await wad.client.get("/api/sessions/dev1/messages", headers=auth)).json()[
        "messages"
    ]
    assert stored["peer"] == PEER_JID
    assert stored["fields"]["fromPhone"] == PEER_JID
    assert stored["fields"]["fromLid"] == lid_for(PEER)


async def test_a_lid_the_engine_never_mapped_stays_a_lid(wad: Running) -> None:
    auth = await linked(wad)
    payload, _ = await incoming(
        wad, **{"from": PEER, "message": "hi", "addressing": "lid_unmapped"}
    )
    assert payload["from"] == payload["chat"] == payload["fromLid"] == lid_for(PEER)
    assert "fromPhone" not in payload
    (stored,) = (await wad.client.get("/api/sessions/dev1/messages", headers=auth)).json()[
        "messages"
    ]
    assert stored["peer"] == lid_for(PEER)


async def test_sends_to_a_lid_and_to_the_number_reach_the_same_phone(wad: Running) -> None:
    auth = await linked(wad)
    for to in (PEER, PEER_JID, lid_for(PEER)):
        r = await wad.client.post(
            "/api/sessions/dev1/messages", headers=auth, json={"to": to, "text": f"to {to}"}
        )
        assert r.status_code == 200, r.text
    log = wad.engine.sent(wad.daemon.supervisor.folder("dev1"))
    assert [m["to"] for m in log] == [PEER_JID, PEER_JID, lid_for(PEER)]
    assert {m["toPhone"] for m in log} == {PEER_JID}
    # A LID no virtual phone has is not on WhatsApp.
    r = await wad.client.post(
        "/api/sessions/dev1/messages", headers=auth, json={"to": "77@lid", "text": "x"}
    )
    assert r.status_code == 400 and "not on WhatsApp" in r.json()["error"]


async def test_the_ids_route_resolves_either_way(wad: Running) -> None:
    auth = await linked(wad)
    for asked in (PEER, PEER_JID, lid_for(PEER)):
        r = await wad.client.get(f"/api/sessions/dev1/contacts/{asked}/ids", headers=auth)
        assert r.status_code == 200, r.text
        got = r.json()
        assert got["phone"] == PEER_JID and got["lid"] == lid_for(PEER)
        assert got["phoneNumber"] == PEER
    r = await wad.client.get(
        "/api/sessions/dev1/contacts/120363000000000001@g.us/ids", headers=auth
    )
    assert r.status_code == 400
    r = await wad.client.get("/api/sessions/dev1/contacts/nonsense/ids", headers=auth)
    assert r.status_code == 400
    r = await wad.client.get(f"/api/sessions/dev1/contacts/{PEER}/ids")
    assert r.status_code == 401


async def test_mentions_and_receipts_carry_both_ids(wad: Running) -> None:
    auth = await linked(wad)
    other = "15550003333"
    payload, _ = await incoming(
        wad,
        **{"from": PEER, "message": "hey @x", "mentions": [lid_for(other)], "addressing": "lid"},
    )
    assert payload["mentions"] == [f"{other}@s.whatsapp.net"]
    assert payload["mentionIds"] == [
        {
            "jid": f"{other}@s.whatsapp.net",
            "phone": f"{other}@s.whatsapp.net",
            "lid": lid_for(other),
        }
    ]
    sent = (
        await wad.client.post(
            "/api/sessions/dev1/messages", headers=auth, json={"to": lid_for(PEER), "text": "yo"}
        )
    ).json()
    with wad.daemon.events.subscribe() as events:
        r = await wad.client.post(
            "/api/simulator/sessions/dev1/receipt",
            headers=wad.admin,
            json={"messageId": sent["id"], "status": "read"},
        )
        assert r.status_code == 200, r.text
        async for event in events:
            if event.type == "message.ack":
                ack = event.payload
                break
    assert ack["status"] == "read" and ack["fromPhone"] == PEER_JID
    assert ack["fromLid"] == lid_for(PEER) and ack["from"] == PEER_JID


async def test_group_participants_have_both_ids(wad: Running) -> None:
    auth = await linked(wad)
    r = await wad.client.post(
        "/api/simulator/sessions/dev1/groups",
        headers=wad.admin,
        json={"name": "g", "participants": [PEER]},
    )
    assert r.status_code == 201, r.text
    (group,) = (await wad.client.get("/api/sessions/dev1/groups", headers=auth)).json()["groups"]
    (member,) = group["participants"]
    assert member["phone"] == PEER_JID and member["lid"] == lid_for(PEER)


async def test_every_received_message_is_counted_by_stage(wad: Running) -> None:
    await linked(wad)
    link = wad.engine.link("dev1")
    with wad.daemon.events.subscribe() as events:
        for wa_id in ("SIMCOUNT1", "SIMCOUNT2", "SIMCOUNT1"):  # the last one a repeat
            link.emit("message", id=wa_id, chat=PEER_JID, type="text", text="x", timestamp=1)
        link.emit("fault", cause="undecryptable", message="message SIMBAD could not be decrypted")
        link.emit("message", id="SIMCOUNT3", chat=PEER_JID, type="text", text="y", timestamp=1)
        async for event in events:
            if event.type == "message" and event.payload["waId"] == "SIMCOUNT3":
                break
    metrics = (await wad.client.get("/metrics", headers=wad.admin)).text
    assert 'wad_incoming_total{stage="received"} 4' in metrics
    assert 'wad_incoming_total{stage="stored"} 3' in metrics
    assert 'wad_incoming_total{stage="duplicate"} 1' in metrics
    assert 'wad_incoming_total{stage="dropped"} 0' in metrics
    assert 'wad_incoming_total{stage="undecryptable"} 1' in metrics
