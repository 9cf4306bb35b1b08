"""The PostgreSQL store (a cluster's shared state): a ``Db`` handle over one psycopg
3 connection (``handle``), how connections are opened (``connect``), a bounded pool
of them used from worker threads (``pool``), the core schema (``migrations``) and
``PostgresStore`` (``store``), which offers what the embedded store offers."""

from wad.store.postgres.store import NoMigrations, PostgresStore

__all__ = ["NoMigrations", "PostgresStore"]
