"""The webhook endpoints of the REST API (admin only), as a blueprint."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import Field
from quart import Blueprint, Response, request
from quart_schema import document_querystring, document_request, document_response

from wad.errors import WadError
from wad.http.event_schemas import Event
from wad.http.helpers import body, ok, require_admin
from wad.http.openapi import api, webhook
from wad.http.schemas import Body, Ok, Timestamp
from wad.sessions.event_types import EVENT_TYPES

from .service import PAGE_MAX, Webhooks

PATH = "/api/sessions/<device_id>/webhooks"
# Every stored event type, from the one list (a new type needs no change here).
EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]


class CreateWebhook(Body):
    url: str = Field(examples=["https://example.com/wad-hook"])
    events: list[EventType] | None = None


class UpdateWebhook(Body):
    enabled: bool


class Webhook(Body):
    id: str
    url: str
    events: list[str]
    enabled: bool
    consecutiveFailures: int
    failingSince: Timestamp | None
    disabledReason: str | None
    createdAt: Timestamp
    updatedAt: Timestamp


class WebhookWithSecret(Webhook):
    secret: str


class WebhookCreated(Ok):
    webhook: WebhookWithSecret


class WebhookOne(Ok):
    webhook: Webhook


class WebhookList(Ok):
    webhooks: list[Webhook]


class Delivery(Body):
    id: int
    eventId: str
    eventType: str
    status: Literal["pending", "delivered", "failed", "dropped"]
    attempts: int
    nextAttemptAt: Timestamp | None
    lastStatusCode: int | None
    lastError: str | None
    createdAt: Timestamp
    updatedAt: Timestamp


class WebhookStats(Body):
    id: str
    delivered: int
    failed: int
    pending: int
    lastError: str | None
    lastStatusCode: int | None
    lastErrorAt: Timestamp | None


class WebhookStatsList(Ok):
    stats: list[WebhookStats]


class DeliveryPage(Ok):
    deliveries: list[Delivery]
    nextBefore: int | None


class DeliveryOne(Ok):
    delivery: Delivery


class DeliveriesQuery(Body):
    status: Literal["pending", "delivered", "failed", "dropped"] | None = None
    limit: int = Field(50, ge=1, le=PAGE_MAX, description="how many, newest first")
    before: int | None = Field(
        None, ge=1, description="a delivery id: the page after it (`nextBefore`)"
    )


def document(app: Any) -> None:
    """The requests wad makes to an endpoint, in the OpenAPI document."""
    webhook(
        app,
        "event",
        Event,
        "An event of the session, POSTed to each endpoint that subscribed to its type",
        "Signed as Standard Webhooks: `webhook-id` (the event's id, the same on every"
        " retry), `webhook-timestamp`, `webhook-signature`. Retried with growing delays"
        " until a 2xx answer.",
    )


def blueprint(get_webhooks: Callable[[], Webhooks | None]) -> Blueprint:
    bp = Blueprint("webhooks", __name__)

    def webhooks() -> Webhooks:
        service = get_webhooks()
        if service is None:
            raise WadError("unavailable", "The webhook plugin has not started")
        return service

    @bp.post(PATH)
    @api("createWebhook", "Webhooks", "admin", errors=[409, 503])
    @document_request(CreateWebhook)
    @document_response(WebhookCreated, 201)
    async def create_webhook(device_id: str) -> Response:
        """Add a webhook to a session (admin). `events` defaults to every event type.
        The signing secret is in this answer only."""
        await require_admin()
        data = await body(CreateWebhook)
        created = await webhooks().create(device_id, data.url, data.events)
        return ok(201, webhook=created)

    @bp.get(PATH)
    @api("listWebhooks", "Webhooks", "admin", errors=[503])
    @document_response(WebhookList)
    async def list_webhooks(device_id: str) -> Response:
        """A session's webhooks, without their secrets (admin)."""
        await require_admin()
        return ok(webhooks=await webhooks().list_webhooks(device_id))

    @bp.get(PATH + "/stats")
    @api("getWebhookStats", "Webhooks", "admin", errors=[503])
    @document_response(WebhookStatsList)
    async def webhook_stats(device_id: str) -> Response:
        """Each webhook's health: its deliveries in the log that were delivered, failed
        or are pending, and the newest error recorded (admin)."""
        await require_admin()
        return ok(stats=await webhooks().stats(device_id))

    @bp.get(PATH + "/<webhook_id>")
    @api("getWebhook", "Webhooks", "admin", errors=[503])
    @document_response(WebhookOne)
    async def get_webhook(device_id: str, webhook_id: str) -> Response:
        """One webhook, without its secret (admin)."""
        await require_admin()
        return ok(webhook=await webhooks().get(device_id, webhook_id))

    @bp.patch(PATH + "/<webhook_id>")
    @api("updateWebhook", "Webhooks", "admin", errors=[503])
    @document_request(UpdateWebhook)
    @document_response(WebhookOne)
    async def update_webhook(device_id: str, webhook_id: str) -> Response:
        """Enable a webhook again (its parked deliveries go at once), or disable it (admin)."""
        await require_admin()
        data = await body(UpdateWebhook)
        return ok(webhook=await webhooks().set_enabled(device_id, webhook_id, data.enabled))

    @bp.delete(PATH + "/<webhook_id>")
    @api("deleteWebhook", "Webhooks", "admin", errors=[503])
    @document_response(Ok)
    async def delete_webhook(device_id: str, webhook_id: str) -> Response:
        """Remove a webhook and its delivery log (admin)."""
        await require_admin()
        await webhooks().delete(device_id, webhook_id)
        return ok(message="Webhook deleted")

    @bp.get(PATH + "/<webhook_id>/deliveries")
    @api("listDeliveries", "Webhooks", "admin", errors=[503])
    @document_querystring(DeliveriesQuery)
    @document_response(DeliveryPage)
    async def list_deliveries(device_id: str, webhook_id: str) -> Response:
        """The delivery log, newest first:
        `?status=pending|delivered|failed|dropped&limit=50&before=<id>` (admin)."""
        await require_admin()
        args = request.args
        return ok(
            **await webhooks().deliveries(
                device_id, webhook_id, args.get("status"), args.get("before"), args.get("limit", 50)
            )
        )

    @bp.post(PATH + "/<webhook_id>/deliveries/<delivery_id>/redeliver")
    @api("redeliver", "Webhooks", "admin", errors=[409, 503])
    @document_response(DeliveryOne, 202)
    async def redeliver(device_id: str, webhook_id: str, delivery_id: str) -> Response:
        """Send a delivery's event again, now, as a new delivery with the same `webhook-id`
        (admin)."""
        await require_admin()
        return ok(202, delivery=await webhooks().redeliver(device_id, webhook_id, delivery_id))

    return bp
