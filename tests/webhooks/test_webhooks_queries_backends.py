"""The webhook plugin's queries on both backends (tests/store_backends.py): endpoints,
deliveries enqueued in the event's transaction, due, attempted, retried, disabled,
dropped over the cap, logged, redelivered, pruned, and the secrets at rest."""

from __future__ import annotations

from pathlib import Path

from store_backends import AnyStore
from wad_plugins.webhooks.db import WebhookDb, WebhookQueries
from wad_plugins.webhooks.outbox import Limits, Outcome
from wad_plugins.webhooks.sealing import SecretBox

from wad.store.database import Queries


async def test_a_delivery_goes_from_enqueued_to_delivered_retried_and_logged(
    store: AnyStore, tmp_path: Path
) -> None:
    webhooks = WebhookDb(store)
    webhooks.migrate()
    box = SecretBox.load(tmp_path / "secrets.key")
    await store.run(lambda q: [q.create_session(d) for d in ("s1", "s2")])
    everything = await webhooks.run(
        lambda w: w.create_endpoint("s1", "http://a", None, "whsec_x", box)
    )
    only_acks = await webhooks.run(
        lambda w: w.create_endpoint("s1", "http://b", ["message.ack"], "whsec_y", box)
    )
    assert box.open(everything.id, everything.sealed_secret) == "whsec_x"
    assert await webhooks.read(lambda w: w.count_endpoints("s1")) == 2
    assert await webhooks.read(lambda w: w.get_endpoint(everything.id, "s2")) is None
    found = await webhooks.read(lambda w: w.get_endpoint(everything.id))
    assert found is not None and found.url == "http://a" and found.enabled

    def emit(q: Queries, type_: str) -> list[str]:
        event = q.append_event("s1", type_, {})
        return WebhookQueries.of(q).enqueue(event, f'{{"event": "{type_}"}}', 100.0)

    assert await store.run(lambda q: emit(q, "message")) == [everything.id]
    assert sorted(await store.run(lambda q: emit(q, "message.ack"))) == sorted(
        [everything.id, only_acks.id]
    )
    assert await webhooks.read(lambda w: w.pending(everything.id)) == 2
    assert await webhooks.read(lambda w: w.with_pending()) == {everything.id, only_acks.id}
    due = await webhooks.read(lambda w: w.due_for(everything.id, 100.0, [], 10))
    assert [d.body for d in due] == ['{"event": "message"}', '{"event": "message.ack"}']
    busy = await webhooks.read(lambda w: w.due_for(everything.id, 100.0, [due[0].id], 10))
    assert [d.id for d in busy] == [due[1].id]
    limits = Limits(failures=2, failing_for=1e9)
    outcomes = [
        Outcome(due[0].id, everything.id, True, 200, None),
        Outcome(due[1].id, everything.id, False, 500, "boom", retry_at=160.0),
    ]
    assert await webhooks.run(lambda w: w.record(outcomes, limits, 101.0)) == []
    assert await webhooks.read(lambda w: w.pending(everything.id)) == 1
    assert await webhooks.read(lambda w: w.next_due(99.0)) == 100.0  # only_acks' one
    assert await webhooks.read(lambda w: w.next_due(100.0)) == 160.0  # the retry
    assert await webhooks.read(lambda w: w.fell_due(150.0, 170.0)) == {everything.id}
    log = await webhooks.read(lambda w: w.list_deliveries(everything.id, None, None, 10))
    assert [(d["status"], d["attempts"], d["lastStatusCode"]) for d in log] == [
        ("pending", 1, 500),
        ("delivered", 1, 200),
    ]
    older = await webhooks.read(lambda w: w.list_deliveries(everything.id, None, log[0]["id"], 10))
    assert [d["id"] for d in older] == [log[1]["id"]]
    stats = await webhooks.read(lambda w: w.endpoint_stats("s1"))
    figures = {(s["id"], s["delivered"], s["failed"], s["pending"], s["lastError"]) for s in stats}
    assert figures == {(everything.id, 1, 0, 1, "boom"), (only_acks.id, 0, 0, 1, None)}
    again = await webhooks.run(lambda w: w.redeliver(everything.id, log[1]["id"], 200.0))
    assert again is not None and again["status"] == "pending"
    assert await webhooks.read(lambda w: w.pending(everything.id)) == 2

    # Failing for good twice in a row disables the endpoint; its pending ones park.
    failing = [
        Outcome(log[0]["id"], everything.id, False, 500, "boom"),
        Outcome(again["id"], everything.id, False, 500, "boom"),
    ]
    disabled = await webhooks.run(lambda w: w.record(failing, limits, 300.0))
    assert [(d.endpoint_id, d.device_id) for d in disabled] == [(everything.id, "s1")]
    gone = await webhooks.read(lambda w: w.get_endpoint(everything.id))
    assert gone is not None and not gone.enabled
    await webhooks.run(lambda w: w.enable(everything.id, 400.0))

    # Over the cap: the oldest pending are dropped.
    for _ in range(3):
        await store.run(lambda q: emit(q, "message.ack"))
    assert await webhooks.read(lambda w: w.pending(only_acks.id)) == 4
    dropped = await webhooks.run(lambda w: w.drop_over(2, "s1"))
    assert len(dropped[only_acks.id]) == 2
    assert await webhooks.read(lambda w: w.pending(only_acks.id)) == 2
    await webhooks.run(lambda w: w.prune(only_acks.id, 1))  # finished ones beyond the newest
    kept = await webhooks.read(lambda w: w.list_deliveries(only_acks.id, "dropped", None, 10))
    assert len(kept) == 1
    assert await webhooks.read(lambda w: w.sessions_with_endpoints()) == {"s1"}
    assert await webhooks.run(lambda w: w.delete_endpoint("s1", only_acks.id))


async def test_plain_secrets_are_sealed_at_rest(store: AnyStore, tmp_path: Path) -> None:
    webhooks = WebhookDb(store)
    webhooks.migrate()
    box = SecretBox.load(tmp_path / "secrets.key")
    await store.run(lambda q: q.create_session("s1"))
    await store.run(
        lambda q: q.db.execute(
            "INSERT INTO webhook_endpoints (id, device_id, url, secret, created_at, updated_at)"
            " VALUES ('wh_old', 's1', 'http://a', 'whsec_plain', 't', 't')"
        )
    )
    assert await webhooks.seal_plain_secrets(box) == 1
    assert await webhooks.seal_plain_secrets(box) == 0
    ((endpoint_id, stored),) = await webhooks.read(lambda w: w.enabled_secrets())
    assert not stored.startswith("whsec_") and box.open(endpoint_id, stored) == "whsec_plain"
    other = SecretBox.load(tmp_path / "other.key")
    assert await webhooks.disable_unreadable(other, "key lost") == ["wh_old"]
