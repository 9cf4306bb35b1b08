"""All of wad's SQL, on one apsw connection to ``<state-dir>/wad.db``.

Statements are short and run on the trio thread (an autocommit write costs
~20 µs; a hop to a worker thread costs ~230 µs). WAL with synchronous=NORMAL.
Schema changes are numbered migrations applied by ``PRAGMA user_version``.
"""

from __future__ import annotations

import json
import random
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
]

EVENTS_KEPT_PER_SESSION = 1000


_second: list[Any] = [None, ""]  # the last whole second seen, and its text


def now_iso() -> str:
    """The seed's timestamp form: ISO 8601, UTC, milliseconds, ``Z`` (a send stamps
    three: the seconds' text is formatted once a second)."""
    t = time.time()
    whole = int(t)
    if whole != _second[0]:
        _second[0], _second[1] = whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    return f"{_second[1]}.{int((t - whole) * 1000):03d}Z"


# Ids name rows and events; they are not secrets, so a generator seeded from the OS
# (96 random bits an id) serves, without a getrandom() system call for each one.
_ids = random.Random(secrets.randbits(128))


def new_id(prefix: str) -> str:
    return f"{prefix}_{_ids.getrandbits(96):024x}"


def id_bits(bits: int) -> int:
    """Random bits for an id that is not a secret (a message id), from the same generator."""
    return _ids.getrandbits(bits)


