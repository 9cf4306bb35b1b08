"""The webhook plugin's SQL for endpoints and the delivery log, in wad.db beside the core's
tables (the tables themselves: :mod:`.migrations`; the deliveries' hot path: :mod:`.outbox`).

:class:`WebhookQueries` is every webhook query on one connection's handle; the plugin
runs them through :class:`WebhookDb`, the store's ``run`` (one transaction) and
``read`` (none), as the core runs its own: ``await db.run(lambda w: w.enable(...))``.

A delivery is one event for one endpoint; the event's body is stored once
(``webhook_bodies``), whatever the number of its deliveries. ``next_attempt_at``
is Unix time; a pending delivery with no next attempt is parked (its endpoint is
disabled) until the endpoint is enabled again. Secrets are stored sealed
(:mod:`.sealing`): this module never sees one in the clear but to seal it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import apsw

from wad.store import Queries, Store, new_id, now_iso

from . import pg_migrations
from .migrations import MIGRATIONS
from .outbox import Outbox, iso
from .sealing import PLAIN, SecretBox

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: str
    device_id: str
    url: str
    events: list[str] | None
    sealed_secret: str
    enabled: bool
    failures: int
    disabled_reason: str | None
    created_at: str
    updated_at: str
    failing_since: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "events": self.events,
            "enabled": self.enabled,
            "consecutiveFailures": self.failures,
            "failingSince": iso(self.failing_since),
            "disabledReason": self.disabled_reason,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }


_ENDPOINT_COLUMNS = (
    "id, device_id, url, events, secret, enabled, failures, disabled_reason, created_at,"
    " updated_at, failing_since"
)
_DELIVERY_COLUMNS = (
    "id, event_id, event_type, status, attempts, next_attempt_at,"
    " last_status_code, last_error, created_at, updated_at"
)


def _endpoint(row: Any) -> Endpoint:
    return Endpoint(
        row[0],
        row[1],
        row[2],
        json.loads(row[3]) if row[3] else None,
        row[4],
        bool(row[5]),
        row[6],
        row[7],
        row[8],
        row[9],
        row[10],
    )


def _delivery(row: Any) -> dict[str, Any]:
    return {
        "id": row[0],
        "eventId": row[1],
        "eventType": row[2],
        "status": row[3],
        "attempts": row[4],
        "nextAttemptAt": iso(row[5]),
        "lastStatusCode": row[6],
        "lastError": row[7],
        "createdAt": row[8],
        "updatedAt": row[9],
    }


class WebhookDb:
    """The plugin's way to its tables: its queries run by the store, as the core's are."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def migrate(self) -> None:
        self.store.migrate_plugin("webhooks", MIGRATIONS, postgresql=pg_migrations.MIGRATIONS)

    async def run(self, fn: Callable[[WebhookQueries], T]) -> T:
        """``fn`` of the webhook queries in one transaction (all or nothing)."""
        return await self.store.run(lambda q: fn(WebhookQueries.of(q)))

    async def read(self, fn: Callable[[WebhookQueries], T]) -> T:
        """``fn`` of the webhook queries without a transaction of its own."""
        return await self.store.read(lambda q: fn(WebhookQueries.of(q)))

    # -- secrets at rest ----------------------------------------------------------------

    async def seal_plain_secrets(self, box: SecretBox) -> int:
        """Seal every secret stored in the clear (from before secrets were sealed), then,
        on SQLite, rewrite wad.db and empty its WAL, so that no page, free or not, keeps
        a plain copy. Returns how many were sealed (0: nothing was written)."""
        plain = await self.read(lambda w: w.plain_secrets())
        if not plain:
            return 0
        sealed = [(box.seal(e, secret), e) for e, secret in plain]
        if self.store.dialect != "sqlite":
            await self.run(lambda w: w.set_secrets(sealed))
            return len(plain)
        # SQLite's own maintenance, on the store's connection: the pages themselves.
        db = self.store.connection.db
        db.pragma("secure_delete", True)  # the replaced values' bytes are zeroed
        try:
            await self.run(lambda w: w.set_secrets(sealed))
        finally:
            db.pragma("secure_delete", False)
        # Once, at the first start after the upgrade: VACUUM copies only live rows into a
        # new file (a deleted endpoint's secret may still sit in a free page otherwise).
        try:
            db.execute("VACUUM")
        except apsw.Error as exc:  # e.g. no room for the copy: the secrets are sealed anyway
            log.warning("webhooks: wad.db could not be rewritten after sealing: %s", exc)
        busy = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy is None or busy[0]:
            log.warning("webhooks: wad.db-wal could not be emptied yet (another reader)")
        return len(plain)

    async def disable_unreadable(self, box: SecretBox, reason: str) -> list[str]:
        """Disable the enabled endpoints whose secret ``box`` cannot open (wad.db restored
        without its key); returns their ids."""
        enabled = await self.read(lambda w: w.enabled_secrets())
        unreadable = [e for e, stored in enabled if not box.opens(e, stored)]

        def disable_all(w: WebhookQueries) -> None:
            for endpoint_id in unreadable:
                w.disable(endpoint_id, reason)

        if unreadable:
            await self.run(disable_all)
        return unreadable


