"""How wad opens a connection to its PostgreSQL server.

Every connection names its node (``application_name``: ``pg_stat_activity`` shows
which node holds what). Over TCP a connection to a server that vanished (a cut
cable, a dead host: no RST ever comes) must fail within seconds, not the kernel's
~2 hours: TCP keepalives probe an idle connection, and ``tcp_user_timeout`` bounds
how long sent data may stay unacknowledged. A Unix socket needs neither (the peer is
on this host: its death closes the socket).
"""

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict


@dataclass(frozen=True)
class Keepalive:
    """TCP liveness settings (libpq's names). With these defaults a dead peer is
    noticed on an idle connection after ~idle + interval x count = 11 s, and on a busy
    one after ``user_timeout``."""

    idle: int = 5  # seconds of silence before the first probe
    interval: int = 2  # seconds between probes
    count: int = 3  # unanswered probes that end the connection
    user_timeout_ms: int = 10_000


def over_tcp(url: str) -> bool:
    """Whether ``url`` reaches its server over TCP (a host that is not a socket folder)."""
    params = conninfo_to_dict(url)
    hosts = str(params.get("host") or "").split(",")
    if params.get("hostaddr"):
        return True
    # No host at all: libpq's default, the Unix socket in its compiled-in folder.
    return any(host and not host.startswith(("/", "@")) for host in hosts)


def settings(url: str, node: str, keepalive: Keepalive = Keepalive()) -> dict[str, Any]:
    """The connection parameters wad adds to ``url``'s own."""
    extra: dict[str, Any] = {"application_name": f"wad {node}"[:63]}
    if over_tcp(url):
        extra.update(
            keepalives=1,
            keepalives_idle=keepalive.idle,
            keepalives_interval=keepalive.interval,
            keepalives_count=keepalive.count,
            tcp_user_timeout=keepalive.user_timeout_ms,
        )
    return extra


def connect(url: str, node: str, keepalive: Keepalive = Keepalive()) -> psycopg.Connection[Any]:
    """A new autocommit connection to ``url`` (a statement outside a transaction block
    commits by itself, as in SQLite)."""
    return psycopg.connect(url, autocommit=True, **settings(url, node, keepalive))
