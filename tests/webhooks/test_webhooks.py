"""The webhook plugin with the simulator: signed deliveries to a local receiver, retries,
the delivery log, disabling, redelivery, the REST and control doors."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import trio
import trio.testing
from conftest import ADMIN_TOKEN, Running, make_config, start_daemon
from standardwebhooks import Webhook
from webhook_receiver import Received, Receiver

from wad.engines.simulator.engine import SimulatorEngine
from wad.engines.simulator.operations import SimulatorOperations
from wad.errors import WadError
from wad.sessions.event_types import EVENT_TYPES

SETTINGS = {
    "allow_networks": "127.0.0.0/8",
    "retry_schedule": "10ms,20ms,40ms,80ms,100ms",
    "timeout": 5,
}
PHONE = "15550002222"


async def start(tmp_path: Path, nursery: trio.Nursery, **settings: object) -> Running:
    config = make_config(tmp_path)
    config.plugin_settings["webhooks"] = {**SETTINGS, **settings}
    return await start_daemon(nursery, config, SimulatorEngine())


@pytest.fixture
async def hooked(tmp_path: Path, nursery: trio.Nursery):
    running = await start(tmp_path, nursery)
    yield running
    await running.close()


@pytest.fixture
async def receiver(nursery: trio.Nursery) -> Receiver:
    receiver = Receiver()
    await nursery.start(receiver.serve)
    return receiver


async def connected(wad: Running, device_id: str = "dev1") -> str:
    """A connected session; returns its API key."""
    await wad.client.post("/api/sessions", json={"deviceId": device_id}, headers=wad.admin)
    await wad.wait_state(device_id, "waiting_qr")
    wad.engine.link(device_id).scan("15550001111")
    await wad.wait_state(device_id, "connected")
    r = await wad.client.put(f"/api/sessions/{device_id}/api-key", json={}, headers=wad.admin)
    return r.json()["apiKey"]


async def add_webhook(wad: Running, url: str, device_id: str = "dev1", **body: object) -> dict:
    r = await wad.client.post(
        f"/api/sessions/{device_id}/webhooks", headers=wad.admin, json={"url": url, **body}
    )
    assert r.status_code == 201, r.text
    return r.json()["webhook"]


def webhooks(wad: Running):
    """The webhook plugin's operations (what the REST routes call), for synchronous checks."""
    return wad.daemon.plugins.get_plugin("webhooks").webhooks


async def until(wad: Running, condition: Callable[[], Awaitable[object]]) -> None:
    """Wait until ``await condition()`` holds; it can only change when attempts are
    recorded (on SQLite the store's reads never wait: no batch is recorded between the
    check and the wait)."""
    worker = wad.daemon.plugins.get_plugin("webhooks").worker
    with trio.fail_after(10):
        while not await condition():
            await worker.wait_recorded()


async def log(wad: Running, hook: dict, **query: object) -> list[dict]:
    page = await webhooks(wad).deliveries("dev1", hook["id"], limit=200, **query)
    return page["deliveries"]


async def disabled(wad: Running, hook: dict) -> bool:
    return not (await webhooks(wad).get("dev1", hook["id"]))["enabled"]


def verified(secret: str, request: Received) -> dict:
    """The payload, once the Standard Webhooks signature checks out."""
    return Webhook(secret).verify(request.body, request.headers)


def of_type(receiver: Receiver, type_: str, ok: bool = True) -> list[Received]:
    return [r for r in receiver.answered(ok) if r.json["event"] == type_]


