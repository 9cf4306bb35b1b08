"""Dashboard sign-ins: an opaque cookie that stands for the admin, for a while.

Signing in with the admin token opens a login: a random id that goes to the
browser in an HttpOnly, SameSite=Strict cookie (Secure over https), while the
daemon keeps only its SHA-256 hash and expiry, in memory (a restart signs every
browser out). The daemon holds one registry (``DaemonAPI.logins``): the dashboard's
routes open and close logins, the built-in ``auth`` plugin maps a valid cookie to
the admin.

Requests that change something and are authenticated by the cookie alone must
carry ``X-Wad-Dashboard: 1``, which a cross-site form or a plain cross-site
fetch cannot send (no CORS is granted), and an ``Origin``, when present, must
be this host: forged cross-site requests are refused with 403.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from wad.auth import keys
from wad.auth.principal import ADMIN, Principal
from wad.errors import WadError

if TYPE_CHECKING:
    from quart import Request

COOKIE = "wad_dashboard"
CSRF_HEADER = "X-Wad-Dashboard"
LIFETIME = 12 * 3600.0
MOST_LOGINS = 256  # the oldest goes first beyond this
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class DashboardLogins:
    def __init__(
        self,
        lifetime: float = LIFETIME,
        clock: Callable[[], float] = time.time,
        generation: Callable[[], int] = lambda: 0,
    ) -> None:
        self.lifetime = lifetime
        self._clock = clock
        # The admin token's generation: rotating the token ends every sign-in.
        self._generation = generation
        self._seen_generation = generation()
        self._expiry: dict[str, float] = {}  # sha256(login id) -> unix time

    def open(self) -> tuple[str, float]:
        """A new login: its id (for the cookie, never stored) and when it expires."""
        self._prune()
        while len(self._expiry) >= MOST_LOGINS:
            del self._expiry[min(self._expiry, key=self._expiry.__getitem__)]
        login_id = secrets.token_urlsafe(32)
        expires = self._clock() + self.lifetime
        self._expiry[keys.hash_key(login_id)] = expires
        return login_id, expires

    def expires(self, login_id: str) -> float | None:
        """When this login expires, or ``None`` when it is unknown or over."""
        self._prune()
        digest = keys.hash_key(login_id)
        expires = self._expiry.get(digest)
        if expires is None:
            return None
        if expires <= self._clock():
            del self._expiry[digest]
            return None
        return expires

    def close(self, login_id: str) -> None:
        self._expiry.pop(keys.hash_key(login_id), None)

    def __len__(self) -> int:
        self._prune()
        return len(self._expiry)

    def _prune(self) -> None:
        if self._generation() != self._seen_generation:
            self._seen_generation = self._generation()
            self._expiry.clear()
        now = self._clock()
        for digest in [d for d, t in self._expiry.items() if t <= now]:
            del self._expiry[digest]


def principal_from_cookie(logins: DashboardLogins, request: Request) -> Principal | None:
    """The admin when ``request`` carries a valid dashboard cookie, else ``None``;
    raises 403 for a state-changing request that looks forged."""
    login_id = request.cookies.get(COOKIE)
    if not login_id or logins.expires(login_id) is None:
        return None
    if request.method not in SAFE_METHODS:
        refuse_cross_site(request)
    return ADMIN


def refuse_cross_site(request: Request) -> None:
    if request.headers.get(CSRF_HEADER) != "1":
        raise WadError(
            "forbidden",
            f"Refused: a dashboard request that changes something "
            f"must carry the {CSRF_HEADER} header",
        )
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc != request.host:
        raise WadError("forbidden", "Refused: a cross-site request")
