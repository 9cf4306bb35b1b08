"""The webhook plugin's tables in wad.db, as numbered migrations (applied through
``Store.migrate_plugin``, its version kept in ``plugin_schema``); a change is a new
entry at the end, never an edit of a released one."""

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
]