async def test_message_and_receipt_reach_receiver_signed(
    hooked: Running, receiver: Receiver
) -> None:
    key = await connected(hooked)
    hook = await add_webhook(hooked, receiver.url + "/hook")
    assert hook["secret"].startswith("whsec_") and hook["enabled"] is True
    # Every stored type, in their order (groups, polls and statuses after these).
    assert hook["events"] == list(EVENT_TYPES)
    assert hook["events"][:7] == [
        "session.status",
        "session.qr",
        "message",
        "message.ack",
        "message.sent",
        "history.batch",
        "presence",
    ]
    r = await hooked.client.post(
        "/api/simulator/sessions/dev1/incoming",
        headers=hooked.admin,
        json={"from": PHONE, "message": "hello wad"},
    )
    assert r.status_code == 200
    r = await hooked.client.post(
        "/api/messages/send",
        headers={"Authorization": f"Bearer {key}"},
        json={"deviceId": "dev1", "number": PHONE, "message": "hi"},
    )
    sent_id = r.json()["id"]
    r = await hooked.client.post(
        "/api/simulator/sessions/dev1/receipt",
        headers=hooked.admin,
        json={"messageId": sent_id, "status": "read"},
    )
    assert r.status_code == 200
    with trio.fail_after(10):
        await receiver.wait_until(
            lambda: of_type(receiver, "message") and of_type(receiver, "message.ack")
        )
    (message,) = of_type(receiver, "message")
    (ack,) = of_type(receiver, "message.ack")
    for request in (message, ack):
        payload = verified(hook["secret"], request)
        assert set(payload) == {"id", "event", "session", "seq", "timestamp", "payload"}
        assert request.headers["webhook-id"] == payload["id"]
        assert request.method == "POST" and request.target == "/hook"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["user-agent"].startswith("wad/")
        for secret in (key, ADMIN_TOKEN, hook["secret"]):  # no credential in any payload
            assert secret not in request.body.decode()
    assert verified(hook["secret"], message)["payload"]["text"] == "hello wad"
    assert verified(hook["secret"], message)["session"] == "dev1"
    acked = verified(hook["secret"], ack)["payload"]
    assert acked["id"] == sent_id and acked["status"] == "read"
    assert acked["fromPhone"] == acked["from"]  # who read it, by both ids
    # Someone without the secret cannot forge one.
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "A" * 32).verify(message.body, message.headers)
    r = await hooked.client.get(
        f"/api/sessions/dev1/webhooks/{hook['id']}/deliveries", headers=hooked.admin
    )
    log = r.json()["deliveries"]
    by_event = {d["eventId"]: d for d in log}
    entry = by_event[message.headers["webhook-id"]]
    assert entry["eventType"] == "message"
    assert (
        entry["status"],
        entry["attempts"],
        entry["lastStatusCode"],
        entry["lastError"],
        entry["nextAttemptAt"],
    ) == ("delivered", 1, 200, None, None)


async def test_every_event_arrives_when_every_third_request_fails(
    hooked: Running, receiver: Receiver
) -> None:
    receiver.answer = lambda n, request: 500 if n % 3 == 0 else 204
    await connected(hooked)
    hook = await add_webhook(hooked, receiver.url, events=["message", "message.ack"])
    stored: list[str] = []
    with hooked.daemon.events.subscribe() as events:
        for i in range(30):
            SimulatorOperations(hooked.daemon.services).incoming("dev1", PHONE, f"message {i}")
        async for event in events:
            if event.type == "message":
                stored.append(event.id)
            if len(stored) == 30:
                break
    delivered = lambda: {r.headers["webhook-id"] for r in receiver.answered()}  # noqa: E731
    with trio.fail_after(20):
        await receiver.wait_until(lambda: delivered() >= set(stored))
    failed = receiver.answered(ok=False)
    assert len(failed) >= 10
    tries: dict[str, list[int]] = defaultdict(list)
    for request in receiver.requests:
        payload = verified(hook["secret"], request)
        assert request.headers["webhook-id"] == payload["id"]  # the same id on every try
        tries[payload["id"]].append(request.status or 0)
    # Each event: failures, then exactly one success (nothing is sent again after it).
    assert all(
        statuses[-1] == 204 and set(statuses[:-1]) <= {500} for statuses in tries.values()
    ), dict(tries)
    assert any(statuses == [500, 204] for statuses in tries.values())

    # The log agrees once the last attempts are written.
    async def all_delivered() -> bool:
        return all(d["status"] == "delivered" for d in await log(hooked, hook))

    await until(hooked, all_delivered)
    url = f"/api/sessions/dev1/webhooks/{hook['id']}/deliveries?limit=200"
    entries = (await hooked.client.get(url, headers=hooked.admin)).json()["deliveries"]
    assert len(entries) == 30
    assert {d["eventId"] for d in entries} == set(stored)
    assert sum(d["attempts"] for d in entries) == len(receiver.requests)
    retried = [d for d in entries if d["attempts"] > 1]
    assert retried and all(d["lastStatusCode"] == 204 for d in retried)


