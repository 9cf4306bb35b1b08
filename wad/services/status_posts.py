"""Status posts (WhatsApp's "stories"): a text, image or video sent to
``status@broadcast``, through :class:`Sending` like any message (its row, its
``message.sent`` event, an ``Idempotency-Key``). The contacts who see it are chosen
by WhatsApp from the account's status privacy settings."""

from __future__ import annotations

from typing import Any

from wad.errors import bad_request
from wad.services.sending import Sending

__all__ = ["STATUS_TYPES", "StatusPosts"]

STATUS_TYPES = ("text", "image", "video")


class StatusPosts:
    def __init__(self, sending: Sending) -> None:
        self.sending = sending

    async def post(
        self, device_id: object, spec: dict[str, Any], idempotency_key: str | None = None
    ) -> dict[str, Any]:
        type_ = spec.get("type", "text")
        if type_ not in STATUS_TYPES:
            raise bad_request(f"a status is one of {', '.join(STATUS_TYPES)}")
        message = {k: v for k, v in spec.items() if k in ("type", "text", "caption", "media")}
        message["type"] = type_
        return await self.sending.send(device_id, message, None, idempotency_key, to_status=True)
