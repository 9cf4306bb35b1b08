"""Cluster-wide live events and cache invalidation: PostgreSQL's LISTEN/NOTIFY.

Triggers (:func:`install`) announce, inside the transaction that writes it, every
stored event on ``wad_events`` (the payload is the event's id, never its body:
NOTIFY's payload is at most 8000 bytes) and every change to ``api_keys``,
``session_settings`` or ``dashboard_signouts`` (:mod:`.signouts`) on
``wad_caches``; a session's deletion is announced on ``wad_events`` too
(``{"deleted": <device id>}``). ``session.deleted`` is live-only, never stored: after
a reconnect, the deletions missed of the sessions whose events were handed out are
told from what the ``sessions`` table no longer holds. The server delivers a NOTIFY
at commit only, to every listening connection, in commit order: an event that
rolled back is never announced, and one session's events (their writers serialized
by the session row's lock) arrive in their ``seq`` order. A trigger rather than a
statement of the queries: no round trip more per event, and any writer of the table
announces.

:class:`Listener` keeps one dedicated connection (``application_name`` "wad <node>
listener") in a thread of its own, reads the announced rows by id and hands them to
trio (``trio.from_thread``) in the order announced, and drops the store's caches on
``wad_caches``. When that connection dies it reconnects (0.1 s, then backing off to
2 s), LISTENs again and then replays from the events table what was committed
meanwhile: every event after the last one it saw, less a margin of :data:`MARGIN`
rows (the identity numbers rows when inserted, not when committed, so an event may
commit just after a higher-numbered one), without those it handed out already. A
subscriber misses nothing that way unless more than :data:`CATCH_UP_MAX` events
were committed while the listener was away: then every live stream is ended
(``gap``), and each resumes from its last event id as after any cut-off.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import psycopg
import trio

from wad.store.clock import now_iso
from wad.store.events import StoredEvent
from wad.store.ids import new_id
from wad.store.postgres import signouts
from wad.store.postgres.caches import CacheState
from wad.store.postgres.connect import connect
from wad.store.postgres.handle import PgDb

log = logging.getLogger(__name__)

EVENTS = "wad_events"
CACHES = "wad_caches"

#: Rows before the last one seen that a reconnect reads again (out-of-order commits).
MARGIN = 1000
#: Most events a reconnect replays; more missed ends every live stream instead.
CATCH_UP_MAX = 10_000
#: How often the listening thread looks up from its wait (to see it should stop).
POLL = 0.25
BACKOFF_FIRST, BACKOFF_MAX = 0.1, 2.0

# The migrations' lock (wad.store.postgres.migrations): nodes starting together
# replace the functions one at a time.
_LOCK = "SELECT pg_advisory_xact_lock(2003919872, 1)"

# Installed at every start, not as a numbered migration: the core migrations are
# numbered alike on both backends and SQLite has no such thing. The functions are
# replaced each time (no table lock); a trigger is created only when missing, since
# creating one locks its table against writes for a moment.
_FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION wad_notify_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_notify('{EVENTS}', NEW.id); RETURN NULL; END $$;
CREATE OR REPLACE FUNCTION wad_notify_caches() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_notify('{CACHES}', TG_TABLE_NAME); RETURN NULL; END $$;
CREATE OR REPLACE FUNCTION wad_notify_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('{EVENTS}', json_build_object('deleted', OLD.device_id)::text);
  RETURN NULL;
END $$;
"""
# (table, trigger, its creation)
_TRIGGERS = [
    (
        "events",
        "wad_notify_event",
        "CREATE TRIGGER wad_notify_event AFTER INSERT ON events"
        " FOR EACH ROW EXECUTE FUNCTION wad_notify_event()",
    ),
    # Row triggers: they also fire for the rows a session's delete cascades to.
    (
        "api_keys",
        "wad_notify_caches",
        "CREATE TRIGGER wad_notify_caches AFTER INSERT OR UPDATE OR DELETE"
        " ON api_keys FOR EACH ROW EXECUTE FUNCTION wad_notify_caches()",
    ),
    (
        "session_settings",
        "wad_notify_caches",
        "CREATE TRIGGER wad_notify_caches AFTER INSERT OR UPDATE OR DELETE"
        " ON session_settings FOR EACH ROW EXECUTE FUNCTION wad_notify_caches()",
    ),
    # A dashboard sign-out: the listeners read the table again (.signouts).
    (
        signouts.TABLE,
        "wad_notify_caches",
        f"CREATE TRIGGER wad_notify_caches AFTER INSERT ON {signouts.TABLE}"
        " FOR EACH ROW EXECUTE FUNCTION wad_notify_caches()",
    ),
    # session.deleted is live-only (not stored): announced by itself, as JSON.
    (
        "sessions",
        "wad_notify_deleted",
        "CREATE TRIGGER wad_notify_deleted AFTER DELETE ON sessions"
        " FOR EACH ROW EXECUTE FUNCTION wad_notify_deleted()",
    ),
]