async def test_event_filter(hooked: Running, receiver: Receiver) -> None:
    key = await connected(hooked)
    hook = await add_webhook(hooked, receiver.url, events=["message.sent", "message.sent"])
    assert hook["events"] == ["message.sent"]
    SimulatorOperations(hooked.daemon.services).incoming("dev1", PHONE, "not for this hook")
    await hooked.client.post(
        "/api/messages/send",
        headers={"Authorization": f"Bearer {key}"},
        json={"deviceId": "dev1", "number": PHONE, "message": "out"},
    )
    with trio.fail_after(10):
        await receiver.wait_until(lambda: receiver.answered())
    assert [r.json["event"] for r in receiver.requests] == ["message.sent"]


async def test_redirects_are_not_followed(hooked: Running, receiver: Receiver) -> None:
    receiver.answer = lambda n, request: 302
    receiver.extra_headers = [("location", "/elsewhere")]
    await connected(hooked)
    hook = await add_webhook(hooked, receiver.url, events=["message"])
    SimulatorOperations(hooked.daemon.services).incoming("dev1", PHONE, "hi")
    with trio.fail_after(10):
        await receiver.wait_until(lambda: len(receiver.requests) == 6)  # 1 + 5 retries
    assert {r.target for r in receiver.requests} == {"/"}

    async def finished() -> bool:
        return bool((await log(hooked, hook))[0]["status"] != "pending")

    await until(hooked, finished)
    (entry,) = await log(hooked, hook)
    assert entry["status"] == "failed" and entry["attempts"] == 6
    assert entry["lastStatusCode"] == 302
    assert "redirects are not followed" in entry["lastError"]


async def test_gone_stops_and_disables(hooked: Running, receiver: Receiver) -> None:
    receiver.answer = lambda n, request: 410
    await connected(hooked)
    hook = await add_webhook(hooked, receiver.url, events=["message"])
    base = f"/api/sessions/dev1/webhooks/{hook['id']}"
    SimulatorOperations(hooked.daemon.services).incoming("dev1", PHONE, "first")
    await until(hooked, lambda: disabled(hooked, hook))
    webhook = (await hooked.client.get(base, headers=hooked.admin)).json()["webhook"]
    assert webhook["disabledReason"] == "the endpoint answered 410 Gone"
    (entry,) = (await hooked.client.get(base + "/deliveries", headers=hooked.admin)).json()[
        "deliveries"
    ]
    assert (entry["status"], entry["attempts"], entry["lastStatusCode"]) == ("failed", 1, 410)
    # A disabled endpoint gets no new deliveries and cannot be redelivered to.
    SimulatorOperations(hooked.daemon.services).incoming("dev1", PHONE, "second")
    r = await hooked.client.post(f"{base}/deliveries/{entry['id']}/redeliver", headers=hooked.admin)
    assert r.status_code == 409
    assert (
        len(
            (await hooked.client.get(base + "/deliveries", headers=hooked.admin)).json()[
                "deliveries"
            ]
        )
        == 1
    )
    # Enabled again, it takes new events.
    receiver.answer = lambda n, request: 200
    r = await hooked.client.patch(base, headers=hooked.admin, json={"enabled": True})
    assert r.json()["webhook"]["enabled"] is True
    assert r.json()["webhook"]["disabledReason"] is None
    SimulatorOperations(hooked.daemon.services).incoming("dev1", PHONE, "third")
    with trio.fail_after(10):
        await receiver.wait_until(lambda: receiver.answered())
    assert receiver.answered()[0].json["payload"]["text"] == "third"
    assert len(receiver.requests) == 2


