"""The webhook plugin's tables in wad.db, as numbered migrations (applied through
``Store.migrate_plugin``, its version kept in ``plugin_schema``); a change is a new
entry at the end, never an edit of a released one.

- ``webhook_endpoints``: per session; ``pending`` is the number of its pending
  deliveries, kept by triggers (so the cap on them costs no count), and
  ``failing_since`` the time of its first failed attempt since its last success.
- ``webhook_deliveries``: one event for one endpoint, its status and attempts; its
  claim columns (``claimed_by``, ``claimed_until``, ``claims``) are written on
  PostgreSQL only, where nodes share the outbox (:mod:`.outbox`), and exist here so
  that both schemas stay alike.
- ``webhook_bodies``: each event's body once, however many endpoints it goes to,
  with the number of deliveries that refer to it (``refs``, kept by triggers); it
  goes with the last of them. The event log is pruned on its own schedule, a
  backlog of deliveries is not: hence a copy here.

Every index is written at each commit on the hot path, and one that begins with the
endpoint is a page per endpoint: the deliveries have two indexes, when the next retry
falls due (and whose), and each endpoint's deliveries by status and age, which
serves its log, its fetches (the due times are in it) and its cap alike.
"""

MIGRATIONS = [
    # 1: endpoints per session, deliveries per endpoint.
    """
    CREATE TABLE webhook_endpoints (
        id TEXT PRIMARY KEY,
        device_id TEXT NOT NULL REFERENCES sessions(device_id) ON DELETE CASCADE,
        url TEXT NOT NULL,
        events TEXT,
        secret TEXT NOT NULL,
        enabled INTEGER NOT NULL DEFAULT 1,
        failures INTEGER NOT NULL DEFAULT 0,
        disabled_reason TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    ) STRICT;
    CREATE INDEX webhook_endpoints_by_session ON webhook_endpoints(device_id, enabled);
    CREATE TABLE webhook_deliveries (
        id INTEGER PRIMARY KEY,
        endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
        event_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        body TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL,
        last_status_code INTEGER,
        last_error TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    ) STRICT;
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at)
        WHERE status = 'pending';
    CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries(endpoint_id, id);
    """,
    # 2: bodies once per event; 'dropped' (over the cap on pending deliveries); the
    # pending count and the failing time of each endpoint. The deliveries table is
    # rebuilt (a CHECK cannot be altered) without its copies of the body; a body takes
    # the id of the first delivery of its event.
    """
    CREATE TABLE webhook_bodies (
        id INTEGER PRIMARY KEY,
        body TEXT NOT NULL,
        refs INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    INSERT INTO webhook_bodies (id, body, refs)
        SELECT min(id), body, count(*) FROM webhook_deliveries GROUP BY event_id;
    CREATE TABLE webhook_deliveries_2 (
        id INTEGER PRIMARY KEY,
        endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
        event_id TEXT NOT NULL,
        body_id INTEGER NOT NULL,
        event_type TEXT NOT NULL,
        status TEXT NOT NULL
            CHECK (status IN ('pending', 'delivered', 'failed', 'dropped')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL,
        last_status_code INTEGER,
        last_error TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    ) STRICT;
    INSERT INTO webhook_deliveries_2
        SELECT id, endpoint_id, event_id, min(id) OVER (PARTITION BY event_id), event_type,
            status, attempts, next_attempt_at, last_status_code, last_error, created_at,
            updated_at FROM webhook_deliveries;
    DROP TABLE webhook_deliveries;
    ALTER TABLE webhook_deliveries_2 RENAME TO webhook_deliveries;
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at)
        WHERE status = 'pending';
    CREATE INDEX webhook_deliveries_by_endpoint
        ON webhook_deliveries(endpoint_id, status, id, next_attempt_at);

    ALTER TABLE webhook_endpoints ADD COLUMN pending INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE webhook_endpoints ADD COLUMN failing_since REAL;
    UPDATE webhook_endpoints SET pending = (SELECT count(*) FROM webhook_deliveries d
        WHERE d.endpoint_id = webhook_endpoints.id AND d.status = 'pending');

    CREATE TRIGGER webhook_delivery_added AFTER INSERT ON webhook_deliveries
    BEGIN
        UPDATE webhook_bodies SET refs = refs + 1 WHERE id = NEW.body_id;
        UPDATE webhook_endpoints SET pending = pending + 1
            WHERE NEW.status = 'pending' AND id = NEW.endpoint_id;
    END;
    CREATE TRIGGER webhook_pending_changed AFTER UPDATE OF status ON webhook_deliveries
        WHEN (OLD.status = 'pending') != (NEW.status = 'pending')
    BEGIN
        UPDATE webhook_endpoints
            SET pending = pending + CASE WHEN NEW.status = 'pending' THEN 1 ELSE -1 END
            WHERE id = NEW.endpoint_id;
    END;
    CREATE TRIGGER webhook_delivery_deleted AFTER DELETE ON webhook_deliveries
    BEGIN
        UPDATE webhook_endpoints SET pending = pending - 1
            WHERE OLD.status = 'pending' AND id = OLD.endpoint_id;
        DELETE FROM webhook_bodies WHERE id = OLD.body_id AND refs <= 1;
        UPDATE webhook_bodies SET refs = refs - 1 WHERE id = OLD.body_id;
    END;
    """,
    # 3: the claim columns (used on PostgreSQL; here nothing writes them, and adding a
    # column with a constant default rewrites no row).
    """
    ALTER TABLE webhook_deliveries ADD COLUMN claimed_by TEXT;
    ALTER TABLE webhook_deliveries ADD COLUMN claimed_until REAL;
    ALTER TABLE webhook_deliveries ADD COLUMN claims INTEGER NOT NULL DEFAULT 0;
    """,
]
