"""All of the webhook plugin's SQL: endpoints and deliveries, in wad.db beside the core's tables.

A delivery is one event for one endpoint. It is written in the transaction
that stores the event (so it is exactly as durable as the event), and it
carries its own copy of the body: the event log is pruned, a backlog of
deliveries is not. ``next_attempt_at`` is Unix time; a pending delivery with
no next attempt is parked (its endpoint is disabled) until the endpoint is
enabled again.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from wad.store import Store, StoredEvent, new_id, now_iso
from wad.store.clock import iso_at

from .migrations import MIGRATIONS


def iso(epoch: float | None) -> str | None:
    return None if epoch is None else iso_at(epoch)


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: str
    device_id: str
    url: str
    events: list[str] | None
    secret: str
    enabled: bool
    failures: int
    disabled_reason: str | None
    created_at: str
    updated_at: str

    def to_json(self, with_secret: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "url": self.url,
            "events": self.events,
            "enabled": self.enabled,
            "consecutiveFailures": self.failures,
            "disabledReason": self.disabled_reason,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }
        if with_secret:
            data["secret"] = self.secret
        return data


@dataclass(frozen=True, slots=True)
class Due:
    """A delivery to attempt now."""

    id: int
    endpoint_id: str
    event_id: str
    body: str
    attempts: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one attempt went. ``retry_at`` None with ``ok`` False means it failed for good."""

    delivery_id: int
    endpoint_id: str
    ok: bool
    status_code: int | None
    error: str | None
    retry_at: float | None = None
    gone: bool = False


