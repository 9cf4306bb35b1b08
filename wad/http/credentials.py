"""A request's credentials, checked under the lock-out of its client's address.

Every credential check of the HTTP door goes through :func:`authenticate`: the
bearer token of every route (the API, ``/metrics``, the event streams) and the
token of the dashboard's sign-in. It wraps the ``wad_authenticate`` hook, so
the lock-out holds whichever plugin authenticates. The rule is
:mod:`wad.auth.lockout`'s; the client's address is the real one behind trusted
proxies (:mod:`wad.http.forwarded`).
"""

from __future__ import annotations

from typing import Any

from quart import current_app, request

from wad.auth.lockout import Lockout
from wad.auth.principal import Principal
from wad.errors import WadError
from wad.http import locked

# The challenge of every 401 (RFC 6750); ``error`` when a token was refused.
CHALLENGE = 'Bearer realm="wad"'
INVALID = CHALLENGE + ', error="invalid_token"'


def lockout() -> Lockout:
    found: Lockout = current_app.config["WAD_LOCKOUT"]
    return found


async def authenticate(token: str | None) -> Principal:
    """Who presents ``token`` (None: no token; a sign-in cookie may still stand for
    the admin); 429 while the client's address is locked out."""
    req: Any = request._get_current_object()  # type: ignore[attr-defined]
    config = current_app.config  # one look-up through the context, not three
    address = req.remote_addr or ""
    if token:
        req.wad_token_given = True
        wait = config["WAD_LOCKOUT"].locked_for(address)
        if wait > 0:  # (a bearer token was refused already by wad.http.locked)
            raise WadError(
                "rate_limited",
                locked.message(wait),
                headers={"Retry-After": locked.retry_after(wait)},
            )
    who: Principal = await config["WAD_AUTHENTICATE"](token, req)
    if token and who.kind == "anonymous":
        config["WAD_LOCKOUT"].failed(address)
    return who


def challenge() -> str:
    """The ``WWW-Authenticate`` of a 401 answer to the current request."""
    return INVALID if getattr(request, "wad_token_given", False) else CHALLENGE
