"""The webhook plugin's control-socket methods (``wadctl webhooks ...``).

Each takes the request's ``params`` object and answers what the REST
endpoint answers, through the same :class:`~.service.Webhooks` operations.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from wad.errors import WadError

from .service import Webhooks

Method = Callable[[dict[str, Any]], Awaitable[Any]]


def methods(get_webhooks: Callable[[], Webhooks | None]) -> dict[str, Method]:
    def webhooks() -> Webhooks:
        service = get_webhooks()
        if service is None:
            raise WadError("unavailable", "The webhook plugin has not started")
        return service

    async def list_(params: dict[str, Any]) -> Any:
        return {"webhooks": await webhooks().list_webhooks(params.get("deviceId"))}

    async def create(params: dict[str, Any]) -> Any:
        return {
            "webhook": await webhooks().create(
                params.get("deviceId"), params.get("url"), params.get("events")
            )
        }

    async def update(params: dict[str, Any]) -> Any:
        return {
            "webhook": await webhooks().set_enabled(
                params.get("deviceId"), params.get("webhookId"), params.get("enabled")
            )
        }

    async def delete(params: dict[str, Any]) -> Any:
        await webhooks().delete(params.get("deviceId"), params.get("webhookId"))
        return {}

    async def deliveries(params: dict[str, Any]) -> Any:
        return await webhooks().deliveries(
            params.get("deviceId"),
            params.get("webhookId"),
            params.get("status"),
            params.get("before"),
            params.get("limit", 50),
        )

    async def redeliver(params: dict[str, Any]) -> Any:
        return {
            "delivery": await webhooks().redeliver(
                params.get("deviceId"), params.get("webhookId"), params.get("deliveryId")
            )
        }

    return {
        "webhooks.list": list_,
        "webhooks.create": create,
        "webhooks.update": update,
        "webhooks.delete": delete,
        "webhooks.deliveries": deliveries,
        "webhooks.redeliver": redeliver,
    }
