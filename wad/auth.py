"""Who holds a bearer token: the admin token, a session's API key, or nobody."""

from __future__ import annotations

from typing import Any

from .principal import ADMIN, ANONYMOUS, Principal
from .service import Service


def make_authenticator(service: Service):
    async def authenticate(token: str | None, request: Any = None) -> Principal:
        if not token:
            return ANONYMOUS
        if service.admin.check(token):
            return ADMIN
        device_id = service.session_for_key(token)
        if device_id is not None:
            return Principal("session", device_id)
        return ANONYMOUS

    return authenticate