_ENDPOINT_COLUMNS = (
    "id, device_id, url, events, secret, enabled, failures, disabled_reason, created_at, updated_at"
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
    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db

    def migrate(self) -> None:
        self.store.migrate_plugin("webhooks", MIGRATIONS)

    # -- endpoints ----------------------------------------------------------------------

    def create_endpoint(
        self, device_id: str, url: str, events: list[str] | None, secret: str
    ) -> Endpoint:
        now = now_iso()
        row = self.db.execute(
            "INSERT INTO webhook_endpoints (id, device_id, url, events, secret, created_at,"
            f" updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {_ENDPOINT_COLUMNS}",
            (
                new_id("wh"),
                device_id,
                url,
                json.dumps(events) if events else None,
                secret,
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
            " AND (? IS NULL OR device_id = ?)",
            (endpoint_id, device_id, device_id),
        ).fetchone()
        return None if row is None else _endpoint(row)

    def count_endpoints(self, device_id: str) -> int:
        count: int = self.db.execute(
            "SELECT count(*) FROM webhook_endpoints WHERE device_id = ?", (device_id,)
        ).get
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
        """Enable an endpoint; its parked deliveries are due at once."""
        with self.store.transaction():
            self.db.execute(
                "UPDATE webhook_endpoints SET enabled = 1, failures = 0,"
                " disabled_reason = NULL, updated_at = ? WHERE id = ?",
                (now_iso(), endpoint_id),
            )
            self.db.execute(
                "UPDATE webhook_deliveries SET next_attempt_at = ? WHERE"
                " endpoint_id = ? AND status = 'pending' AND next_attempt_at IS NULL",
                (now, endpoint_id),
            )

    def disable(self, endpoint_id: str, reason: str) -> None:
        """Disable an endpoint and park its pending deliveries (call in a transaction)."""
        self.db.execute(
            "UPDATE webhook_endpoints SET enabled = 0, disabled_reason = ?,"
            " updated_at = ? WHERE id = ?",
            (reason, now_iso(), endpoint_id),
        )
        self.db.execute(
            "UPDATE webhook_deliveries SET next_attempt_at = NULL WHERE"
            " endpoint_id = ? AND status = 'pending'",
            (endpoint_id,),
        )

    def signing_target(self, endpoint_id: str) -> tuple[str, str] | None:
        """An endpoint's URL and secret, for the delivery worker."""
        return self.db.execute(
            "SELECT url, secret FROM webhook_endpoints WHERE id = ?", (endpoint_id,)
        ).fetchone()

    # -- the hot path -----------------------------------------------------------------

    def enqueue(self, event: StoredEvent, body: str, now: float) -> int:
        """One delivery per enabled endpoint of the session that wants this event type:
        one statement, inside the event's transaction. Returns how many."""
        stamp = now_iso()
        rows = self.db.execute(
            "INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, body, status,"
            " next_attempt_at, created_at, updated_at)"
            " SELECT id, ?, ?, ?, 'pending', ?, ?, ? FROM webhook_endpoints"
            " WHERE device_id = ? AND enabled = 1"
            " AND (events IS NULL OR instr(events, ?) > 0) RETURNING 1",
            (
                event.id,
                event.type,
                body,
                now,
                stamp,
                stamp,
                event.device_id,
                json.dumps(event.type),
            ),
        ).fetchall()
        return len(rows)

    def due(self, now: float, busy: Iterable[int], full: Iterable[str], limit: int) -> list[Due]:
        """Pending deliveries due by ``now``, oldest first, except those already being sent
        (``busy``) and those of endpoints at their concurrency limit (``full``)."""
        rows = self.db.execute(
            "SELECT id, endpoint_id, event_id, body, attempts FROM webhook_deliveries"
            " WHERE status = 'pending' AND next_attempt_at <= ?"
            " AND id NOT IN (SELECT value FROM json_each(?))"
            " AND endpoint_id NOT IN (SELECT value FROM json_each(?))"
            " ORDER BY next_attempt_at LIMIT ?",
            (now, json.dumps(list(busy)), json.dumps(list(full)), limit),
        )
        return [Due(*row) for row in rows]

    def next_due(self, after: float) -> float | None:
        due: float | None = self.db.execute(
            "SELECT min(next_attempt_at) FROM webhook_deliveries"
            " WHERE status = 'pending' AND next_attempt_at > ?",
            (after,),
        ).get
        return due

    def record(self, outcomes: list[Outcome], disable_after: int) -> list[str]:
        """Write a batch of attempts in one transaction; returns the endpoints it disabled."""
        stamp = now_iso()
        done, retry, failed = [], [], []
        for o in outcomes:
            if o.ok:
                done.append((o.status_code, stamp, o.delivery_id))
            elif o.retry_at is not None:
                retry.append((o.status_code, o.error, o.retry_at, stamp, o.delivery_id))
            else:
                failed.append((o.status_code, o.error, stamp, o.delivery_id))
        disabled: list[str] = []
        with self.store.transaction():
            self.db.executemany(
                "UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1,"
                " last_status_code = ?, last_error = NULL, next_attempt_at = NULL,"
                " updated_at = ? WHERE id = ?",
                done,
            )
            # A retry of a delivery whose endpoint was disabled meanwhile stays parked.
            self.db.executemany(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, last_status_code = ?,"
                " last_error = ?, next_attempt_at = CASE WHEN (SELECT enabled FROM"
                " webhook_endpoints e WHERE e.id = endpoint_id) THEN ? END, updated_at = ?"
                " WHERE id = ?",
                retry,
            )
            self.db.executemany(
                "UPDATE webhook_deliveries SET status = 'failed', attempts = attempts + 1,"
                " last_status_code = ?, last_error = ?, next_attempt_at = NULL, updated_at = ?"
                " WHERE id = ?",
                failed,
            )
            for endpoint_id, (reset, added, gone) in _failure_runs(outcomes).items():
                if reset:
                    count = self.db.execute(
                        "UPDATE webhook_endpoints SET failures = ? WHERE id = ? AND enabled = 1"
                        " RETURNING failures",
                        (added, endpoint_id),
                    ).fetchone()
                elif added:
                    count = self.db.execute(
                        "UPDATE webhook_endpoints SET failures = failures + ? WHERE id = ?"
                        " AND enabled = 1 RETURNING failures",
                        (added, endpoint_id),
                    ).fetchone()
                else:
                    continue
                if count is None:  # deleted, or already disabled
                    continue
                if gone:
                    reason = "the endpoint answered 410 Gone"
                elif count[0] >= disable_after:
                    reason = f"{count[0]} deliveries in a row failed after every retry"
                else:
                    continue
                self.disable(endpoint_id, reason)
                disabled.append(endpoint_id)
        return disabled

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
        rows = self.db.execute(
            f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries WHERE endpoint_id = ?"
            " AND (? IS NULL OR status = ?) AND (? IS NULL OR id < ?)"
            " ORDER BY id DESC LIMIT ?",
            (endpoint_id, status, status, before, before, limit),
        )
        return [_delivery(row) for row in rows]

    def endpoint_stats(self, device_id: str) -> list[dict[str, Any]]:
        """Each endpoint of a session with its deliveries in the log by status, and the
        newest error any of them recorded (with its status code and time)."""
        rows = self.db.execute(
            "SELECT e.id, coalesce(sum(d.status = 'delivered'), 0),"
            " coalesce(sum(d.status = 'failed'), 0), coalesce(sum(d.status = 'pending'), 0),"
            " l.last_error, l.last_status_code, l.updated_at FROM webhook_endpoints e"
            " LEFT JOIN webhook_deliveries d ON d.endpoint_id = e.id"
            " LEFT JOIN webhook_deliveries l ON l.id = (SELECT id FROM webhook_deliveries"
            " WHERE endpoint_id = e.id AND last_error IS NOT NULL ORDER BY id DESC LIMIT 1)"
            " WHERE e.device_id = ? GROUP BY e.id ORDER BY e.created_at, e.id",
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
        """A fresh delivery of the same event and body, due now (same webhook-id)."""
        stamp = now_iso()
        row = self.db.execute(
            "INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, body, status,"
            " next_attempt_at, created_at, updated_at)"
            " SELECT endpoint_id, event_id, event_type, body, 'pending', ?, ?, ?"
            " FROM webhook_deliveries WHERE id = ? AND endpoint_id = ?"
            f" RETURNING {_DELIVERY_COLUMNS}",
            (now, stamp, stamp, delivery_id, endpoint_id),
        ).fetchone()
        return None if row is None else _delivery(row)


def _failure_runs(outcomes: list[Outcome]) -> dict[str, tuple[bool, int, bool]]:
    """Per endpoint, in order: (a success reset the run, final failures since, a 410 seen)."""
    runs: dict[str, tuple[bool, int, bool]] = defaultdict(lambda: (False, 0, False))
    for o in outcomes:
        reset, added, gone = runs[o.endpoint_id]
        if o.ok:
            runs[o.endpoint_id] = (True, 0, gone)
        elif o.retry_at is None:
            runs[o.endpoint_id] = (reset, added + 1, gone or o.gone)
    return runs
