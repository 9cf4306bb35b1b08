"""What the webhook plugin does, once: the REST routes and the control methods both call this.

Each method validates its input and returns JSON-ready data, or raises
:class:`wad.errors.WadError` with a stable code.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any
from urllib.parse import urlsplit

import apsw
import httpx

from wad import validation
from wad.errors import WadError, bad_request, conflict, not_found
from wad.net.guard import AddressRefused, Guard
from wad.sessions.event_types import EVENT_TYPES
from wad.store import Store, StoredEvent

from . import signing
from .db import Endpoint, WebhookDb
from .delivery import DeliveryWorker
from .outbox import Outbox
from .sealing import SecretBox

URL_MAX = 2048
PER_SESSION = 10
PAGE_MAX = 200  # deliveries in one page
DELIVERY_STATUSES = ("pending", "delivered", "failed", "dropped")
_WEBHOOK_ID = re.compile(r"^wh_[0-9a-f]{24}$")


def check_url(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise bad_request("url must be a string: the http:// or https:// address to POST to")
    if len(value) > URL_MAX:
        raise bad_request(f"url must be at most {URL_MAX} characters")
    if any(c.isspace() or not c.isprintable() for c in value):
        raise bad_request("url must not contain spaces or control characters")
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https"):
        raise bad_request("url must start with http:// or https://")
    if parts.username is not None or parts.password is not None:
        raise bad_request(
            "url must not carry credentials (user:password@): "
            "receivers check the webhook signature instead"
        )
    try:
        parts.port  # noqa: B018 - raises on a bad port
        host = httpx.URL(value).host
    except (ValueError, httpx.InvalidURL):
        raise bad_request("url is not a valid URL") from None
    if not parts.hostname or not host:
        raise bad_request("url must name a host")
    return value


def check_events(value: object) -> list[str] | None:
    """None (every event type) or the distinct, known event types asked for."""
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise bad_request(f"events must be a non-empty list of: {', '.join(EVENT_TYPES)}")
    unknown = [v for v in value if v not in EVENT_TYPES]
    if unknown:
        raise bad_request(
            f"events: unknown event type {unknown[0]!r}; known are {', '.join(EVENT_TYPES)}"
        )
    return list(dict.fromkeys(value))


def _int(value: object, name: str, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise bad_request(f"{name} must be a number from {low} to {high}")
    try:
        number: int = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise bad_request(f"{name} must be a number from {low} to {high}") from None
    if not low <= number <= high:
        raise bad_request(f"{name} must be a number from {low} to {high}")
    return number


def _public(endpoint: Endpoint) -> dict[str, Any]:
    data = endpoint.to_json()
    if data["events"] is None:
        data["events"] = list(EVENT_TYPES)
    return data


class Webhooks:
    def __init__(
        self,
        store: Store,
        db: WebhookDb,
        outbox: Outbox,
        box: SecretBox,
        worker: DeliveryWorker,
        guard: Guard,
    ) -> None:
        self.store = store
        self.db = db
        self.outbox = outbox
        self.box = box
        self.worker = worker
        self.guard = guard
        # Sessions that have (or may have) endpoints: the others skip the hot path.
        # It may say yes wrongly (a session was deleted), never no wrongly.
        self.with_endpoints = db.sessions_with_endpoints()

    # -- the event path --------------------------------------------------------------------

    def event_stored(self, event: StoredEvent) -> list[str]:
        """Write the event's deliveries (inside its transaction), keep its session's
        endpoints under their cap; returns the endpoints that got one."""
        if event.device_id not in self.with_endpoints:
            return []
        body = json.dumps(event.to_json(), separators=(",", ":"), ensure_ascii=False)
        endpoints = self.outbox.enqueue(event, body, time.time())
        if endpoints:
            self.enforce_cap(event.device_id)
        return endpoints

    def enforce_cap(self, device_id: str | None = None) -> None:
        """Drop the oldest pending deliveries beyond ``max_pending`` (of one session's
        endpoints, or of all)."""
        cap = self.worker.settings.max_pending
        for endpoint_id, ids in self.outbox.drop_over(cap, device_id).items():
            self.worker.dropped(endpoint_id, ids, cap)

    # -- lookups --------------------------------------------------------------------------

    def _session(self, device_id: object) -> str:
        device_id = validation.device_id(device_id)
        if self.store.get_session(device_id) is None:
            raise not_found("Session not found")
        return device_id

    def _endpoint(self, device_id: object, webhook_id: object) -> Endpoint:
        session = self._session(device_id)
        endpoint = None
        if isinstance(webhook_id, str) and _WEBHOOK_ID.fullmatch(webhook_id):
            endpoint = self.db.get_endpoint(webhook_id, session)
        if endpoint is None:
            raise not_found("Webhook not found")
        return endpoint

    # -- operations -----------------------------------------------------------------------

    async def create(self, device_id: object, url: object, events: object = None) -> dict[str, Any]:
        """Add an endpoint; the answer carries its signing secret, shown this once."""
        session = self._session(device_id)
        url = check_url(url)
        wanted = check_events(events)
        try:
            await self.guard.check_url(url)
        except AddressRefused as exc:
            raise bad_request(f"url: {exc} (WAD_WEBHOOK_ALLOW_NETWORKS)") from None
        if self.db.count_endpoints(session) >= PER_SESSION:
            raise conflict(f"A session has at most {PER_SESSION} webhooks")
        secret = signing.new_secret()
        try:
            endpoint = self.db.create_endpoint(session, url, wanted, secret, self.box)
        except apsw.ConstraintError:  # the session was deleted while the host resolved
            raise not_found("Session not found") from None
        self.with_endpoints.add(session)
        return {**_public(endpoint), "secret": secret}

    def list_webhooks(self, device_id: object) -> list[dict[str, Any]]:
        return [_public(e) for e in self.db.list_endpoints(self._session(device_id))]

    def stats(self, device_id: object) -> list[dict[str, Any]]:
        """Each webhook's health: deliveries delivered, failed and pending, the last error."""
        return self.db.endpoint_stats(self._session(device_id))

    def get(self, device_id: object, webhook_id: object) -> dict[str, Any]:
        return _public(self._endpoint(device_id, webhook_id))

    def delete(self, device_id: object, webhook_id: object) -> None:
        endpoint = self._endpoint(device_id, webhook_id)
        self.db.delete_endpoint(endpoint.device_id, endpoint.id)
        self.worker.forget(endpoint.id)
        if not self.db.count_endpoints(endpoint.device_id):
            self.with_endpoints.discard(endpoint.device_id)

    def set_enabled(self, device_id: object, webhook_id: object, enabled: object) -> dict[str, Any]:
        """Enable (its parked deliveries go at once) or disable an endpoint."""
        if not isinstance(enabled, bool):
            raise bad_request("enabled must be true or false")
        endpoint = self._endpoint(device_id, webhook_id)
        if enabled and not endpoint.enabled:
            if not self.box.opens(endpoint.id, endpoint.sealed_secret):
                raise conflict(
                    f"The webhook's signing secret cannot be decrypted with {self.box.path}"
                    " (wad.db restored without its key?): delete the webhook and add it again"
                )
            self.db.enable(endpoint.id, time.time())
            self.worker.forget(endpoint.id)  # its failure run and slots start afresh
            self.worker.wake([endpoint.id])
        elif not enabled and endpoint.enabled:
            with self.store.transaction():
                self.db.disable(endpoint.id, "disabled by an administrator")
            self.worker.forget(endpoint.id)
        return self.get(endpoint.device_id, endpoint.id)

    def deliveries(
        self,
        device_id: object,
        webhook_id: object,
        status: object = None,
        before: object = None,
        limit: object = 50,
    ) -> dict[str, Any]:
        """The endpoint's delivery log, newest first, a page at a time."""
        endpoint = self._endpoint(device_id, webhook_id)
        if status in (None, ""):
            status = None
        elif status not in DELIVERY_STATUSES:
            raise bad_request(f"status must be one of {', '.join(DELIVERY_STATUSES)}")
        count = _int(limit, "limit", 1, PAGE_MAX)
        cursor = None if before in (None, "") else _int(before, "before", 1, 2**63 - 1)
        items = self.db.list_deliveries(endpoint.id, status, cursor, count + 1)
        more = len(items) > count
        items = items[:count]
        return {"deliveries": items, "nextBefore": items[-1]["id"] if more else None}

    def redeliver(
        self, device_id: object, webhook_id: object, delivery_id: object
    ) -> dict[str, Any]:
        """Queue the delivery's event again, now, as a new delivery (same webhook-id)."""
        endpoint = self._endpoint(device_id, webhook_id)
        try:
            number = _int(delivery_id, "deliveryId", 1, 2**63 - 1)
        except WadError:
            raise not_found("Delivery not found") from None
        if not endpoint.enabled:
            raise conflict("The webhook is disabled; enable it first")
        delivery = self.db.redeliver(endpoint.id, number, time.time())
        if delivery is None:
            raise not_found("Delivery not found")
        self.enforce_cap(endpoint.device_id)
        self.worker.wake([endpoint.id])
        return delivery