async def test_consecutive_failures_disable_endpoint(
    tmp_path: Path, nursery: trio.Nursery, receiver: Receiver
) -> None:
    wad = await start(tmp_path, nursery, retry_schedule="", disable_after=3)
    receiver.answer = lambda n, request: 503
    await connected(wad)
    hook = await add_webhook(wad, receiver.url, events=["message"])
    base = f"/api/sessions/dev1/webhooks/{hook['id']}"
    for i in range(3):
        SimulatorOperations(wad.daemon.services).incoming("dev1", PHONE, f"m{i}")
    await until(wad, lambda: disabled(wad, hook))
    webhook = (await wad.client.get(base, headers=wad.admin)).json()["webhook"]
    assert webhook["consecutiveFailures"] == 3
    assert webhook["disabledReason"] == "3 deliveries in a row failed after every retry"
    assert len(receiver.requests) == 3  # no retries with an empty schedule
    await wad.close()


async def test_success_resets_the_failure_run(
    tmp_path: Path, nursery: trio.Nursery, receiver: Receiver
) -> None:
    wad = await start(tmp_path, nursery, retry_schedule="", disable_after=2)
    texts = ["fail", "ok", "fail"]
    receiver.answer = lambda n, request: 500 if request.json["payload"]["text"] == "fail" else 200
    await connected(wad)
    hook = await add_webhook(wad, receiver.url, events=["message"])
    for count, text in enumerate(texts, start=1):  # one at a time: the order matters
        SimulatorOperations(wad.daemon.services).incoming("dev1", PHONE, text)

        async def done(count: int = count) -> bool:
            return len(await log(wad, hook, status="pending")) == 0 and (
                len(await log(wad, hook)) == count
            )

        await until(wad, done)
    webhook = await webhooks(wad).get("dev1", hook["id"])
    assert webhook["enabled"] is True and webhook["consecutiveFailures"] == 1
    await wad.close()


async def test_redeliver_sends_the_same_event_again(hooked: Running, receiver: Receiver) -> None:
    await connected(hooked)
    hook = await add_webhook(hooked, receiver.url, events=["message"])
    SimulatorOperations(hooked.daemon.services).incoming("dev1", PHONE, "again please")
    with trio.fail_after(10):
        await receiver.wait_until(lambda: receiver.answered())
    base = f"/api/sessions/dev1/webhooks/{hook['id']}/deliveries"
    (first,) = (await hooked.client.get(base, headers=hooked.admin)).json()["deliveries"]
    r = await hooked.client.post(f"{base}/{first['id']}/redeliver", headers=hooked.admin)
    assert r.status_code == 202
    again = r.json()["delivery"]
    assert again["id"] != first["id"] and again["eventId"] == first["eventId"]
    assert again["status"] == "pending" and again["attempts"] == 0
    with trio.fail_after(10):
        await receiver.wait_until(lambda: len(receiver.answered()) == 2)
    one, two = receiver.answered()
    assert one.headers["webhook-id"] == two.headers["webhook-id"] == first["eventId"]
    assert one.body == two.body
    verified(hook["secret"], two)
    for bad in ("999999", "abc"):
        r = await hooked.client.post(f"{base}/{bad}/redeliver", headers=hooked.admin)
        assert r.status_code == 404 and r.json()["error"] == "Delivery not found"


async def test_delivery_log_pages(hooked: Running, receiver: Receiver) -> None:
    await connected(hooked)
    hook = await add_webhook(hooked, receiver.url, events=["message"])
    for i in range(5):
        SimulatorOperations(hooked.daemon.services).incoming("dev1", PHONE, f"m{i}")
    with trio.fail_after(10):
        await receiver.wait_until(lambda: len(receiver.answered()) == 5)
    base = f"/api/sessions/dev1/webhooks/{hook['id']}/deliveries"
    seen: list[int] = []
    url = base + "?limit=2"
    while True:
        page = (await hooked.client.get(url, headers=hooked.admin)).json()
        seen += [d["id"] for d in page["deliveries"]]
        if page["nextBefore"] is None:
            break
        url = f"{base}?limit=2&before={page['nextBefore']}"
    assert len(seen) == 5 and seen == sorted(seen, reverse=True)
    for query, message in (
        ("limit=0", "limit must be a number from 1 to 200"),
        ("status=lost", "status must be one of pending, delivered, failed"),
        ("before=x", "before must be a number"),
    ):
        r = await hooked.client.get(f"{base}?{query}", headers=hooked.admin)
        assert r.status_code == 400 and r.json()["error"].startswith(message)


