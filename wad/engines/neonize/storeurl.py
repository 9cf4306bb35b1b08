"""Where a neonize session's whatsmeow store lives on PostgreSQL: its schema's name, the
URL whatsmeow opens it with, and the URL's password kept out of what gets shown.

Standard library only: the worker imports it (no psycopg, no trio there). The daemon's
side, which creates and drops the schemas, is :mod:`wad.engines.neonize.pgstore`;
why a schema per session is there too.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

#: What every session's schema name starts with (its own namespace on the server).
SCHEMA_PREFIX = "wad_wm_"
_UNSAFE = re.compile(r"[^a-z0-9_]")
#: Seconds whatsmeow's driver waits for the server at each connection, unless the URL
#: says otherwise (lib/pq's default is to wait as long as the OS does).
CONNECT_TIMEOUT = 10


def schema_for(device_id: str) -> str:
    """The session's schema: readable (the id in lower case, other characters ``_``)
    and unique (a digest of the exact id: ``A-1`` and ``a_1`` are two sessions); at
    most 58 characters, under PostgreSQL's 63, and nothing that needs quoting, since
    the name also travels in a ``search_path`` option."""
    readable = _UNSAFE.sub("_", device_id.lower())[:40]
    digest = hashlib.sha256(device_id.encode()).hexdigest()[:10]
    return f"{SCHEMA_PREFIX}{readable}_{digest}"


def store_url(database_url: str, schema: str) -> str:
    """``database_url`` with ``options=-c search_path=<schema>`` (added to any options
    it has): each of whatsmeow's connections then finds and creates its tables in the
    session's schema. Both neonize's driver (lib/pq) and libpq send ``options`` to the
    server at connection start. Also a ``connect_timeout`` when it has none."""
    parts = urlsplit(database_url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    mine = f"-c search_path={schema}"
    others = [value for key, value in query if key == "options"]
    query = [(key, value) for key, value in query if key != "options"]
    query.append(("options", " ".join([*others, mine])))
    if not any(key == "connect_timeout" for key, _ in query):
        # neonize opens the store inside its connect, while the worker's Go lock is
        # held exclusively (wad.engines.neonize.golock): a server that does not answer
        # must not hold the worker's other sessions for the OS's TCP timeout.
        query.append(("connect_timeout", str(CONNECT_TIMEOUT)))
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def redact(text: str, url: str) -> str:
    """``text`` without ``url``'s password (as written in the URL, and decoded): an
    error from a driver may quote the URL it was given."""
    try:
        raw = urlsplit(url).password
    except ValueError:
        return text
    for secret in {raw, unquote(raw or "")}:
        if secret:
            text = text.replace(secret, "***")
    return text
