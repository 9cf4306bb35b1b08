"""Pruning by age: the oldest rows of ``messages``, ``events`` and ``idempotency``, a
small batch at a time.

Rows are appended in time order, so a table's oldest rows are its first by rowid: a
batch reads the first ``limit`` rows by rowid (a walk of the primary key, no index on
time needed, never the whole table) and deletes those among them older than the
cutoff (a row younger than its rowid says, after a clock step, does not stop it).
Each batch is one short transaction on the daemon's connection; the caller
checkpoints between batches (:mod:`wad.runtime.retention`).
"""

from dataclasses import dataclass, field

from wad.store.base import QueryBase

#: The tables pruned by age, oldest first by rowid; created_at is wad's ISO time.
PRUNED = ("messages", "events", "idempotency")


@dataclass
class Batch:
    deleted: int = 0
    #: Media files of the deleted messages, to remove from the disk.
    files: list[str] = field(default_factory=list)
    #: Rows older than the cutoff may remain after it (the batch was full of them).
    more: bool = False


class RetentionQueries(QueryBase):
    def prune_batch(self, table: str, cutoff: str, limit: int) -> Batch:
        """Delete up to ``limit`` of ``table``'s rows created before ``cutoff`` (an ISO
        time), oldest first."""
        if table not in PRUNED:
            raise ValueError(f"{table} is not pruned by age")
        media = ", media_path" if table == "messages" else ""
        rows: list[tuple[int, str, str | None]] = [
            (r[0], str(r[1]), str(r[2]) if media and r[2] else None)
            for r in self.db.execute(
                f"SELECT rowid, created_at{media} FROM {table} ORDER BY rowid LIMIT ?", (limit,)
            )
        ]
        old = [row for row in rows if row[1] < cutoff]
        files = [r[2] for r in old if r[2] is not None]
        batch = Batch(len(old), files, bool(old) and len(rows) == limit)
        if old:
            marks = ",".join("?" * len(old))
            with self.db:
                self.db.execute(
                    f"DELETE FROM {table} WHERE rowid IN ({marks})", [r[0] for r in old]
                )
        return batch