async def test_manage_list_without_secrets_and_delete(hooked: Running) -> None:
    await hooked.client.post("/api/sessions", json={"deviceId": "dev1"}, headers=hooked.admin)
    a = await add_webhook(hooked, "http://127.0.0.1:9/a")
    b = await add_webhook(hooked, "http://127.0.0.1:9/b", events=["message"])
    assert a["secret"] != b["secret"] and len(a["secret"]) >= len("whsec_") + 32
    r = await hooked.client.get("/api/sessions/dev1/webhooks", headers=hooked.admin)
    listed = r.json()["webhooks"]
    assert [w["id"] for w in listed] == [a["id"], b["id"]]
    assert all("secret" not in w for w in listed)
    assert a["secret"] not in r.text and b["secret"] not in r.text
    r = await hooked.client.delete(f"/api/sessions/dev1/webhooks/{a['id']}", headers=hooked.admin)
    assert r.status_code == 200 and r.json()["success"] is True
    r = await hooked.client.delete(f"/api/sessions/dev1/webhooks/{a['id']}", headers=hooked.admin)
    assert r.status_code == 404 and r.json()["error"] == "Webhook not found"
    listed = (await hooked.client.get("/api/sessions/dev1/webhooks", headers=hooked.admin)).json()[
        "webhooks"
    ]
    assert [w["id"] for w in listed] == [b["id"]]
    # Admin only: a session's key is not enough, nobody is nothing.
    key = (
        await hooked.client.put("/api/sessions/dev1/api-key", json={}, headers=hooked.admin)
    ).json()["apiKey"]
    r = await hooked.client.get(
        "/api/sessions/dev1/webhooks", headers={"Authorization": f"Bearer {key}"}
    )
    assert r.status_code == 403
    r = await hooked.client.post("/api/sessions/dev1/webhooks", json={"url": "http://x.test"})
    assert r.status_code == 401


async def test_deleting_a_session_deletes_its_webhooks(hooked: Running, receiver: Receiver) -> None:
    await connected(hooked)
    await add_webhook(hooked, receiver.url)
    SimulatorOperations(hooked.daemon.services).incoming("dev1", PHONE, "hello")
    with trio.fail_after(10):
        await receiver.wait_until(lambda: receiver.answered())
    db = hooked.daemon.store.connection.db
    assert db.execute("SELECT count(*) FROM webhook_deliveries").fetchone()[0] > 0
    r = await hooked.client.delete("/api/sessions/dev1", headers=hooked.admin)
    assert r.status_code == 200
    for table in ("webhook_endpoints", "webhook_deliveries", "webhook_bodies"):
        assert db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0  # noqa: S608
    await hooked.client.post("/api/sessions", json={"deviceId": "dev1"}, headers=hooked.admin)
    r = await hooked.client.get("/api/sessions/dev1/webhooks", headers=hooked.admin)
    assert r.json()["webhooks"] == []


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, "url: Field required"),
        ({"url": 5}, "url: Input should be a valid string"),
        ({"url": "ftp://example.com/x"}, "url must start with http:// or https://"),
        ({"url": "example.com/hook"}, "url must start with http:// or https://"),
        ({"url": "https://user:pw@example.com/"}, "url must not carry credentials"),
        ({"url": "https:///nohost"}, "url must name a host"),
        ({"url": "https://example.com:99999/"}, "url is not a valid URL"),
        ({"url": "https://exa mple.com/"}, "url must not contain spaces"),
        ({"url": "https://example.com/" + "a" * 2048}, "url must be at most 2048 characters"),
        ({"url": "http://127.0.0.1/", "events": ["message", "nope"]}, "events.1: Input should be"),
        ({"url": "http://127.0.0.1/", "events": "message"}, "events: Input should be a valid list"),
    ],
)
async def test_create_validation(hooked: Running, body: dict, error: str) -> None:
    await hooked.client.post("/api/sessions", json={"deviceId": "dev1"}, headers=hooked.admin)
    r = await hooked.client.post("/api/sessions/dev1/webhooks", headers=hooked.admin, json=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"].startswith(error), r.json()


async def test_create_unknown_session_and_limit(hooked: Running) -> None:
    r = await hooked.client.post(
        "/api/sessions/nobody/webhooks", headers=hooked.admin, json={"url": "http://127.0.0.1/"}
    )
    assert r.status_code == 404 and r.json()["error"] == "Session not found"
    r = await hooked.client.post(
        "/api/sessions/bad%20id/webhooks", headers=hooked.admin, json={"url": "http://127.0.0.1/"}
    )
    assert r.status_code == 400
    await hooked.client.post("/api/sessions", json={"deviceId": "dev1"}, headers=hooked.admin)
    for i in range(10):
        await add_webhook(hooked, f"http://127.0.0.1/{i}")
    r = await hooked.client.post(
        "/api/sessions/dev1/webhooks", headers=hooked.admin, json={"url": "http://127.0.0.1/10"}
    )
    assert r.status_code == 409 and "at most 10 webhooks" in r.json()["error"]


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://127.0.0.1:8080/hook", "loopback"),
        ("http://localhost/hook", "loopback"),
        ("http://[::1]/hook", "loopback"),
        ("http://10.1.2.3/hook", "private"),
        ("https://192.168.1.10/hook", "private"),
        ("http://169.254.169.254/latest/meta-data", "cloud metadata"),
        ("http://100.64.0.1/", "carrier-grade NAT"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
    ],
)
async def test_private_targets_refused_unless_allowed(wad: Running, url: str, kind: str) -> None:
    await wad.client.post("/api/sessions", json={"deviceId": "dev1"}, headers=wad.admin)
    r = await wad.client.post("/api/sessions/dev1/webhooks", headers=wad.admin, json={"url": url})
    assert r.status_code == 400
    error = r.json()["error"]
    assert f"is a {kind} address" in error and "WAD_WEBHOOK_ALLOW_NETWORKS" in error, error


