"""The deliveries' hot path in SQL: written with their event, bounded, fetched, recorded.

:class:`Outbox` is a mixin of queries on one connection's handle (``self.db``), as
the core's are (:class:`wad.store.base.QueryBase`); it runs inside the store's
``run``/``read`` (:meth:`.db.WebhookDb.run`), never on a connection held apart.

- :meth:`Outbox.enqueue` runs inside the event's transaction: one delivery per
  endpoint that wants the event, the body once, and the cap on each endpoint's
  pending deliveries (the oldest beyond it are ``dropped``).
- The delivery worker asks for one endpoint's due deliveries at a time
  (:meth:`Outbox.due_for`), learns which endpoints' retries fell due since it last
  looked (:meth:`Outbox.fell_due`), and writes each batch of attempts in one
  transaction (:meth:`Outbox.record`), which also disables endpoints that keep
  failing.

On PostgreSQL several nodes share the outbox, so a delivery is **claimed** before it
is attempted (:meth:`Outbox.claim`): its row names the node (``claimed_by``) and
when the claim lapses (``claimed_until``, the server's clock, so the nodes' own
clocks need not agree), and ``claims`` counts the claims, which makes each one a
fencing token. The claim is a short transaction of its own, not a row lock held
for the attempt: the attempt is an HTTP request of up to the endpoint timeout
running on trio, while a row lock lives on one pooled connection in a worker
thread, so holding it would pin a connection (of a pool of 8) per request in
flight and tie a delivery's fate to that connection. ``FOR UPDATE SKIP LOCKED``
in the claim lets two nodes claiming the same rows at once each take the ones the
other is not taking, without waiting. A claim lapses after the attempt's timeout
and a margin (a node that died mid-attempt leaves it to lapse; another node then
takes the delivery: at least once), and an outcome is written only while its claim
is the delivery's latest (:meth:`Outbox.record`): a late answer to a node whose
claim lapsed and was taken over never overwrites the other node's. On SQLite one
process owns the database: nothing is claimed (the columns exist, unused, so both
schemas stay alike) and the statements are those of before.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from wad.store import StoredEvent, now_iso
from wad.store.base import QueryBase
from wad.store.clock import iso_at


def iso(epoch: float | None) -> str | None:
    return None if epoch is None else iso_at(epoch)


@dataclass(frozen=True, slots=True)
class Due:
    """A delivery to attempt now."""

    id: int
    endpoint_id: str
    event_id: str
    body: str
    attempts: int
    claim: int = 0  # PostgreSQL: the claim (its number) this node attempts it under


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
    timed_out: bool = False
    claim: int = 0  # PostgreSQL: the claim it was attempted under (its Due's)


@dataclass(frozen=True, slots=True)
class Limits:
    """When an endpoint that keeps failing is disabled."""

    failures: int  # deliveries in a row that failed after every retry
    failing_for: float  # seconds in which every attempt failed


@dataclass(frozen=True, slots=True)
class Disabled:
    endpoint_id: str
    device_id: str
    reason: str


# The endpoints that take an event: (session, the event type as a JSON string).
_WANTS = "device_id = ? AND enabled = 1 AND (events IS NULL OR instr(events, ?) > 0)"
_WANTS_PG = _WANTS.replace("instr(", "strpos(")  # PostgreSQL's name for it
# PostgreSQL: the server's clock (Unix time), which every node's claims are measured on.
_SERVER_NOW = "extract(epoch FROM now())"
_UNCLAIMED = f"(claimed_until IS NULL OR claimed_until < {_SERVER_NOW})"
# PostgreSQL: an outcome written ends its claim (a retry is anyone's once due).
_RELEASE = {"sqlite": "", "postgresql": ", claimed_by = NULL, claimed_until = NULL"}


class Outbox(QueryBase):
    # -- inside the event's transaction --------------------------------------------------

    def enqueue(self, event: StoredEvent, body: str, now: float) -> list[str]:
        """The body once, when an enabled endpoint of the session wants this event type,
        then one delivery per such endpoint (two statements). Returns their endpoints."""
        wanted = (event.device_id, json.dumps(event.type))
        wants = _WANTS if self.dialect == "sqlite" else _WANTS_PG
        body_id = self._one(
            "INSERT INTO webhook_bodies (body) SELECT ? WHERE EXISTS (SELECT 1 FROM"
            f" webhook_endpoints WHERE {wants}) RETURNING id",
            (body, *wanted),
        )
        if body_id is None:
            return []
        stamp = now_iso()
        # PostgreSQL: the endpoints' rows (their pending counts, by trigger) are locked in
        # the order of their ids, as the writes of outcomes lock them (no deadlock).
        order = "" if self.dialect == "sqlite" else " ORDER BY id"
        return [
            row[0]
            for row in self.db.execute(
                "INSERT INTO webhook_deliveries (endpoint_id, event_id, body_id, event_type,"
                " status, next_attempt_at, created_at, updated_at)"
                f" SELECT id, ?, ?, ?, 'pending', ?, ?, ? FROM webhook_endpoints WHERE {wants}"
                f"{order} RETURNING endpoint_id",
                (event.id, body_id, event.type, now, stamp, stamp, *wanted),
            )
        ]

    def drop_over(self, cap: int, device_id: str | None = None) -> dict[str, list[int]]:
        """Mark ``dropped`` the oldest pending deliveries of each endpoint (of one session,
        or all) that has more than ``cap``; returns the dropped ids by endpoint. The
        counts are kept by triggers, so a session under the cap costs one indexed read."""
        if device_id is None:
            over = self.db.execute(
                "SELECT id, pending - ? FROM webhook_endpoints WHERE pending > ?", (cap, cap)
            ).fetchall()
        else:  # the hot path: through the session's index
            over = self.db.execute(
                "SELECT id, pending - ? FROM webhook_endpoints WHERE device_id = ? AND pending > ?",
                (cap, device_id, cap),
            ).fetchall()
        dropped: dict[str, list[int]] = {}
        error = f"dropped: more than {cap} deliveries were pending for this endpoint"
        stamp = now_iso()
        for endpoint_id, excess in over:
            dropped[str(endpoint_id)] = [
                row[0]
                for row in self.db.execute(
                    "UPDATE webhook_deliveries SET status = 'dropped', next_attempt_at = NULL,"
                    " last_error = ?, updated_at = ? WHERE id IN (SELECT id FROM"
                    " webhook_deliveries WHERE endpoint_id = ? AND status = 'pending'"
                    " ORDER BY id LIMIT ?) RETURNING id",
                    (error, stamp, endpoint_id, excess),
                )
            ]
        return dropped

    # -- for the delivery worker ---------------------------------------------------------

    def due_for(self, endpoint_id: str, now: float, busy: Iterable[int], limit: int) -> list[Due]:
        """An endpoint's deliveries due by ``now``, oldest first, but those already being
        sent (``busy``)."""
        if self.dialect == "sqlite":
            busy_ids, unclaimed = "SELECT value FROM json_each(?)", ""
        else:  # and none another node holds a live claim on
            busy_ids = "SELECT value::bigint FROM json_array_elements_text(?::json)"
            unclaimed = f" AND {_UNCLAIMED}"
        rows = self.db.execute(
            "SELECT d.id, d.endpoint_id, d.event_id, b.body, d.attempts"
            " FROM webhook_deliveries d"
            " JOIN webhook_bodies b ON b.id = d.body_id"
            " WHERE d.endpoint_id = ? AND d.status = 'pending' AND d.next_attempt_at <= ?"
            f" AND d.id NOT IN ({busy_ids}){unclaimed} ORDER BY d.id LIMIT ?",
            (endpoint_id, now, json.dumps(list(busy)), limit),
        )
        return [Due(*row) for row in rows]

    def fell_due(self, after: float, until: float) -> set[str]:
        """The endpoints with a retry due in (``after``, ``until``]."""
        return {
            row[0]
            for row in self.db.execute(
                "SELECT DISTINCT endpoint_id FROM webhook_deliveries WHERE status = 'pending'"
                " AND next_attempt_at > ? AND next_attempt_at <= ?",
                (after, until),
            )
        }

    def with_pending(self) -> set[str]:
        """The enabled endpoints that have pending deliveries (due or not)."""
        return {
            row[0]
            for row in self.db.execute(
                "SELECT id FROM webhook_endpoints WHERE enabled = 1 AND pending > 0"
            )
        }

    def next_due(self, after: float) -> float | None:
        due: float | None = self._one(
            "SELECT min(next_attempt_at) FROM webhook_deliveries"
            " WHERE status = 'pending' AND next_attempt_at > ?",
            (after,),
        )
        return due

    # -- PostgreSQL: claims, shared by the nodes -------------------------------------------

    def claim(
        self, ids: Iterable[int], node: str, lease: float, now: float
    ) -> dict[int, tuple[int, int]]:
        """Claim for ``node``, for ``lease`` seconds of the server's clock, those of the
        deliveries ``ids`` still pending, due by ``now`` and claimed by no one (or under
        a lapsed claim); rows another transaction is claiming are skipped, not waited
        for. Returns each claimed id's claim number and attempts so far (another node
        may have attempted it since it was fetched). PostgreSQL only."""
        rows = self.db.execute(
            f"UPDATE webhook_deliveries SET claimed_by = ?, claimed_until = {_SERVER_NOW} + ?,"
            " claims = claims + 1 WHERE id IN (SELECT id FROM webhook_deliveries"
            " WHERE id = ANY(?::bigint[]) AND status = 'pending' AND next_attempt_at <= ?"
            f" AND {_UNCLAIMED} FOR UPDATE SKIP LOCKED) RETURNING id, claims, attempts",
            (node, lease, list(ids), now),
        )
        return {row[0]: (row[1], row[2]) for row in rows}

    def release(self, claims: Iterable[tuple[int, int]]) -> None:
        """End these (delivery id, claim) claims unattempted (a node stopping with
        attempts cut short): the others may take them at once. PostgreSQL only."""
        self.db.executemany(
            "UPDATE webhook_deliveries SET claimed_by = NULL, claimed_until = NULL"
            " WHERE id = ? AND claims = ? AND status = 'pending'",
            list(claims),
        )

    def due_unclaimed(self, now: float) -> set[str]:
        """The endpoints with deliveries due by ``now`` that no live claim holds: new
        ones another node wrote, retries due, claims of a node that died. What a node
        polls on PostgreSQL. PostgreSQL only."""
        return {
            row[0]
            for row in self.db.execute(
                "SELECT DISTINCT endpoint_id FROM webhook_deliveries WHERE status = 'pending'"
                f" AND next_attempt_at <= ? AND {_UNCLAIMED}",
                (now,),
            )
        }

    def current(self, outcomes: list[Outcome]) -> list[Outcome]:
        """The outcomes whose claim is still their delivery's latest, their rows locked
        until the transaction ends (so no claim comes between this and the write).
        SQLite: all of them (nothing is claimed there)."""
        if self.dialect == "sqlite" or not outcomes:
            return outcomes
        # Their endpoints' rows first, in the order of their ids: the write's triggers
        # lock them, and two nodes' writes (or an event's) must take them in one order.
        self.db.execute(
            "SELECT 1 FROM webhook_endpoints WHERE id = ANY(?::text[]) ORDER BY id FOR UPDATE",
            (sorted({o.endpoint_id for o in outcomes}),),
        ).fetchall()
        latest = dict(
            self.db.execute(
                "SELECT id, claims FROM webhook_deliveries WHERE id = ANY(?::bigint[])"
                " ORDER BY id FOR UPDATE",
                ([o.delivery_id for o in outcomes],),
            ).fetchall()
        )
        return [o for o in outcomes if latest.get(o.delivery_id) == o.claim]

    def record(self, outcomes: list[Outcome], limits: Limits, now: float) -> list[Disabled]:
        """Write a batch of attempts (in the caller's transaction: one for the batch);
        returns the endpoints it disabled. A delivery dropped while it was in flight
        stays dropped unless it was delivered. On PostgreSQL only the outcomes whose
        claim is still current count (:meth:`current`): a late one is dropped."""
        outcomes = self.current(outcomes)
        release = _RELEASE[self.dialect]
        stamp = now_iso()
        done, retry, failed = [], [], []
        for o in outcomes:
            if o.ok:
                done.append((o.status_code, stamp, o.delivery_id))
            elif o.retry_at is not None:
                retry.append((o.status_code, o.error, o.retry_at, stamp, o.delivery_id))
            else:
                failed.append((o.status_code, o.error, stamp, o.delivery_id))
        self.db.executemany(
            "UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1,"
            " last_status_code = ?, last_error = NULL, next_attempt_at = NULL,"
            f" updated_at = ?{release} WHERE id = ?",
            done,
        )
        # A retry of a delivery whose endpoint was disabled meanwhile stays parked.
        self.db.executemany(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, last_status_code = ?,"
            " last_error = ?, next_attempt_at = CASE WHEN status = 'pending' AND (SELECT"
            " enabled FROM webhook_endpoints e WHERE e.id = endpoint_id) = 1 THEN ? END,"
            f" updated_at = ?{release} WHERE id = ?",
            retry,
        )
        self.db.executemany(
            "UPDATE webhook_deliveries SET status = CASE status WHEN 'pending'"
            " THEN 'failed' ELSE status END, attempts = attempts + 1,"
            " last_status_code = ?, last_error = ?, next_attempt_at = NULL,"
            f" updated_at = ?{release} WHERE id = ?",
            failed,
        )
        return [
            disabled
            for endpoint_id, run in _failure_runs(outcomes).items()
            if (disabled := self._judge(endpoint_id, run, limits, now)) is not None
        ]

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

    def _judge(self, endpoint_id: str, run: _Run, limits: Limits, now: float) -> Disabled | None:
        """Count an endpoint's failure run; disable it when it is gone or failed too long."""
        if run.reset:
            row = self.db.execute(
                "UPDATE webhook_endpoints SET failures = ?, failing_since = ? WHERE id = ?"
                " AND enabled = 1 RETURNING failures, failing_since, device_id",
                (run.final_failures, now if run.failing else None, endpoint_id),
            ).fetchone()
        elif run.failing:
            row = self.db.execute(
                "UPDATE webhook_endpoints SET failures = failures + ?,"
                " failing_since = coalesce(failing_since, ?) WHERE id = ? AND enabled = 1"
                " RETURNING failures, failing_since, device_id",
                (run.final_failures, now, endpoint_id),
            ).fetchone()
        else:
            return None
        if row is None:  # deleted, or already disabled
            return None
        failures, failing_since, device_id = row
        if run.gone:
            reason = "the endpoint answered 410 Gone"
        elif failures >= limits.failures:
            reason = f"{failures} deliveries in a row failed after every retry"
        elif failing_since is not None and now - failing_since >= limits.failing_for:
            reason = (
                f"every attempt failed for {span(now - failing_since)} (since {iso(failing_since)})"
            )
        else:
            return None
        self.disable(endpoint_id, reason)
        return Disabled(endpoint_id, device_id, reason)


@dataclass(slots=True)
class _Run:
    reset: bool = False  # a success reset the run
    final_failures: int = 0  # deliveries that failed for good since
    failing: bool = False  # an attempt failed since (or with no success at all)
    gone: bool = False  # a 410 was seen


def _failure_runs(outcomes: list[Outcome]) -> dict[str, _Run]:
    """Per endpoint, in order of the outcomes, how its failure run went."""
    runs: dict[str, _Run] = defaultdict(_Run)
    for o in outcomes:
        run = runs[o.endpoint_id]
        if o.ok:
            run.reset, run.final_failures, run.failing = True, 0, False
        else:
            run.failing = True
            if o.retry_at is None:
                run.final_failures += 1
                run.gone = run.gone or o.gone
    return runs


def span(seconds: float) -> str:
    """A length of time as people say it: ``45 s``, ``12 min``, ``6 h``."""
    if seconds < 120:
        return f"{seconds:.3g} s"
    if seconds < 7200:
        return f"{seconds / 60:.3g} min"
    return f"{seconds / 3600:.3g} h"
