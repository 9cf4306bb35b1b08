"""Queries on ``events``: each session's numbered events, the newest kept."""

import json
from dataclasses import dataclass
from typing import Any

from wad.store.base import QueryBase
from wad.store.clock import now_iso
from wad.store.ids import new_id

EVENTS_KEPT_PER_SESSION = 1000

_COLUMNS = "id, device_id, seq, type, payload, created_at"


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


def _event(row: Any) -> StoredEvent:
    return StoredEvent(row[0], row[1], row[2], row[3], json.loads(row[4]), row[5])


class EventQueries(QueryBase):
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
            f"SELECT {_COLUMNS} FROM events"
            f" WHERE device_id = ? AND type IN ({marks}) ORDER BY seq DESC LIMIT ?",
            (device_id, *types, limit),
        )
        return [_event(r) for r in rows]

    def latest_event_id(self) -> str | None:
        """The id of the newest stored event of any session (a stream's resume point)."""
        event_id: str | None = self._one("SELECT id FROM events ORDER BY rowid DESC LIMIT 1")
        return event_id

    def events_after(
        self, event_id: str, device_id: str | None, limit: int
    ) -> list[StoredEvent] | None:
        """Events stored after ``event_id``, oldest first (optionally of one session);
        ``None`` when that event is gone (pruned or its session deleted). rowid order
        is commit order: on SQLite rows are inserted on one connection, one
        transaction at a time; on PostgreSQL an event is numbered again as its
        transaction commits (:mod:`wad.store.postgres.migrations`, 7), so no event
        committed later can have a smaller rowid than one a reader has seen."""
        after = self._one("SELECT rowid FROM events WHERE id = ?", (event_id,))
        if after is None:
            return None
        where, args = "rowid > ?", [after]
        if device_id is not None:
            where, args = "rowid > ? AND device_id = ?", [after, device_id]
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM events WHERE {where} ORDER BY rowid LIMIT ?",
            (*args, limit),
        )
        return [_event(r) for r in rows]
