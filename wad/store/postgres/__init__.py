"""The PostgreSQL store (a cluster's shared state): a ``Db`` handle over one psycopg
3 connection (``handle``), how connections are opened (``connect``), a bounded pool
of them used from worker threads (``pool``), the core schema (``migrations``) and
``PostgresStore`` (``store``), which offers what the embedded store offers.

Why psycopg 3, synchronous, in threads: it is the maintained PostgreSQL client for
Python (psycopg2's successor, same maintainers), on libpq, so every connection
option libpq has (keepalives, ``tcp_user_timeout``, TLS, service files) works as
operators know it; its async side is asyncio's, and a trio-native choice would be
asyncpg through a bridge (triopg over trio-asyncio: a second event loop inside
trio). The cost is a thread hop a call (a few hundred µs with the round trip,
measured in the README), which the store pays once a transaction, not a statement:
callers put what commits together in one ``fn``."""

from wad.store.postgres.store import NoMigrations, PostgresStore

__all__ = ["NoMigrations", "PostgresStore"]