class WebhookQueries(Outbox):
    """Every webhook table's queries on one connection's handle (the deliveries' hot
    path: :class:`.outbox.Outbox`)."""

    @classmethod
    def of(cls, q: Queries) -> WebhookQueries:
        """The webhook queries on the handle of the core's ``q`` (its transaction)."""
        return cls(q.db, q.caches, q.dialect)

    # -- endpoints ----------------------------------------------------------------------

    def create_endpoint(
        self, device_id: str, url: str, events: list[str] | None, secret: str, box: SecretBox
    ) -> Endpoint:
        """A new endpoint, its ``secret`` stored sealed by ``box``."""
        now = now_iso()
        endpoint_id = new_id("wh")
        row = self.db.execute(
            "INSERT INTO webhook_endpoints (id, device_id, url, events, secret, created_at,"
            f" updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {_ENDPOINT_COLUMNS}",
            (
                endpoint_id,
                device_id,
                url,
                json.dumps(events) if events else None,
                box.seal(endpoint_id, secret),
                now,
                now,
            ),
        ).fetchone()
        return _endpoint(row)

    def list_endpoints(self, device_id: str) -> list[Endpoint]:
        rows = self.db.execute(
            f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE device_id = ?"
            " ORDER BY created_at, id",
            (device_id,),
        )
        return [_endpoint(row) for row in rows]

    def get_endpoint(self, endpoint_id: str, device_id: str | None = None) -> Endpoint | None:
        row = self.db.execute(
            f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = ?"
            " AND (CAST(? AS TEXT) IS NULL OR device_id = ?)",  # PostgreSQL: a typed NULL
            (endpoint_id, device_id, device_id),
        ).fetchone()
        return None if row is None else _endpoint(row)

    def count_endpoints(self, device_id: str) -> int:
        count: int = self._one(
            "SELECT count(*) FROM webhook_endpoints WHERE device_id = ?", (device_id,)
        )
        return count

    def sessions_with_endpoints(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT DISTINCT device_id FROM webhook_endpoints")}

    def delete_endpoint(self, device_id: str, endpoint_id: str) -> bool:
        row = self.db.execute(
            "DELETE FROM webhook_endpoints WHERE id = ? AND device_id = ? RETURNING 1",
            (endpoint_id, device_id),
        ).fetchone()
        return row is not None

    def enable(self, endpoint_id: str, now: float) -> None:
        """Enable an endpoint, its failure run forgotten; its parked deliveries are due
        at once (call in a transaction)."""
        self.db.execute(
            "UPDATE webhook_endpoints SET enabled = 1, failures = 0, failing_since = NULL,"
            " disabled_reason = NULL, updated_at = ? WHERE id = ?",
            (now_iso(), endpoint_id),
        )
        self.db.execute(
            "UPDATE webhook_deliveries SET next_attempt_at = ? WHERE"
            " endpoint_id = ? AND status = 'pending' AND next_attempt_at IS NULL",
            (now, endpoint_id),
        )

    def pending(self, endpoint_id: str) -> int:
        """How many deliveries of the endpoint are pending (a count kept by triggers)."""
        pending: int | None = self._one(
            "SELECT pending FROM webhook_endpoints WHERE id = ?", (endpoint_id,)
        )
        return pending or 0

    def signing_target(self, endpoint_id: str) -> tuple[str, str] | None:
        """An endpoint's URL and sealed secret, for the delivery worker."""
        row = self.db.execute(
            "SELECT url, secret FROM webhook_endpoints WHERE id = ?", (endpoint_id,)
        ).fetchone()
        return None if row is None else (str(row[0]), str(row[1]))

    # -- secrets at rest ----------------------------------------------------------------

    def plain_secrets(self) -> list[tuple[str, str]]:
        """The endpoints whose secret is stored in the clear (from before sealing)."""
        return [
            (str(endpoint_id), str(secret))
            for endpoint_id, secret in self.db.execute(
                "SELECT id, secret FROM webhook_endpoints WHERE substr(secret, 1, ?) = ?",
                (len(PLAIN), PLAIN),
            )
        ]

    def set_secrets(self, sealed: list[tuple[str, str]]) -> None:
        """Store each (sealed secret, endpoint id)."""
        self.db.executemany("UPDATE webhook_endpoints SET secret = ? WHERE id = ?", sealed)

    def enabled_secrets(self) -> list[tuple[str, str]]:
        """The enabled endpoints' ids and sealed secrets."""
        rows = self.db.execute("SELECT id, secret FROM webhook_endpoints WHERE enabled = 1")
        return [(str(endpoint_id), str(secret)) for endpoint_id, secret in rows]

    def prune(self, endpoint_id: str, keep: int) -> None:
        """Forget finished deliveries of an endpoint older than its newest ``keep``."""
        self.db.execute(
            "DELETE FROM webhook_deliveries WHERE endpoint_id = ? AND status != 'pending'"
            " AND id < (SELECT id FROM webhook_deliveries WHERE endpoint_id = ?"
            " AND status != 'pending' ORDER BY id DESC LIMIT 1 OFFSET ?)",
            (endpoint_id, endpoint_id, keep - 1),
        )

    # -- the log ------------------------------------------------------------------------

    def list_deliveries(
        self, endpoint_id: str, status: str | None, before: int | None, limit: int
    ) -> list[dict[str, Any]]:
        # A status is part of the endpoint's index (its deliveries by status and age); all
        # of them at once are read through it and sorted, at most max_pending + log_keep.
        which = "endpoint_id = ?" if status is None else "endpoint_id = ? AND status = ?"
        rows = self.db.execute(
            f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries WHERE {which}"
            " AND (CAST(? AS BIGINT) IS NULL OR id < ?) ORDER BY id DESC LIMIT ?",
            (endpoint_id, *(() if status is None else (status,)), before, before, limit),
        )
        return [_delivery(row) for row in rows]

    def endpoint_stats(self, device_id: str) -> list[dict[str, Any]]:
        """Each endpoint of a session with its deliveries in the log by status, and the
        newest error any of them recorded (with its status code and time)."""
        rows = self.db.execute(
            # Written for both dialects: no sum of booleans; l's columns grouped by its key.
            "SELECT e.id, count(*) FILTER (WHERE d.status = 'delivered'),"
            " count(*) FILTER (WHERE d.status = 'failed'),"
            " count(*) FILTER (WHERE d.status = 'pending'),"
            " l.last_error, l.last_status_code, l.updated_at FROM webhook_endpoints e"
            " LEFT JOIN webhook_deliveries d ON d.endpoint_id = e.id"
            " LEFT JOIN webhook_deliveries l ON l.id = (SELECT id FROM webhook_deliveries"
            " WHERE endpoint_id = e.id AND last_error IS NOT NULL ORDER BY id DESC LIMIT 1)"
            " WHERE e.device_id = ? GROUP BY e.id, l.id ORDER BY e.created_at, e.id",
            (device_id,),
        )
        keys = (
            "id",
            "delivered",
            "failed",
            "pending",
            "lastError",
            "lastStatusCode",
            "lastErrorAt",
        )
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def redeliver(self, endpoint_id: str, delivery_id: int, now: float) -> dict[str, Any] | None:
        """A fresh delivery of the same event (and stored body), due now (same webhook-id)."""
        stamp = now_iso()
        row = self.db.execute(
            "INSERT INTO webhook_deliveries (endpoint_id, event_id, body_id, event_type, status,"
            " next_attempt_at, created_at, updated_at)"
            " SELECT endpoint_id, event_id, body_id, event_type, 'pending', ?, ?, ?"
            " FROM webhook_deliveries WHERE id = ? AND endpoint_id = ?"
            f" RETURNING {_DELIVERY_COLUMNS}",
            (now, stamp, stamp, delivery_id, endpoint_id),
        ).fetchone()
        return None if row is None else _delivery(row)
