"""The webhook plugin's schema on both backends (tests/store_backends.py): migration 2
applied over data of migration 1, and the triggers that keep each endpoint's pending
count and each body's references."""

from __future__ import annotations

from typing import Any

from store_backends import AnyStore
from wad_plugins.webhooks import migrations, pg_migrations

from wad.store.database import Queries


def _migrate(store: AnyStore, upto: int) -> int:
    return store.migrate_plugin(
        "webhooks", migrations.MIGRATIONS[:upto], postgresql=pg_migrations.MIGRATIONS[:upto]
    )


def _rows(q: Queries, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in q.db.execute(sql, args).fetchall()]


async def test_bodies_and_counts_survive_migration_2_and_triggers_keep_them(
    store: AnyStore,
) -> None:
    assert len(pg_migrations.MIGRATIONS) == len(migrations.MIGRATIONS)
    assert _migrate(store, 1) == 1

    def v1(q: Queries) -> None:
        q.create_session("s1")
        q.db.execute(
            "INSERT INTO webhook_endpoints (id, device_id, url, secret, created_at, updated_at)"
            " VALUES ('e1', 's1', 'http://x', 'sec', 't', 't')"
        )
        for event, status in [("v1", "pending"), ("v1", "failed"), ("v2", "pending")]:
            q.db.execute(  # ids drawn: 1, 2, 3
                "INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, body,"
                " status, created_at, updated_at) VALUES ('e1', ?, 'message', ?, ?, 't', 't')",
                (event, f"body of {event}", status),
            )

    await store.run(v1)
    assert _migrate(store, 2) == 2
    bodies = await store.read(
        lambda q: _rows(q, "SELECT id, body, refs FROM webhook_bodies ORDER BY id")
    )
    assert bodies == [(1, "body of v1", 2), (3, "body of v2", 1)]
    links = await store.read(
        lambda q: _rows(q, "SELECT id, body_id FROM webhook_deliveries ORDER BY id")
    )
    assert links == [(1, 1), (2, 1), (3, 3)]
    pending = "SELECT pending FROM webhook_endpoints WHERE id = 'e1'"
    assert await store.read(lambda q: _rows(q, pending)) == [(2,)]

    def deliver_more(q: Queries) -> int:
        body_id: int = q.db.execute(
            "INSERT INTO webhook_bodies (body) VALUES ('body of v3') RETURNING id"
        ).fetchone()[0]
        q.db.execute(
            "INSERT INTO webhook_deliveries (endpoint_id, event_id, body_id, event_type, status,"
            " created_at, updated_at) VALUES ('e1', 'v3', ?, 'message', 'pending', 't', 't')",
            (body_id,),
        )
        return body_id

    new_body = await store.run(deliver_more)
    assert new_body > 3  # drawn after the ids migration 2 gave
    assert await store.read(lambda q: _rows(q, pending)) == [(3,)]
    await store.run(
        lambda q: q.db.execute("UPDATE webhook_deliveries SET status = 'delivered' WHERE id = 1")
    )
    await store.run(
        lambda q: q.db.execute("UPDATE webhook_deliveries SET status = 'dropped' WHERE id = 2")
    )
    assert await store.read(lambda q: _rows(q, pending)) == [(2,)]
    await store.run(lambda q: q.db.execute("DELETE FROM webhook_deliveries WHERE id IN (1, 3)"))
    bodies = await store.read(lambda q: _rows(q, "SELECT id, refs FROM webhook_bodies ORDER BY id"))
    assert bodies == [(1, 1), (new_body, 1)]  # v2's body went with its last delivery
    assert await store.read(lambda q: _rows(q, pending)) == [(1,)]
    await store.run(lambda q: q.db.execute("DELETE FROM webhook_endpoints WHERE id = 'e1'"))
    assert await store.read(lambda q: _rows(q, "SELECT id FROM webhook_bodies")) == []
