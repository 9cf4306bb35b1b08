"""A session's proxy: the URL checked, its password sealed at rest, shown masked.

``proxy`` is ``http://``, ``https://`` or ``socks5://``, with a host and a port and
optionally ``user:password@`` (the schemes whatsmeow's ``SetProxyAddress`` takes).
It is stored sealed (:mod:`wad.secrets`, the key beside wad.db), returned only as
``socks5://user:***@host:1080``, and handed to that session's client alone, in its
``open`` request over the worker's socket (never on a command line, which any local
user can read). neonize applies it to that client before connecting: the websocket to
WhatsApp and media up- and downloads go through it.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import quote, unquote, urlsplit

from wad.errors import bad_request

__all__ = ["SCHEMES", "masked", "validate"]

SCHEMES = ("http", "https", "socks5")
URL_MAX = 2048
_HOST = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)
_HINT = "proxy must look like socks5://user:password@host:1080 or http://host:3128"


def validate(value: object) -> str | None:
    """The proxy URL, normalized; None (no proxy) for None or ""; 400 otherwise."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > URL_MAX or not value.isprintable():
        raise bad_request(f"{_HINT} (a string of at most {URL_MAX} characters)")
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError as exc:  # a port that is no number, or out of range
        raise bad_request(f"{_HINT}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise bad_request(f"{_HINT}: the scheme must be one of {', '.join(SCHEMES)}")
    host = parts.hostname
    if not host or not _valid_host(host):
        raise bad_request(f"{_HINT}: it needs a host name or address")
    if port is None or port == 0:
        raise bad_request(f"{_HINT}: it needs a port (1-65535)")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise bad_request(f"{_HINT}: no path, query or fragment")
    if parts.password is not None and not parts.username:
        raise bad_request(f"{_HINT}: a password needs a user name")
    credentials = ""
    if parts.username:
        credentials = quote(unquote(parts.username), safe="")
        if parts.password is not None:
            credentials += ":" + quote(unquote(parts.password), safe="")
        credentials += "@"
    shown_host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{credentials}{shown_host}:{port}"


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return _HOST.fullmatch(host) is not None
    return True


def masked(url: str | None) -> str | None:
    """The URL with its password as ``***`` (what the API and the logs may show)."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    return url.replace(f"{user}:{parts.password}@", f"{user}:***@", 1)
