"""``GET /api/stats/messages`` on a real daemon: hourly counts of messages received and
sent, per session and over all of them; the hours bound; admin only. And the store's
one query behind it, on a real SQLite file with messages at chosen times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import Running

from wad.store import Store
from wad.store.clock import iso_at

PEER = "15550002222"
NOT_ON_WHATSAPP = "15550000000"  # the simulator refuses numbers ending in 0000


async def incoming(wad: Running, device_id: str, n: int) -> None:
    """``n`` messages from a phone, once stored (the simulator's route only hands them
    to the session: its events say when they are in)."""
    with wad.daemon.events.subscribe() as stream:
        for i in range(n):
            r = await wad.client.post(
                f"/api/simulator/sessions/{device_id}/incoming",
                headers=wad.admin,
                json={"from": PEER, "message": f"in {i}"},
            )
            assert r.status_code == 200, r.text
        stored = 0
        async for event in stream:
            stored += event.device_id == device_id and event.type == "message"
            if stored == n:
                break


async def send(wad: Running, key: str, device_id: str, number: str = PEER) -> int:
    r = await wad.client.post(
        "/api/messages/send",
        headers={"Authorization": f"Bearer {key}"},
        json={"deviceId": device_id, "number": number, "message": "out"},
    )
    return r.status_code


async def stats(wad: Running, query: str = "") -> dict:
    r = await wad.client.get(f"/api/stats/messages{query}", headers=wad.admin)
    assert r.status_code == 200, r.text
    return r.json()


def totals(data: dict) -> tuple[int, int]:
    return (
        sum(b["received"] for b in data["buckets"]),
        sum(b["sent"] for b in data["buckets"]),
    )


async def test_counts_per_session_and_overall_are_exact(wad: Running) -> None:
    sales = await wad.connected_key("sales", "15550001111")
    support = await wad.connected_key("support", "15550003333")
    before = await stats(wad)
    assert (before["received"], before["sent"]) == (0, 0)

    await incoming(wad, "sales", 3)
    await incoming(wad, "support", 1)
    for _ in range(2):
        assert await send(wad, sales, "sales") == 200
    assert await send(wad, support, "support") == 200
    # A send WhatsApp refused is stored (failed) but was not sent.
    assert await send(wad, sales, "sales", NOT_ON_WHATSAPP) == 400
    messages = (await wad.client.get("/api/sessions/sales/messages", headers=wad.admin)).json()[
        "messages"
    ]
    assert messages[0]["status"] == "failed"
    # A reaction or an edit acts on a message (stored, and sent): it is not one.
    sent_id = next(m["id"] for m in messages if m["status"] == "sent")
    as_sales = {"Authorization": f"Bearer {sales}"}
    base = f"/api/sessions/sales/messages/{sent_id}"
    r = await wad.client.post(base + "/reaction", headers=as_sales, json={"emoji": "👍"})
    assert r.status_code == 200, r.text
    r = await wad.client.patch(base, headers=as_sales, json={"text": "edited"})
    assert r.status_code == 200, r.text

    one = await stats(wad, "?session=sales")
    assert one["session"] == "sales" and one["hours"] == 24
    assert (one["received"], one["sent"]) == (3, 2) == totals(one)
    other = await stats(wad, "?session=support&hours=24")
    assert (other["received"], other["sent"]) == (1, 1) == totals(other)
    overall = await stats(wad)
    assert overall["session"] is None
    assert (overall["received"], overall["sent"]) == (4, 3) == totals(overall)

    # 24 hourly buckets, oldest first, the last being the current hour.
    hours = [b["hour"] for b in overall["buckets"]]
    assert len(hours) == 24
    now = datetime.now(UTC)
    last = datetime.fromisoformat(hours[-1])
    assert last <= now < last + timedelta(hours=1, seconds=5)
    steps = {
        datetime.fromisoformat(b) - datetime.fromisoformat(a)
        for a, b in zip(hours, hours[1:], strict=False)
    }
    assert steps == {timedelta(hours=1)}
    # Everything happened in the last minute or so: in the newest one or two buckets.
    assert sum(b["received"] + b["sent"] for b in overall["buckets"][-2:]) == 7

    short = await stats(wad, "?hours=1")
    assert len(short["buckets"]) == 1 and short["buckets"][0]["hour"] == hours[-1]
    assert len((await stats(wad, "?session=sales&hours=168"))["buckets"]) == 168


async def test_hours_and_session_are_validated(wad: Running) -> None:
    await wad.connected_key("sales")
    for query in ("?hours=0", "?hours=169", "?hours=-1", "?hours=abc", "?hours=2.5", "?hours="):
        r = await wad.client.get(f"/api/stats/messages{query}", headers=wad.admin)
        assert r.status_code == 400, query
        assert r.json() == {
            "success": False,
            "error": "hours must be a number from 1 to 168",
            "code": "bad_request",
        }
    r = await wad.client.get("/api/stats/messages?session=nobody", headers=wad.admin)
    assert (r.status_code, r.json()["error"]) == (404, "Session not found")
    r = await wad.client.get("/api/stats/messages?session=../etc", headers=wad.admin)
    assert r.status_code == 400 and "deviceId" in r.json()["error"]


async def test_admin_only(wad: Running) -> None:
    key = await wad.connected_key("sales")
    r = await wad.client.get("/api/stats/messages")
    assert r.status_code == 401
    assert r.json()["error"].startswith("Missing credentials")
    r = await wad.client.get("/api/stats/messages", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    r = await wad.client.get(
        "/api/stats/messages?session=sales", headers={"Authorization": f"Bearer {key}"}
    )
    assert r.status_code == 403


async def test_one_query_reads_only_the_index_and_buckets_by_hour(tmp_path: Path) -> None:
    store = Store(tmp_path / "wad.db")
    for device in ("a", "b"):
        await store.run(lambda q, d=device: q.create_session(d))
    base = datetime(2026, 12, 1, 9, tzinfo=UTC).timestamp()

    def message(device: str, direction: str, status: str, at: float, type_: str = "text") -> None:
        stamp = iso_at(at)
        store.connection.db.execute(
            "INSERT INTO messages (id, device_id, direction, peer, type, status, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (f"m{at}{device}{direction}{status}{type_}", device, direction, PEER, type_, status)
            + (stamp, stamp),
        )

    message("a", "in", "received", base - 0.001)  # before the window: not counted
    message("a", "in", "received", base)  # the window's first instant: counted
    message("a", "in", "received", base + 3599.999)
    message("a", "out", "sent", base + 1800)
    message("a", "out", "read", base + 3600)
    message("a", "out", "pending", base + 3601)  # not sent (yet)
    message("a", "out", "failed", base + 3602)  # never sent
    message("b", "in", "received", base + 3603)
    message("b", "out", "delivered", base + 7200)
    for type_ in ("reaction", "edit", "revoke"):  # acting on a message is not one
        message("a", "out", "sent", base + 60, type_)
        message("a", "in", "received", base + 61, type_)

    since = iso_at(base)
    assert await store.read(lambda q: q.hourly_counts("a", since)) == [
        ("2026-12-01T09", 2, 1),
        ("2026-12-01T10", 0, 1),
    ]
    assert await store.read(lambda q: q.hourly_counts("b", since)) == [
        ("2026-12-01T10", 1, 0),
        ("2026-12-01T11", 0, 1),
    ]
    assert await store.read(lambda q: q.hourly_counts(None, since)) == [
        ("2026-12-01T09", 2, 1),
        ("2026-12-01T10", 1, 1),
        ("2026-12-01T11", 0, 1),
    ]
    assert await store.read(lambda q: q.hourly_counts("nobody", since)) == []
    # One statement, one range of the covering index per session: the rows themselves
    # are never read. The statement is the one the method ran (apsw's exec trace).
    ran: list[str] = []

    def trace(cursor: object, sql: str, bindings: object) -> bool:
        ran.append(sql)
        return True

    store.connection.db.exec_trace = trace
    await store.read(lambda q: q.hourly_counts("a", since))
    store.connection.db.exec_trace = None
    assert len(ran) == 1
    for device in ("a", None):
        plan = " | ".join(
            r[3]
            for r in store.connection.db.execute("EXPLAIN QUERY PLAN " + ran[0], (device, since))
        )
        assert "SEARCH messages USING COVERING INDEX messages_by_session" in plan, plan
        assert "SCAN messages" not in plan, plan
    store.close()
