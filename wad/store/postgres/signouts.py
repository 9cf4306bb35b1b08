"""Dashboard sign-outs in a cluster (:mod:`wad.auth.logins`): a node that ends a
sign-in records the login's hash here, with when it would have expired, and every
node's listener (:mod:`.notify`) hears of the row at its commit and reads the
table into its own list of ended logins; also whenever it listens again, so a
sign-out made while it was not listening is not missed. Rows past their expiry
are dropped as new ones come (a login over by then is refused anyway)."""

from __future__ import annotations

from typing import Any

import psycopg

from wad.store.base import Db

TABLE = "dashboard_signouts"


def record(db: Db, digest: str, expires: float) -> None:
    db.execute(f"DELETE FROM {TABLE} WHERE expires <= extract(epoch FROM now())", ())
    db.execute(
        f"INSERT INTO {TABLE} (digest, expires) VALUES (?, ?) ON CONFLICT (digest) DO NOTHING",
        (digest, expires),
    )


def current(conn: psycopg.Connection[Any]) -> dict[str, float]:
    """Every login ended and not expired yet: its hash, and when it expires."""
    rows = conn.execute(
        f"SELECT digest, expires FROM {TABLE} WHERE expires > extract(epoch FROM now())"
    ).fetchall()
    return {str(r[0]): float(r[1]) for r in rows}
