"""Bearer authentication: the admin token, or a session's API key.

Registered ``trylast`` so that a third-party authenticator (SSO, mTLS headers)
answers first; this one always answers, so nothing falls through.
"""

from __future__ import annotations

from typing import Any

from wad import hookimpl
from wad.principal import ADMIN, ANONYMOUS, Principal


@hookimpl(trylast=True)
def wad_authenticate(token: str | None, daemon: Any) -> Principal:
    if not token:
        return ANONYMOUS
    if daemon.service.admin.check(token):
        return ADMIN
    device_id = daemon.service.session_for_key(token)
    if device_id is not None:
        return Principal("session", device_id)
    return ANONYMOUS
