"""Bearer authentication: the admin token, or a session's API key; without a
bearer token, a dashboard sign-in cookie stands for the admin (see
:mod:`wad.auth.logins`, which also refuses forged cross-site requests).

Registered ``trylast`` so that a third-party authenticator (SSO, mTLS headers)
answers first; this one always answers, so nothing falls through.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING

from wad import hookimpl
from wad.auth.logins import principal_from_cookie
from wad.auth.principal import ADMIN, ANONYMOUS, Principal

if TYPE_CHECKING:
    from quart import Request

    from wad.hooks import DaemonAPI


@hookimpl(trylast=True)
def wad_authenticate(
    token: str | None, request: Request | None, daemon: DaemonAPI
) -> Principal | Awaitable[Principal]:
    if not token:
        if request is not None:
            return principal_from_cookie(daemon.logins, request) or ANONYMOUS
        return ANONYMOUS
    if daemon.services.admin.check(token):
        return ADMIN
    return _by_key(token, daemon)


async def _by_key(token: str, daemon: DaemonAPI) -> Principal:
    """A session's API key: the store knows whose it is."""
    device_id = await daemon.services.keys.session_for_key(token)
    if device_id is not None:
        return Principal("session", device_id)
    return ANONYMOUS
