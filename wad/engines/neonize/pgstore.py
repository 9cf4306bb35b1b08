"""whatsmeow's device stores on the daemon's PostgreSQL server (``config.database_url``):
one schema per session, so that any node can run any session.

What neonize 0.5.2 offers (its Go glue, ``goneonize/main.go``, and ``neonize/client.py``):
``NewClient(name, jid=None, props=None, uuid=None, new_device=False)``; ``name`` is the
database handed to Go, which opens a SQLite file unless the string starts with
``postgres``, then whatsmeow's ``sqlstore`` on PostgreSQL through lib/pq (v1.12.3 in
the 0.5.2 binary). ``uuid`` keys the client in Go's maps. Which device of the store
the client runs: with ``jid``, ``Container.GetDevice(jid)``; with ``new_device``, a
blank one; otherwise ``GetFirstDevice`` (the first stored, or a blank one).

whatsmeow's ``sqlstore`` keeps any number of devices in one set of tables: the device
row is keyed by its JID and every other table (keys, sessions, contacts, ...) by
``our_jid``, except the LID map, which all devices share. So there were two ways to
keep sessions apart in one database:

- **by JID** in shared tables. Rejected: the JID exists only after pairing, so the
  daemon would have to record it before anything else, and a session paired but not
  recorded would lose its device; ``GetDevice`` of a JID with no row returns no device
  and neonize hands that nil to whatsmeow's client; neonize replaces ``uuid`` by the
  JID's user when ``jid`` is given (two sessions of one phone would share a Go key);
  deleting a session would have to delete by ``our_jid`` in tables without a cascade.
- **a schema per session** (chosen): the URL the worker gets carries
  ``options=-c search_path=<schema>`` (:func:`~wad.engines.neonize.storeurl.store_url`),
  which lib/pq sends to the server at connection start (a bare ``search_path=``
  parameter did not work, tried). Each session's store is then exactly what its SQLite
  file was: its own tables, one device, ``GetFirstDevice``; deleting a session drops
  its schema.

One catch, found by trying it: the migration library whatsmeow uses (go.mau.fi/util's
``dbutil``) asks whether its version table exists through ``information_schema``
without naming a schema, so once one session's schema holds ``whatsmeow_version``,
the next new schema's upgrade believes it has one, reads it through the search path,
and fails (``relation "whatsmeow_version" does not exist``). So :func:`prepare_schema`
creates that table, empty, in exactly the shape ``dbutil`` itself gives it; an empty
version table reads as version 0 and whatsmeow creates its tables there.

The rest of what a session needs to resume (README: Running a cluster) is wad's own
store. Node-local, in the session's folder: the worker's folder lock (only one
worker per node; across nodes the cluster's ownership decides), the inbox spool (a
message whatsmeow acknowledged that the daemon has not stored yet: normally gone
within milliseconds; at a node's death it is sent again only if the session runs on
that node again) and received media files (served by the node that downloaded them).
"""

from __future__ import annotations

import logging
from typing import Any

import trio

from wad.engines.contract import EngineError
from wad.engines.neonize.storeurl import redact, schema_for, store_url

log = logging.getLogger(__name__)

#: What go.mau.fi/util's dbutil creates as its version table (see the docstring).
VERSION_TABLE = "whatsmeow_version (version INTEGER, compat INTEGER)"


def _connect(database_url: str) -> Any:
    import psycopg  # the postgresql extra; only a daemon with database_url needs it

    return psycopg.connect(database_url, autocommit=True, connect_timeout=10)


def prepare_schema(database_url: str, schema: str) -> None:
    """Create the session's schema and dbutil's version table if missing (blocking)."""
    from psycopg import errors, sql

    ident = sql.Identifier(schema)
    with _connect(database_url) as conn:
        for attempt in (1, 2):
            try:
                with conn.transaction():
                    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(ident))
                    conn.execute(
                        sql.SQL("CREATE TABLE IF NOT EXISTS {}.").format(ident)
                        + sql.SQL(VERSION_TABLE)
                    )
                return
            except errors.UniqueViolation:
                # IF NOT EXISTS races with a concurrent create of the same name: the
                # other one made it; the second round finds it.
                if attempt == 2:
                    raise


def drop_schema(database_url: str, schema: str) -> None:
    from psycopg import sql

    with _connect(database_url) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


class ServerStores:
    """The sessions' schemas on the server, for the engine (trio side)."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._drops: dict[str, trio.Event] = {}

    async def prepare(self, device_id: str) -> str:
        """Make the session's schema ready; return the URL its worker opens it with."""
        pending = self._drops.get(device_id)
        if pending is not None:  # deleted a moment ago: the new one starts afresh
            await pending.wait()
        schema = schema_for(device_id)
        try:
            await trio.to_thread.run_sync(prepare_schema, self.database_url, schema)
        except Exception as exc:
            problem = redact(str(exc).strip(), self.database_url)
            raise EngineError(
                f"the session's whatsmeow store on PostgreSQL (schema {schema}): {problem}"
            ) from None
        return store_url(self.database_url, schema)

    def forget(self, device_id: str) -> None:
        """The session was deleted: drop its schema (in the background: the caller
        does not wait; a new session by that name waits for it in :meth:`prepare`)."""
        done = trio.Event()
        previous = self._drops.get(device_id)
        self._drops[device_id] = done
        trio.lowlevel.spawn_system_task(self._drop, device_id, previous, done)

    async def _drop(self, device_id: str, previous: trio.Event | None, done: trio.Event) -> None:
        schema = schema_for(device_id)
        try:
            if previous is not None:
                await previous.wait()
            await trio.to_thread.run_sync(drop_schema, self.database_url, schema)
        except BaseException as exc:  # a system task must not raise
            problem = redact(str(exc).strip(), self.database_url)
            log.warning(
                "session %s: its schema %s was left on the server: %s", device_id, schema, problem
            )
            if not isinstance(exc, Exception):
                raise
        finally:
            done.set()
            if self._drops.get(device_id) is done:
                del self._drops[device_id]
