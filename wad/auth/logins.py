"""Dashboard sign-ins: an opaque cookie that stands for the admin, for a while.

Signing in with the admin token opens a login: a cookie (HttpOnly, SameSite=Strict,
Secure over https) that carries its own expiry and a random nonce, signed with
HMAC-SHA256. Nothing of it is stored to be valid, so any process holding the
signing key accepts it:

- one daemon signs with a random key of its own process: a restart signs every
  browser out, as does rotating the admin token (its generation is signed too);
- the nodes of a cluster sign with a key derived from the admin token they share
  (:meth:`wad.auth.admin_token.AdminToken.derive`), so a browser signed in on one
  node is signed in on every node, whichever one nginx picks. Sign-ins then outlive
  a node's restart (until they expire, or the admin token changes).

Signing out (or signing in again) ends a login: the process keeps the ended
login's hash until it would have expired (at most :data:`MOST_ENDED`, the oldest
dropped first), and the answer clears the browser's cookie. In a cluster the node
first records the hash in the database (``publish``), and every node adds it to
its own ended logins when it hears of it (:mod:`wad.store.postgres.signouts`), so
a copy of the cookie is refused by every node a moment after the sign-out.

The daemon holds one registry (``DaemonAPI.logins``): the dashboard's routes open
and close logins, the built-in ``auth`` plugin maps a valid cookie to the admin.

Requests that change something and are authenticated by the cookie alone must
carry ``X-Wad-Dashboard: 1``, which a cross-site form or a plain cross-site
fetch cannot send (no CORS is granted), and an ``Origin``, when present, must
be this host: forged cross-site requests are refused with 403.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
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
MOST_ENDED = 4096  # ended logins kept (and opened ones counted); the oldest go first
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class DashboardLogins:
    def __init__(
        self,
        lifetime: float = LIFETIME,
        clock: Callable[[], float] = time.time,
        generation: Callable[[], int] = lambda: 0,
        key: Callable[[], bytes] | None = None,
    ) -> None:
        """``key``: the signing key, read at each use (a cluster's, derived from the
        admin token); without it, a random one of this process."""
        self.lifetime = lifetime
        self._clock = clock
        # The admin token's generation: rotating the token ends every sign-in.
        self._generation = generation
        own = secrets.token_bytes(32)
        self._key = key or (lambda: own)
        self._opened: dict[str, float] = {}  # sha256(login) -> expiry, opened here (counted)
        self._ended: dict[str, float] = {}  # sha256(login) -> expiry, ended (on any node)
        #: A cluster's: records an ended login (its hash, its expiry) for every node.
        self.publish: Callable[[str, float], Awaitable[None]] | None = None

    def open(self) -> tuple[str, float]:
        """A new login: its cookie value (never stored) and when it expires."""
        expires = float(math.floor(self._clock() + self.lifetime))
        nonce = secrets.token_urlsafe(18)
        payload = f"{int(expires)}.{nonce}"
        login_id = f"{payload}.{self._mac(payload)}"
        self._prune()
        _remember(self._opened, keys.hash_key(login_id), expires)
        return login_id, expires

    def expires(self, login_id: str) -> float | None:
        """When this login expires, or ``None`` when it is forged, ended or over."""
        payload, _, mac = login_id.rpartition(".")
        stamp, _, nonce = payload.partition(".")
        if not (stamp.isascii() and stamp.isdigit() and nonce and len(login_id) < 200):
            return None
        if not hmac.compare_digest(mac.encode(), self._mac(payload).encode()):
            return None
        expires = float(stamp)
        if expires <= self._clock() or keys.hash_key(login_id) in self._ended:
            return None
        return expires

    async def close(self, login_id: str) -> None:
        """End a login: for every node first (a failure there raises, and nothing has
        ended), then here."""
        expires = self.expires(login_id)
        if expires is None:
            return
        digest = keys.hash_key(login_id)
        if self.publish is not None:
            await self.publish(digest, expires)
        self._opened.pop(digest, None)
        self._prune()
        _remember(self._ended, digest, expires)

    def ended_elsewhere(self, ended: Mapping[str, float]) -> None:
        """The logins ended on any node of the cluster (hash -> expiry), as the
        database holds them: each is refused here from now on."""
        self._prune()
        for digest, expires in ended.items():
            if digest not in self._ended:
                self._opened.pop(digest, None)
                _remember(self._ended, digest, expires)

    def __len__(self) -> int:
        """Logins opened by this process and not over (nor ended)."""
        self._prune()
        return len(self._opened)

    def _mac(self, payload: str) -> str:
        message = f"{self._generation()}.{payload}".encode()
        return hmac.new(self._key(), message, hashlib.sha256).hexdigest()

    def _prune(self) -> None:
        now = self._clock()
        for held in (self._opened, self._ended):
            for digest in [d for d, t in held.items() if t <= now]:
                del held[digest]


def _remember(held: dict[str, float], digest: str, expires: float) -> None:
    while len(held) >= MOST_ENDED:
        del held[min(held, key=held.__getitem__)]
    held[digest] = expires


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
