"""Contacts and chats, profile and privacy, blocklist, channels and presence through the
REST API of a real daemon on loopback, with the simulator's virtual network: what the
virtual phone sets up is read back through the session's API key, and a presence
reaches a webhook receiver."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import trio
from conftest import Running, make_config, start_daemon
from webhook_receiver import Receiver

from wad.engines.simulator.engine import SimulatorEngine

PHONE = "15550001111"
ADA, BOB, CY = "15550002222", "15550003333", "15550004444"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64 + b"\xff\xd9"


@pytest.fixture
async def hooked(tmp_path: Path, nursery: trio.Nursery):
    config = make_config(tmp_path)
    config.plugin_settings["webhooks"] = {"allow_networks": "127.0.0.0/8", "timeout": 5}
    running = await start_daemon(nursery, config, SimulatorEngine())
    yield running
    await running.close()


class Api:
    """The session's REST API with its key, and the virtual phone's controls (admin)."""

    def __init__(self, wad: Running, key: str, device_id: str = "dev1") -> None:
        self.wad = wad
        self.base = f"/api/sessions/{device_id}"
        self.sim = f"/api/simulator/sessions/{device_id}"
        self.key = {"Authorization": f"Bearer {key}"}

    async def get(self, path: str, status: int = 200, **params: object) -> dict:
        r = await self.wad.client.get(self.base + path, headers=self.key, params=params)
        assert r.status_code == status, r.text
        return r.json()

    async def call(self, method: str, path: str, status: int = 200, **body: object) -> dict:
        r = await self.wad.client.request(method, self.base + path, headers=self.key, json=body)
        assert r.status_code == status, r.text
        return r.json()

    async def phone(self, path: str, status: int = 200, **body: object) -> dict:
        r = await self.wad.client.post(self.sim + path, headers=self.wad.admin, json=body)
        assert r.status_code == status, r.text
        return r.json()


async def connected(wad: Running) -> Api:
    return Api(wad, await wad.connected_key("dev1", PHONE))


async def test_contacts_search_and_paging(wad: Running) -> None:
    api = await connected(wad)
    await api.phone("/contacts", 201, phoneNumber=ADA, name="Ada Lovelace", about="Engines")
    await api.phone("/contacts", 201, phoneNumber=BOB, name="bob", businessName="Bob's Bikes")
    await api.phone("/contacts", 201, phoneNumber=CY, picture="cy1")
    # A stranger who writes is known by the push name they gave themselves.
    await api.phone("/incoming", **{"from": "15550005555", "message": "hi"})

    first = await api.get("/contacts", limit=2)
    assert [c["jid"] for c in first["contacts"]] == [
        f"{CY}@s.whatsapp.net",  # no name sorts first
        f"{ADA}@s.whatsapp.net",
    ]
    assert first["nextCursor"]
    second = await api.get("/contacts", limit=2, cursor=first["nextCursor"])
    assert [c["name"] or c["pushName"] for c in second["contacts"]] == ["bob", "Phone 5555"]
    assert second["nextCursor"] is None
    bob = second["contacts"][0]
    assert bob["isBusiness"] and bob["businessName"] == "Bob's Bikes"
    assert bob["phoneNumber"] == BOB

    found = await api.get("/contacts", q="LOVE")
    assert [c["name"] for c in found["contacts"]] == ["Ada Lovelace"]
    assert (await api.get("/contacts", q="4444"))["contacts"][0]["jid"].startswith(CY)
    with_pictures = await api.get("/contacts", q=CY, pictures="true")
    assert with_pictures["contacts"][0]["pictureUrl"].endswith("/cy1.jpg")
    assert "pictureUrl" not in found["contacts"][0]

    profile = await api.get(f"/contacts/{ADA}/profile")
    assert profile["about"] == "Engines" and profile["pictureUrl"] is None
    assert (await api.get("/contacts", 400, limit=0))["code"] == "bad_request"
    assert (await api.get("/contacts", 400, cursor="!!"))["code"] == "bad_request"
    # The dashboard reads them with the admin token.
    r = await wad.client.get(api.base + "/contacts", headers=wad.admin, params={"q": "bob"})
    assert r.status_code == 200 and len(r.json()["contacts"]) == 1


async def test_chats_with_unread_counts_and_a_chat_paged_by_time(wad: Running) -> None:
    api = await connected(wad)
    for n in range(5):
        await api.phone("/incoming", **{"from": ADA, "message": f"ada {n}"})
    await api.phone("/incoming", **{"from": BOB, "message": "bob 0"})
    sent = await api.call("POST", "/messages", to=ADA, text="hello Ada")
    # The account's phone pinned the chat with Bob: the session sees it synced.
    await api.phone("/chat-settings", chat=f"{BOB}@s.whatsapp.net", pinned=True)

    page = await api.get("/chats", limit=1)
    (ada,) = page["chats"]
    assert ada["jid"] == f"{ADA}@s.whatsapp.net" and ada["unreadCount"] == 5
    assert ada["lastMessage"]["id"] == sent["id"] and ada["pinned"] is False
    rest = await api.get("/chats", limit=1, cursor=page["nextCursor"])
    (bob,) = rest["chats"]
    assert bob["unreadCount"] == 1 and bob["pinned"] is True and bob["archived"] is False
    assert rest["nextCursor"] is None

    # Reading one marks it read: one fewer unread.
    newest_in = (await api.get(f"/chats/{ADA}/messages", limit=2))["messages"][1]
    await api.call("POST", f"/messages/{newest_in['id']}/read")
    assert (await api.get("/chats", limit=1))["chats"][0]["unreadCount"] == 4

    seen: list[str] = []
    before = None
    while True:
        params = {"limit": 2} | ({"before": before} if before else {})
        chunk = await api.get(f"/chats/{ADA}@s.whatsapp.net/messages", **params)
        seen += [m["body"] for m in chunk["messages"]]
        before = chunk["nextBefore"]
        if before is None:
            break
    assert seen == ["hello Ada", "ada 4", "ada 3", "ada 2", "ada 1", "ada 0"]
    old = await api.get(f"/chats/{ADA}/messages", before="2000-01-01T00:00:00Z")
    assert old["messages"] == [] and old["nextBefore"] is None
    assert (await api.get(f"/chats/{ADA}/messages", 400, before="yesterday"))["code"]


async def test_block_and_unblock(wad: Running) -> None:
    api = await connected(wad)
    blocked = await api.call("POST", "/blocklist", jid=ADA)
    assert blocked["blocked"] and blocked["jids"] == [f"{ADA}@s.whatsapp.net"]
    assert (await api.get("/blocklist"))["jids"] == [f"{ADA}@s.whatsapp.net"]

    # The network refuses what a blocked contact sends, and the send answers clearly.
    refused = await api.phone("/incoming", 409, **{"from": ADA, "message": "let me in"})
    assert "blocked" in refused["error"]
    failed = await api.call("POST", "/messages", 409, to=ADA, text="hi")
    assert "blocked" in failed["error"] and failed["code"] == "conflict"
    assert (await api.get("/chats"))["chats"][0]["lastMessage"]["status"] == "failed"

    unblocked = await api.call("DELETE", f"/blocklist/{ADA}@s.whatsapp.net")
    assert not unblocked["blocked"] and unblocked["jids"] == []
    await api.phone("/incoming", **{"from": ADA, "message": "thanks"})
    assert (await api.call("POST", "/messages", to=ADA, text="welcome"))["status"] == "sent"
    assert (await api.call("POST", "/blocklist", 400, jid="120363000000000001@g.us"))["code"]


async def test_profile_and_privacy(wad: Running) -> None:
    api = await connected(wad)
    updated = await api.call("PATCH", "/profile", pushName="Sales", about="Open 9-5")
    assert updated["pushName"] == "Sales" and updated["about"] == "Open 9-5"
    profile = await api.get("/profile")
    assert profile["about"] == "Open 9-5" and profile["jid"] == f"{PHONE}@s.whatsapp.net"
    assert profile["pictureUrl"] is None

    data = base64.b64encode(JPEG).decode()
    assert (await api.call("PUT", "/profile/picture", data=data))["pictureId"]
    assert (await api.get("/profile"))["pictureUrl"].endswith(".jpg")
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()
    assert (await api.call("PUT", "/profile/picture", 400, data=png))["code"] == "bad_request"
    await api.call("DELETE", "/profile/picture")
    assert (await api.get("/profile"))["pictureUrl"] is None
    assert (await api.call("PATCH", "/profile", 400, about="x" * 140))["code"] == "bad_request"

    privacy = (await api.get("/privacy"))["settings"]
    assert privacy["lastSeen"] == "all" and privacy["readReceipts"] == "all"
    changed = await api.call("PATCH", "/privacy", lastSeen="contacts", readReceipts="none")
    assert changed["settings"]["lastSeen"] == "contacts"
    assert (await api.get("/privacy"))["settings"]["readReceipts"] == "none"
    wrong = await api.call("PATCH", "/privacy", 400, online="contacts")
    assert wrong["code"] == "bad_request"


async def test_channels(wad: Running) -> None:
    api = await connected(wad)
    news = (await api.phone("/channels", 201, name="News", role="subscriber"))["channel"]
    ours = (await api.phone("/channels", 201, name="Ours", role="admin"))["channel"]
    assert [c["name"] for c in (await api.get("/channels"))["channels"]] == ["Ours"]
    await api.call("PUT", f"/channels/{news['id']}/follow")
    assert {c["name"] for c in (await api.get("/channels"))["channels"]} == {"News", "Ours"}

    for n in range(3):
        await api.phone(f"/channels/{news['id']}/messages", 201, text=f"news {n}")
    page = await api.get(f"/channels/{news['id']}/messages", limit=2)
    assert [m["text"] for m in page["messages"]] == ["news 2", "news 1"]
    rest = await api.get(f"/channels/{news['id']}/messages", limit=2, before=page["nextBefore"])
    assert [m["text"] for m in rest["messages"]] == ["news 0"]

    posted = await api.call("POST", f"/channels/{ours['id']}/messages", text="launch day")
    assert posted["status"] == "sent" and posted["to"] == ours["id"]
    listed = await api.get(f"/channels/{ours['id']}/messages")
    assert [m["text"] for m in listed["messages"]] == ["launch day"]
    refused = await api.call("POST", f"/channels/{news['id']}/messages", 403, text="mine")
    assert refused["code"] == "forbidden"

    await api.call("DELETE", f"/channels/{news['id']}/follow")
    assert [c["name"] for c in (await api.get("/channels"))["channels"]] == ["Ours"]
    missing = await api.call("PUT", "/channels/120363999999999999@newsletter/follow", 404)
    assert missing["code"] == "not_found"
    assert (await api.call("PUT", "/channels/not-a-channel/follow", 400))["code"]


async def test_presence_subscription_reaches_a_webhook(
    hooked: Running, nursery: trio.Nursery
) -> None:
    receiver = Receiver()
    await nursery.start(receiver.serve)
    api = await connected(hooked)
    r = await hooked.client.post(
        api.base + "/webhooks",
        headers=hooked.admin,
        json={"url": receiver.url, "events": ["presence"]},
    )
    assert r.status_code == 201, r.text
    await api.phone("/contacts", 201, phoneNumber=ADA, name="Ada")

    # Not subscribed yet: the network tells nobody.
    assert not (await api.phone("/presence", **{"from": ADA, "state": "available"}))["told"]
    subscribed = await api.call("POST", "/presence/subscribe", jid=ADA)
    assert subscribed == {"success": True, "jid": f"{ADA}@s.whatsapp.net", "subscribed": True}
    assert (await api.phone("/presence", **{"from": ADA, "state": "unavailable"}))["told"]

    def presences() -> list[dict]:
        return [q.json for q in receiver.answered() if q.json["event"] == "presence"]

    with trio.fail_after(10):
        await receiver.wait_until(lambda: len(presences()) >= 2)
    first, second = presences()
    # Subscribing answers with the current presence, then each change follows.
    assert first["payload"] == {"jid": f"{ADA}@s.whatsapp.net", "state": "available"}
    assert second["payload"]["state"] == "unavailable" and second["payload"]["lastSeen"] > 0
    assert second["session"] == "dev1"
    # The same events are in the session's stored events (the SSE stream carries them).
    r = await hooked.client.get(
        api.base + "/events", headers=hooked.admin, params={"types": "presence"}
    )
    assert [e["payload"]["state"] for e in r.json()["events"]] == ["unavailable", "available"]


async def test_people_need_a_connected_session_and_the_right_key(wad: Running) -> None:
    api = await connected(wad)
    other = await wad.connected_key("dev2", "15550009999")
    r = await wad.client.get(api.base + "/contacts", headers={"Authorization": f"Bearer {other}"})
    assert r.status_code == 401
    r = await wad.client.post(api.base + "/blocklist", headers=wad.admin, json={"jid": ADA})
    assert r.status_code == 403  # a change needs the session's own key
    wad.engine.link("dev1").unlink()
    await wad.wait_state("dev1", "logged_out")
    assert (await api.get("/contacts", 409))["code"] == "conflict"


async def test_the_document_names_each_new_schema_once(wad: Running) -> None:
    document = (await wad.client.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    item = schemas["ContactPage"]["properties"]["contacts"]["items"]["$ref"].rsplit("/", 1)[1]
    assert "jid" in schemas[item]["properties"]  # not the send's contact card
    assert "vcard" in schemas["Contact"]["properties"]
    operations = {op["operationId"] for path in document["paths"].values() for op in path.values()}
    assert {
        "listContacts",
        "getContactProfile",
        "listChats",
        "listChatMessages",
        "getProfile",
        "updateProfile",
        "setProfilePicture",
        "removeProfilePicture",
        "getPrivacy",
        "updatePrivacy",
        "getBlocklist",
        "blockContact",
        "unblockContact",
        "listChannels",
        "followChannel",
        "unfollowChannel",
        "listChannelMessages",
        "postToChannel",
        "subscribePresence",
    } <= operations
    assert "presence" in schemas["Event"]["discriminator"]["mapping"]