_ROW = "rowid, id, device_id, seq, type, payload, created_at"

Deliver = Callable[[list[StoredEvent]], None]
#: Given every dashboard login ended on any node and not expired: hash -> expiry.
SignedOut = Callable[[dict[str, float]], None]


def install(db: PgDb) -> None:
    """Create (or bring up to date) the triggers that announce on both channels."""
    with db:
        db.execute(_LOCK, ())
        db.execute(_FUNCTIONS)
        for table, name, create in _TRIGGERS:
            found = db.execute(
                "SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass(?) AND tgname = ?",
                (table, name),
            ).fetchone()
            if found is None:
                db.execute(create)


class Listener:
    """One node's ear on the cluster: see the module's docstring."""

    def __init__(
        self,
        url: str,
        node: str,
        deliver: Deliver,
        caches: CacheState,
        *,
        gap: Callable[[], None],
        signed_out: SignedOut | None = None,
    ) -> None:
        self.url = url
        self.node = node
        self.deliver = deliver
        self.caches = caches
        self.gap = gap
        self.signed_out = signed_out
        self.reconnects = 0
        self.replayed = 0  # events handed out by a replay after a reconnect
        self.gaps = 0  # replays given up (more than CATCH_UP_MAX missed)
        self._high: int | None = None  # the highest rowid seen
        self._seen: set[int] = set()  # rowids handed out, those above _high - MARGIN
        # The sessions whose events were handed out (and not told deleted since): a
        # reconnect tells the deletions it missed of these.
        self._sessions: set[str] = set()
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop = threading.Event()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen until cancelled; ready (``task_status``) once the first LISTEN holds."""
        self._token = trio.lowlevel.current_trio_token()
        self._stop = threading.Event()
        told = False

        def started() -> None:
            nonlocal told
            if not told:
                told = True
                task_status.started()

        async def stop_when_cancelled() -> None:
            try:
                await trio.sleep_forever()
            finally:
                self._stop.set()

        # Not abandoned on cancel: the thread sees _stop within POLL and returns
        # having closed its connection, so nothing outlives this call.
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stop_when_cancelled)
            try:
                # A limiter of its own: it holds its thread for as long as it runs.
                limiter = trio.CapacityLimiter(1)
                await trio.to_thread.run_sync(self._main, started, limiter=limiter)
            finally:
                nursery.cancel_scope.cancel()

    def _to_trio(self, fn: Callable[..., object], *args: Any) -> None:
        if self._stop.is_set():
            raise _Stopped
        try:
            trio.from_thread.run_sync(fn, *args, trio_token=self._token)
        except trio.RunFinishedError:
            raise _Stopped from None

    def _main(self, started: Callable[[], None]) -> None:
        wait = BACKOFF_FIRST
        while not self._stop.is_set():
            try:
                conn = connect(self.url, f"{self.node} listener")
            except psycopg.Error as exc:
                log.warning("event listener cannot connect (%s); again in %.1f s", exc, wait)
                self._stop.wait(wait)
                wait = min(wait * 2, BACKOFF_MAX)
                continue
            try:
                with conn:
                    self._listen(conn, started)
                    wait = BACKOFF_FIRST
            except _Stopped:
                return
            except psycopg.Error as exc:
                log.warning("event listener's connection lost (%s); listening again", exc)
            except Exception:
                log.exception("event listener failed; listening again")
            finally:
                # Nothing is cached while nobody hears of changes (see .caches).
                self.caches.invalidate(live=False)
            if not self._stop.is_set():
                self.reconnects += 1
                self._stop.wait(wait)
                wait = min(wait * 2, BACKOFF_MAX)

    def _listen(self, conn: psycopg.Connection[Any], started: Callable[[], None]) -> None:
        conn.execute(f"LISTEN {EVENTS}")
        conn.execute(f"LISTEN {CACHES}")
        # From here every commit is announced to this connection: what changed before
        # it is dropped, and the caches may keep values again.
        self.caches.invalidate(live=True)
        self._signouts(conn)  # those made while this node was not listening, too
        if self._high is None:
            row = conn.execute("SELECT coalesce(max(rowid), 0) FROM events").fetchone()
            self._high = int(row[0]) if row else 0
        else:
            self._replay(conn)
        self._to_trio(started)
        while not self._stop.is_set():
            notes = list(conn.notifies(timeout=POLL, stop_after=1))
            if not notes:
                continue
            notes += conn.notifies(timeout=0)  # and whatever else has come already
            announced: list[str] = []
            signed_out = False
            for note in notes:
                if note.channel == EVENTS:
                    announced.append(note.payload)
                elif note.payload == signouts.TABLE:
                    signed_out = True
                else:
                    self.caches.invalidate()
            if signed_out:
                self._signouts(conn)
            if announced:
                self._announced(conn, announced)

    def _signouts(self, conn: psycopg.Connection[Any]) -> None:
        if self.signed_out is not None:
            self._to_trio(self.signed_out, signouts.current(conn))

    def _announced(self, conn: psycopg.Connection[Any], payloads: list[str]) -> None:
        """Hand out what was announced, in the order announced (commit order): stored
        events read by id (one gone already, pruned or its session deleted, is left
        out), a deleted session's live-only ``session.deleted`` as it stands."""
        ids = [p for p in payloads if not p.startswith("{")]
        rows = _rows_by_id(conn, ids) if ids else []
        by_id = {row[1]: row for row in rows}
        events: list[StoredEvent] = []
        for payload in payloads:
            if payload.startswith("{"):
                events.append(_deleted(payload))
                continue
            row = by_id.get(payload)
            if row is not None and self._fresh(row):
                events.append(_event(row))
        self._hand_out(events)

    def _replay(self, conn: psycopg.Connection[Any]) -> None:
        assert self._high is not None
        rows = conn.execute(
            f"SELECT {_ROW} FROM events WHERE rowid > %s ORDER BY rowid LIMIT %s",
            (self._high - MARGIN, CATCH_UP_MAX + MARGIN + 1),
        ).fetchall()
        fresh = [row for row in rows if row[0] not in self._seen]
        if len(fresh) > CATCH_UP_MAX:
            self.gaps += 1
            log.warning("event listener missed more than %d events: live streams end", CATCH_UP_MAX)
            self._to_trio(self.gap)
            top = conn.execute("SELECT coalesce(max(rowid), 0) FROM events").fetchone()
            self._high = int(top[0]) if top else 0
            self._seen.clear()
            return
        self.replayed += len(fresh)
        events = [_event(row) for row in fresh if self._fresh(row)]
        # session.deleted is never stored: a deletion missed meanwhile is told from
        # what the sessions table no longer holds.
        known = sorted(self._sessions)
        rows = conn.execute(
            "SELECT device_id FROM sessions WHERE device_id = ANY(%s)", (known,)
        ).fetchall()
        still = {row[0] for row in rows}
        events += [_deleted_session(device_id) for device_id in known if device_id not in still]
        self._hand_out(events)

    def _fresh(self, row: Any) -> bool:
        """Whether the row's event is yet to be handed out; noted as handed out."""
        rowid = int(row[0])
        if rowid in self._seen:
            return False
        self._seen.add(rowid)
        self._high = max(self._high or 0, rowid)
        return True

    def _hand_out(self, events: list[StoredEvent]) -> None:
        for event in events:
            if event.type == "session.deleted":
                self._sessions.discard(event.device_id)
            else:
                self._sessions.add(event.device_id)
        if len(self._seen) > 4 * MARGIN and self._high is not None:
            floor = self._high - MARGIN
            self._seen = {rowid for rowid in self._seen if rowid > floor}
        if events:
            self._to_trio(self.deliver, events)


class _Stopped(Exception):
    """The listener is to stop (cancelled, or trio's run is over)."""


def _rows_by_id(conn: psycopg.Connection[Any], ids: list[str]) -> list[Any]:
    return conn.execute(f"SELECT {_ROW} FROM events WHERE id = ANY(%s)", (ids,)).fetchall()


def _deleted(payload: str) -> StoredEvent:
    """The live-only event of a session deleted on any node (as EventLog.announce)."""
    return _deleted_session(str(json.loads(payload)["deleted"]))


def _deleted_session(device_id: str) -> StoredEvent:
    return StoredEvent(
        new_id("evt"), device_id, 0, "session.deleted", {"deviceId": device_id}, now_iso()
    )


def _event(row: Any) -> StoredEvent:
    return StoredEvent(row[1], row[2], row[3], row[4], json.loads(row[5]), row[6])
