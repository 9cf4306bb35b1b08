"""The core schema: numbered migrations, applied in order by ``PRAGMA user_version``.

A migration is never edited once released; a change is a new entry at the end.
"""

import apsw

MIGRATIONS: list[str] = [
    # 1: the seed's sessions (plus state), hashed keys, messages, events.
    """
    CREATE TABLE sessions (
        device_id TEXT PRIMARY KEY,
        connection_state TEXT NOT NULL DEFAULT 'disconnected',
        phone_number TEXT,
        last_error TEXT,
        next_retry_at TEXT,
        last_seq INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    ) STRICT;
    CREATE TABLE api_keys (
        device_id TEXT PRIMARY KEY REFERENCES sessions(device_id) ON DELETE CASCADE,
        key_hash TEXT NOT NULL UNIQUE,
        display_prefix TEXT NOT NULL,
        created_at TEXT NOT NULL
    ) STRICT;
    CREATE TABLE messages (
        id TEXT PRIMARY KEY,
        device_id TEXT NOT NULL REFERENCES sessions(device_id) ON DELETE CASCADE,
        direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
        peer TEXT NOT NULL,
        type TEXT NOT NULL DEFAULT 'text',
        body TEXT,
        status TEXT NOT NULL,
        wa_id TEXT,
        error TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    ) STRICT;
    CREATE INDEX messages_by_session ON messages(device_id, created_at);
    CREATE INDEX messages_by_wa_id ON messages(device_id, wa_id);
    CREATE TABLE events (
        id TEXT PRIMARY KEY,
        device_id TEXT NOT NULL REFERENCES sessions(device_id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        type TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (device_id, seq)
    ) STRICT;
    """,
    # 2: messages beyond text (their fields, media files), idempotent sends.
    """
    ALTER TABLE messages ADD COLUMN fields TEXT;
    ALTER TABLE messages ADD COLUMN media_path TEXT;
    CREATE TABLE idempotency (
        device_id TEXT NOT NULL REFERENCES sessions(device_id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        body_hash TEXT NOT NULL,
        response TEXT,
        created_at TEXT NOT NULL,
        PRIMARY KEY (device_id, key)
    ) STRICT;
    """,
    # 3: the session index also holds direction, status and type, so that the
    # dashboard's hourly counts (MessageQueries.hourly_counts) read the index alone,
    # never the rows (~6x faster on 130k messages a day); a status change now also
    # updates the index entry (~1-2 us a statement, measured).
    """
    DROP INDEX messages_by_session;
    CREATE INDEX messages_by_session
        ON messages(device_id, created_at, direction, status, type);
    """,
    # 4: a claimed Idempotency-Key names the message its send stored, so a claim left
    # open by a crash can be settled from that message's fate.
    """
    ALTER TABLE idempotency ADD COLUMN message_id TEXT;
    """,
    # 5: a session's own settings (rejectCalls, proxy, ...), one row a setting, so a
    # new setting needs no migration (see wad.services.settings).
    """
    CREATE TABLE session_settings (
        device_id TEXT NOT NULL REFERENCES sessions(device_id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (device_id, name)
    ) STRICT;
    """,
    # 6: the contacts who wrote to a session (its new-contact daily cap spares them),
    # filled from the messages already received.
    """
    CREATE TABLE known_contacts (
        device_id TEXT NOT NULL REFERENCES sessions(device_id) ON DELETE CASCADE,
        peer TEXT NOT NULL,
        first_at TEXT NOT NULL,
        PRIMARY KEY (device_id, peer)
    ) STRICT, WITHOUT ROWID;
    INSERT OR IGNORE INTO known_contacts (device_id, peer, first_at)
        SELECT device_id, peer, min(created_at) FROM messages
        WHERE direction = 'in' AND peer NOT LIKE '%@g.us' GROUP BY device_id, peer;
    """,
]


def migrate(db: apsw.Connection) -> None:
    """Bring the core tables up to the last migration, each step in its own transaction."""
    version = db.pragma("user_version")
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        with db:
            db.execute(script)
            db.pragma("user_version", number)