@dataclass(frozen=True, slots=True)
class SessionRow:
    device_id: str
    connection_state: str
    phone_number: str | None
    last_error: str | None
    next_retry_at: str | None
    created_at: str
    updated_at: str
    key_prefix: str | None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: str
    device_id: str
    seq: int
    type: str
    payload: dict[str, Any]
    created_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event": self.type,
            "session": self.device_id,
            "seq": self.seq,
            "timestamp": self.created_at,
            "payload": self.payload,
        }


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = apsw.Connection(str(path))
        self.db.setbusytimeout(5000)
        self.db.pragma("journal_mode", "wal")
        self.db.pragma("synchronous", "normal")
        self.db.pragma("foreign_keys", True)
        # key hash -> device id, filled on lookups that found a key; every statement
        # that changes api_keys (set, revoke, a session's delete) drops it.
        self._key_owner: dict[str, str] = {}
        self._migrate()

    def close(self) -> None:
        self.db.close()

    def _migrate(self) -> None:
        version = self.db.pragma("user_version")
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            with self.db:
                self.db.execute(script)
                self.db.pragma("user_version", number)

    def migrate_plugin(self, name: str, migrations: list[str]) -> int:
        """Apply a plugin's own numbered migrations (its version kept in ``plugin_schema``);
        return the version reached. A plugin's tables live in wad.db beside the core's."""
        with self.db:
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS plugin_schema"
                " (name TEXT PRIMARY KEY, version INTEGER NOT NULL) STRICT"
            )
        version = self._one("SELECT version FROM plugin_schema WHERE name = ?", (name,)) or 0
        for number, script in enumerate(migrations[version:], start=version + 1):
            with self.db:
                self.db.execute(script)
                self.db.execute(
                    "INSERT INTO plugin_schema (name, version) VALUES (?, ?) ON CONFLICT (name)"
                    " DO UPDATE SET version = excluded.version",
                    (name, number),
                )
        return max(version, len(migrations))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.db:
            yield

    def _one(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        row = self.db.execute(sql, args).fetchone()
        return None if row is None else row[0]

    # -- sessions -----------------------------------------------------------------

    _SESSION_COLUMNS = """s.device_id, s.connection_state, s.phone_number, s.last_error,
        s.next_retry_at, s.created_at, s.updated_at, k.display_prefix"""

    def create_session(self, device_id: str) -> bool:
        """Insert a session; False when it already exists."""
        now = now_iso()
        cursor = self.db.execute(
            "INSERT INTO sessions (device_id, created_at, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT DO NOTHING RETURNING 1",
            (device_id, now, now),
        )
        return cursor.fetchone() is not None

    def get_session(self, device_id: str) -> SessionRow | None:
        row = self.db.execute(
            f"SELECT {self._SESSION_COLUMNS} FROM sessions s"
            " LEFT JOIN api_keys k USING (device_id) WHERE s.device_id = ?",
            (device_id,),
        ).fetchone()
        return None if row is None else SessionRow(*row)

    def list_sessions(self) -> list[SessionRow]:
        rows = self.db.execute(
            f"SELECT {self._SESSION_COLUMNS} FROM sessions s"
            " LEFT JOIN api_keys k USING (device_id) ORDER BY s.created_at, s.device_id"
        )
        return [SessionRow(*row) for row in rows]

    def delete_session(self, device_id: str) -> bool:
        self._key_owner.clear()
        cursor = self.db.execute(
            "DELETE FROM sessions WHERE device_id = ? RETURNING 1", (device_id,)
        )
        return cursor.fetchone() is not None

    def update_session(self, device_id: str, **fields: Any) -> None:
        """Set columns of a session row (names are checked against the schema)."""
        allowed = {"connection_state", "phone_number", "last_error", "next_retry_at"}
        if not fields or not set(fields) <= allowed:
            raise ValueError(f"cannot update {sorted(set(fields) - allowed)}")
        assignments = ", ".join(f"{name} = ?" for name in fields)
        self.db.execute(
            f"UPDATE sessions SET {assignments}, updated_at = ? WHERE device_id = ?",
            (*fields.values(), now_iso(), device_id),
        )

    # -- API keys -----------------------------------------------------------------

    def set_api_key(self, device_id: str, key_hash: str, display_prefix: str) -> None:
        self._key_owner.clear()
        self.db.execute(
            "INSERT INTO api_keys (device_id, key_hash, display_prefix, created_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET"
            " key_hash = excluded.key_hash, display_prefix = excluded.display_prefix,"
            " created_at = excluded.created_at",
            (device_id, key_hash, display_prefix, now_iso()),
        )

    def key_in_use(self, key_hash: str, except_device: str) -> bool:
        return (
            self._one(
                "SELECT 1 FROM api_keys WHERE key_hash = ? AND device_id != ?",
                (key_hash, except_device),
            )
            is not None
        )

    def api_key_hash(self, device_id: str) -> str | None:
        return self._one("SELECT key_hash FROM api_keys WHERE device_id = ?", (device_id,))

    def session_for_key(self, key_hash: str) -> str | None:
        owner = self._key_owner.get(key_hash)
        if owner is None:
            owner = self._one("SELECT device_id FROM api_keys WHERE key_hash = ?", (key_hash,))
            # Only keys that exist (bad tokens cannot fill it), and only committed ones.
            if owner is not None and not self.db.in_transaction:
                self._key_owner[key_hash] = owner
        return owner

    def revoke_api_key(self, device_id: str) -> bool:
        self._key_owner.clear()
        cursor = self.db.execute(
            "DELETE FROM api_keys WHERE device_id = ? RETURNING 1", (device_id,)
        )
        return cursor.fetchone() is not None

    # -- messages -----------------------------------------------------------------

    def insert_outgoing(
        self,
        message_id: str,
        device_id: str,
        peer: str,
        type_: str,
        body: str | None,
        fields: dict[str, Any] | None = None,
        media_path: str | None = None,
    ) -> str:
        now = now_iso()
        self.db.execute(
            "INSERT INTO messages (id, device_id, direction, peer, type, body, status,"
            " fields, media_path, created_at, updated_at)"
            " VALUES (?, ?, 'out', ?, ?, ?, 'pending', ?, ?, ?, ?)",
            (
                message_id,
                device_id,
                peer,
                type_,
                body,
                json.dumps(fields) if fields else None,
                media_path,
                now,
                now,
            ),
        )
        return now

    def mark_sent(self, message_id: str, wa_id: str) -> None:
        self.db.execute(
            "UPDATE messages SET status = 'sent', wa_id = ?, updated_at = ? WHERE id = ?",
            (wa_id, now_iso(), message_id),
        )

    def mark_failed(self, message_id: str, error: str) -> None:
        self.db.execute(
            "UPDATE messages SET status = 'failed', error = ?, updated_at = ? WHERE id = ?",
            (error, now_iso(), message_id),
        )

    def pending_outgoing(self, device_id: str) -> list[dict[str, Any]]:
        """Accepted sends whose outcome is unknown (the daemon stopped mid-send)."""
        rows = self.db.execute(
            "SELECT id, peer, type, body, fields, media_path FROM messages WHERE device_id = ?"
            " AND direction = 'out' AND status = 'pending' ORDER BY rowid",
            (device_id,),
        )
        return [
            {
                "id": r[0],
                "to": r[1],
                "type": r[2],
                "body": r[3],
                "fields": json.loads(r[4]) if r[4] else {},
                "mediaPath": r[5],
            }
            for r in rows
        ]

    def insert_incoming(
        self,
        device_id: str,
        wa_id: str,
        peer: str,
        type_: str,
        body: str | None,
        fields: dict[str, Any] | None = None,
        media_path: str | None = None,
    ) -> str | None:
        """Store an incoming message once; None when this WhatsApp id was seen before."""
        if self._one(
            "SELECT 1 FROM messages WHERE device_id = ? AND wa_id = ? AND direction = 'in'",
            (device_id, wa_id),
        ):
            return None
        message_id = new_id("msg")
        now = now_iso()
        self.db.execute(
            "INSERT INTO messages (id, device_id, direction, peer, type, body, status, wa_id,"
            " fields, media_path, created_at, updated_at)"
            " VALUES (?, ?, 'in', ?, ?, ?, 'received', ?, ?, ?, ?, ?)",
            (
                message_id,
                device_id,
                peer,
                type_,
                body,
                wa_id,
                json.dumps(fields) if fields else None,
                media_path,
                now,
                now,
            ),
        )
        return message_id

    def set_status(self, message_id: str, status: str) -> None:
        self.db.execute(
            "UPDATE messages SET status = ?, updated_at = ? WHERE id = ?",
            (status, now_iso(), message_id),
        )

    def edit_body(self, message_id: str, text: str) -> None:
        self.db.execute(
            "UPDATE messages SET body = ?, fields = json_set(coalesce(fields, '{}'),"
            " '$.edited', json('true')), updated_at = ? WHERE id = ?",
            (text, now_iso(), message_id),
        )

    def media_path(self, device_id: str, message_id: str) -> str | None:
        return self._one(
            "SELECT media_path FROM messages WHERE device_id = ? AND id = ?",
            (device_id, message_id),
        )

    # -- idempotency ----------------------------------------------------------------

    def idempotency_claim(self, device_id: str, key: str, body_hash: str) -> tuple[str, Any]:
        """Claim a key for a send: ("new", None), ("done", response), ("mismatch", None)
        or ("busy", None) when the same key is being sent right now."""
        row = self.db.execute(
            "SELECT body_hash, response FROM idempotency WHERE device_id = ? AND key = ?",
            (device_id, key),
        ).fetchone()
        if row is None:
            self.db.execute(
                "INSERT INTO idempotency (device_id, key, body_hash, created_at)"
                " VALUES (?, ?, ?, ?)",
                (device_id, key, body_hash, now_iso()),
            )
            return "new", None
        if row[0] != body_hash:
            return "mismatch", None
        if row[1] is None:
            return "busy", None
        return "done", json.loads(row[1])

    def idempotency_finish(self, device_id: str, key: str, response: Any | None) -> None:
        """Record the answer of a claimed key, or release the key when the send failed."""
        if response is None:
            self.db.execute(
                "DELETE FROM idempotency WHERE device_id = ? AND key = ?", (device_id, key)
            )
        else:
            self.db.execute(
                "UPDATE idempotency SET response = ? WHERE device_id = ? AND key = ?",
                (json.dumps(response), device_id, key),
            )

    _STATUS_RANK = {"pending": 0, "sent": 1, "delivered": 2, "read": 3, "played": 4}

    def apply_receipt(self, device_id: str, wa_ids: list[str], status: str) -> list[str]:
        """Move outgoing messages forward (never back); return the ids that moved."""
        rank = self._STATUS_RANK[status]
        moved = []
        for wa_id in wa_ids:
            row = self.db.execute(
                "SELECT id, status FROM messages WHERE device_id = ? AND wa_id = ?"
                " AND direction = 'out'",
                (device_id, wa_id),
            ).fetchone()
            if row and self._STATUS_RANK.get(row[1], 99) < rank:
                self.db.execute(
                    "UPDATE messages SET status = ?, updated_at = ? WHERE id = ?",
                    (status, now_iso(), row[0]),
                )
                moved.append(row[0])
        return moved

    def get_message(self, device_id: str, message_id: str) -> dict[str, Any] | None:
        rows = self._messages(
            "WHERE device_id = ? AND (id = ? OR wa_id = ?)", (device_id, message_id, message_id), 1
        )
        return rows[0] if rows else None

    def list_messages(
        self, device_id: str, direction: str | None, before: str | None, limit: int
    ) -> list[dict[str, Any]]:
        where, args = "WHERE device_id = ?", [device_id]
        if direction:
            where += " AND direction = ?"
            args.append(direction)
        if before:
            where += " AND rowid < (SELECT rowid FROM messages WHERE id = ?)"
            args.append(before)
        return self._messages(where, tuple(args), limit)

    def _messages(self, where: str, args: tuple[Any, ...], limit: int) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT id, direction, peer, type, body, status, wa_id, error, created_at,"
            f" updated_at, fields, media_path FROM messages {where} ORDER BY rowid DESC LIMIT ?",
            (*args, limit),
        )
        keys = (
            "id",
            "direction",
            "peer",
            "type",
            "body",
            "status",
            "waId",
            "error",
            "createdAt",
            "updatedAt",
        )
        out = []
        for row in rows:
            item = dict(zip(keys, row[:10], strict=True))
            item["fields"] = json.loads(row[10]) if row[10] else {}
            item["hasMedia"] = row[11] is not None
            out.append(item)
        return out

    def count_messages(self) -> dict[tuple[str, str], int]:
        rows = self.db.execute("SELECT direction, status, count(*) FROM messages GROUP BY 1, 2")
        return {(d, s): n for d, s, n in rows}

    # -- events -------------------------------------------------------------------

    def append_event(self, device_id: str, type_: str, payload: dict[str, Any]) -> StoredEvent:
        """Number and store one event of a session; call inside a transaction."""
        seq = self._one(
            "UPDATE sessions SET last_seq = last_seq + 1 WHERE device_id = ? RETURNING last_seq",
            (device_id,),
        )
        if seq is None:
            raise KeyError(device_id)
        event = StoredEvent(new_id("evt"), device_id, seq, type_, payload, now_iso())
        self.db.execute(
            "INSERT INTO events (id, device_id, seq, type, payload, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (event.id, device_id, seq, type_, json.dumps(payload), event.created_at),
        )
        if seq % 100 == 0:
            self.db.execute(
                "DELETE FROM events WHERE device_id = ? AND seq <= ?",
                (device_id, seq - EVENTS_KEPT_PER_SESSION),
            )
        return event

    def recent_events(
        self, device_id: str, types: tuple[str, ...], limit: int
    ) -> list[StoredEvent]:
        marks = ",".join("?" * len(types))
        rows = self.db.execute(
            "SELECT id, device_id, seq, type, payload, created_at FROM events"
            f" WHERE device_id = ? AND type IN ({marks}) ORDER BY seq DESC LIMIT ?",
            (device_id, *types, limit),
        )
        return [StoredEvent(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5]) for r in rows]

    def latest_event_id(self) -> str | None:
        """The id of the newest stored event of any session (a stream's resume point)."""
        return self._one("SELECT id FROM events ORDER BY rowid DESC LIMIT 1")

    def events_after(
        self, event_id: str, device_id: str | None, limit: int
    ) -> list[StoredEvent] | None:
        """Events stored after ``event_id``, oldest first (optionally of one session);
        ``None`` when that event is gone (pruned or its session deleted). Rows are
        inserted on one connection in commit order, so rowid order is event order."""
        after = self._one("SELECT rowid FROM events WHERE id = ?", (event_id,))
        if after is None:
            return None
        where, args = "rowid > ?", (after,)
        if device_id is not None:
            where, args = "rowid > ? AND device_id = ?", (after, device_id)
        rows = self.db.execute(
            "SELECT id, device_id, seq, type, payload, created_at FROM events"
            f" WHERE {where} ORDER BY rowid LIMIT ?",
            (*args, limit),
        )
        return [StoredEvent(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5]) for r in rows]

    def integrity_ok(self) -> bool:
        return self._one("PRAGMA integrity_check") == "ok"