async def test_allowed_network_opens_only_itself(tmp_path: Path, nursery: trio.Nursery) -> None:
    wad = await start(tmp_path, nursery, allow_networks=["127.0.0.0/8", "169.254.0.0/16"])
    await wad.client.post("/api/sessions", json={"deviceId": "dev1"}, headers=wad.admin)
    await add_webhook(wad, "http://127.0.0.1:8080/hook")
    await add_webhook(wad, "http://169.254.10.10/hook")
    for url in ("http://10.0.0.1/", "http://169.254.169.254/", "http://[::1]/"):
        r = await wad.client.post(
            "/api/sessions/dev1/webhooks", headers=wad.admin, json={"url": url}
        )
        assert r.status_code == 400, url
    await wad.close()


async def test_disabling_the_plugin_removes_its_routes(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    config = make_config(tmp_path, disable_plugins="webhooks")
    wad = await start_daemon(nursery, config, SimulatorEngine())
    await wad.client.post("/api/sessions", json={"deviceId": "dev1"}, headers=wad.admin)
    r = await wad.client.get("/api/sessions/dev1/webhooks", headers=wad.admin)
    assert r.status_code == 404
    r = await wad.client.post(
        "/api/sessions/dev1/webhooks", headers=wad.admin, json={"url": "http://127.0.0.1/"}
    )
    assert r.status_code == 404
    names = [
        p["name"]
        for p in (await wad.client.get("/api/plugins", headers=wad.admin)).json()["plugins"]
    ]
    assert "webhooks" not in names and "auth" in names
    await wad.close()


async def test_plugin_listed(hooked: Running) -> None:
    plugins = {
        p["name"]: p
        for p in (await hooked.client.get("/api/plugins", headers=hooked.admin)).json()["plugins"]
    }
    webhooks = plugins["webhooks"]
    assert webhooks["builtin"] is True
    assert {
        "wad_startup",
        "wad_event_stored",
        "wad_event",
        "wad_http_routes",
        "wad_control_methods",
    } <= set(webhooks["hooks"])


async def test_control_methods_share_the_operations(hooked: Running, receiver: Receiver) -> None:
    daemon = hooked.daemon
    methods: dict = {}
    for answer in daemon.plugins.hook.wad_control_methods(daemon=daemon):
        methods.update(answer or {})
    assert {
        "webhooks.list",
        "webhooks.create",
        "webhooks.update",
        "webhooks.delete",
        "webhooks.deliveries",
        "webhooks.redeliver",
    } <= methods.keys()
    await connected(hooked)
    created = (
        await methods["webhooks.create"](
            {"deviceId": "dev1", "url": receiver.url, "events": ["message"]}
        )
    )["webhook"]
    assert created["secret"].startswith("whsec_")
    listed = (await methods["webhooks.list"]({"deviceId": "dev1"}))["webhooks"]
    assert [w["id"] for w in listed] == [created["id"]] and "secret" not in listed[0]
    rest = (await hooked.client.get("/api/sessions/dev1/webhooks", headers=hooked.admin)).json()[
        "webhooks"
    ]
    assert rest == listed
    SimulatorOperations(daemon.services).incoming("dev1", PHONE, "via control")
    with trio.fail_after(10):
        await receiver.wait_until(lambda: receiver.answered())
    ids = {"deviceId": "dev1", "webhookId": created["id"]}
    page = await methods["webhooks.deliveries"](ids)
    delivery = page["deliveries"][0]
    assert delivery["eventType"] == "message" and page["nextBefore"] is None
    again = await methods["webhooks.redeliver"]({**ids, "deliveryId": delivery["id"]})
    assert again["delivery"]["eventId"] == delivery["eventId"]
    updated = await methods["webhooks.update"]({**ids, "enabled": False})
    assert updated["webhook"]["enabled"] is False
    with pytest.raises(WadError) as caught:
        await methods["webhooks.create"]({"deviceId": "dev1", "url": "http://10.0.0.1/"})
    assert caught.value.code == "bad_request"
    with pytest.raises(WadError) as caught:
        await methods["webhooks.create"](
            {"deviceId": "dev1", "url": receiver.url, "events": ["nope"]}
        )
    assert caught.value.code == "bad_request" and "unknown event type 'nope'" in str(caught.value)
    with pytest.raises(WadError) as caught:
        await methods["webhooks.update"]({**ids, "enabled": "yes"})
    assert caught.value.code == "bad_request"
    assert await methods["webhooks.delete"](ids) == {}
    with pytest.raises(WadError) as caught:
        await methods["webhooks.delete"](ids)
    assert caught.value.code == "not_found"


async def test_disabling_drops_what_the_worker_had_queued(
    tmp_path: Path, nursery: trio.Nursery, receiver: Receiver
) -> None:
    """Deliveries fetched ahead (waiting for their endpoint's one connection) are not sent
    once the endpoint is disabled: they stay parked, and go when it is enabled again."""
    wad = await start(tmp_path, nursery, endpoint_concurrency=1)
    receiver.answer = lambda n, request: None if n == 1 else 200  # holds the first
    await connected(wad)
    hook = await add_webhook(wad, receiver.url, events=["message"])
    for text in ("one", "two", "three"):
        SimulatorOperations(wad.daemon.services).incoming("dev1", PHONE, text)
    with trio.fail_after(10):
        await receiver.wait_until(lambda: len(receiver.requests) == 1)
    base = f"/api/sessions/dev1/webhooks/{hook['id']}"
    r = await wad.client.patch(base, headers=wad.admin, json={"enabled": False})
    assert r.json()["webhook"]["enabled"] is False
    receiver.release.set()
    await until(wad, lambda: log(wad, hook, status="delivered"))
    await trio.testing.wait_all_tasks_blocked()
    assert [r.json["payload"]["text"] for r in receiver.requests] == ["one"]
    parked = await log(wad, hook, status="pending")
    assert len(parked) == 2 and all(d["nextAttemptAt"] is None for d in parked)
    r = await wad.client.patch(base, headers=wad.admin, json={"enabled": True})
    with trio.fail_after(10):
        await receiver.wait_until(lambda: len(receiver.answered()) == 3)
    assert sorted(r.json["payload"]["text"] for r in receiver.requests) == ["one", "three", "two"]
    await wad.close()
