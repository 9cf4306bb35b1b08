"""What the webhook plugin does, once: the REST routes and the control methods both call this.

Each method validates its input and returns JSON-ready data, or raises
:class:`wad.errors.WadError` with a stable code.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from wad import validation
from wad.errors import WadError, bad_request, conflict, not_found
from wad.net.guard import AddressRefused, Guard
from wad.sessions.event_types import EVENT_TYPES
from wad.store import Queries, Store, StoredEvent

from . import signing
from .db import Endpoint, WebhookDb, WebhookQueries
from .delivery import DeliveryWorker
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


@dataclass(frozen=True, slots=True)
class Enqueued:
    """What an event's transaction wrote for the webhooks, for the worker to learn once
    it committed: the endpoints given a delivery, the deliveries dropped over the cap."""

    endpoints: list[str]
    dropped: dict[str, list[int]]


class Webhooks:
    def __init__(
        self,
        store: Store,
        db: WebhookDb,
        box: SecretBox,
        worker: DeliveryWorker,
        guard: Guard,
    ) -> None:
        self.store = store
        self.db = db
        self.box = box
        self.worker = worker
        self.guard = guard
        # Sessions that have (or may have) endpoints: the others skip the hot path.
        # It may say yes wrongly (a session was deleted), never no wrongly. SQLite only:
        # on PostgreSQL another node adds endpoints, and a session taken over from it
        # would lose its deliveries; there every event asks (its enqueue's first
        # statement finds whether an endpoint wants it, in the event's transaction).
        self.with_endpoints: set[str] = set()
        self.skips = store.dialect == "sqlite"

    async def load(self) -> None:
        """Learn which sessions have endpoints (before any event is stored)."""
        self.with_endpoints = await self.db.read(lambda w: w.sessions_with_endpoints())

    # -- the event path --------------------------------------------------------------------

    def event_stored(self, q: Queries, event: StoredEvent) -> Enqueued | None:
        """Write the event's deliveries (inside its transaction, on its queries ``q``),
        keep its session's endpoints under their cap. SQL only: on PostgreSQL this runs
        in the store's thread; the worker learns of it after the commit
        (:meth:`committed`)."""
        if self.skips and event.device_id not in self.with_endpoints:
            return None
        w = WebhookQueries.of(q)
        body = json.dumps(event.to_json(), separators=(",", ":"), ensure_ascii=False)
        endpoints = w.enqueue(event, body, time.time())
        if not endpoints:
            return None
        return Enqueued(endpoints, w.drop_over(self.worker.settings.max_pending, event.device_id))

    def committed(self, enqueued: Enqueued) -> None:
        """An event's deliveries were committed: the worker forgets the dropped ones and
        looks at the endpoints given one."""
        self._dropped(enqueued.dropped)
        self.worker.wake(enqueued.endpoints)

    async def enforce_cap(self, device_id: str | None = None) -> None:
        """Drop the oldest pending deliveries beyond ``max_pending`` (of one session's
        endpoints, or of all)."""
        cap = self.worker.settings.max_pending
        self._dropped(await self.db.run(lambda w: w.drop_over(cap, device_id)))

    def _dropped(self, dropped: dict[str, list[int]]) -> None:
        cap = self.worker.settings.max_pending
        for endpoint_id, ids in dropped.items():
            self.worker.dropped(endpoint_id, ids, cap)

    # -- lookups --------------------------------------------------------------------------

    async def _session(self, device_id: object) -> str:
        device_id = validation.device_id(device_id)
        valid = device_id
        if await self.store.read(lambda q: q.get_session(valid)) is None:
            raise not_found("Session not found")
        return device_id

    async def _endpoint(self, device_id: object, webhook_id: object) -> Endpoint:
        session = await self._session(device_id)
        endpoint = None
        if isinstance(webhook_id, str) and _WEBHOOK_ID.fullmatch(webhook_id):
            wanted = webhook_id
            endpoint = await self.db.read(lambda w: w.get_endpoint(wanted, session))
        if endpoint is None:
            raise not_found("Webhook not found")
        return endpoint

    # -- operations -----------------------------------------------------------------------

    async def create(self, device_id: object, url: object, events: object = None) -> dict[str, Any]:
        """Add an endpoint; the answer carries its signing secret, shown this once."""
        session = await self._session(device_id)
        url = check_url(url)
        wanted = check_events(events)
        try:
            await self.guard.check_url(url)
        except AddressRefused as exc:
            raise bad_request(f"url: {exc} (WAD_WEBHOOK_ALLOW_NETWORKS)") from None
        secret = signing.new_secret()

        def add(q: Queries) -> Endpoint | str:
            # In one transaction: the cap is counted with the new one, and a session
            # deleted while the host resolved is seen here.
            w = WebhookQueries.of(q)
            if w.count_endpoints(session) >= PER_SESSION:
                return "full"
            if q.get_session(session) is None:
                return "gone"
            return w.create_endpoint(session, url, wanted, secret, self.box)

        endpoint = await self.store.run(add)
        if endpoint == "full":
            raise conflict(f"A session has at most {PER_SESSION} webhooks")
        if not isinstance(endpoint, Endpoint):
            raise not_found("Session not found")
        self.with_endpoints.add(session)
        return {**_public(endpoint), "secret": secret}

    async def list_webhooks(self, device_id: object) -> list[dict[str, Any]]:
        session = await self._session(device_id)
        return [_public(e) for e in await self.db.read(lambda w: w.list_endpoints(session))]

    async def stats(self, device_id: object) -> list[dict[str, Any]]:
        """Each webhook's health: deliveries delivered, failed and pending, the last error."""
        session = await self._session(device_id)
        return await self.db.read(lambda w: w.endpoint_stats(session))

    async def get(self, device_id: object, webhook_id: object) -> dict[str, Any]:
        return _public(await self._endpoint(device_id, webhook_id))

    async def delete(self, device_id: object, webhook_id: object) -> None:
        endpoint = await self._endpoint(device_id, webhook_id)

        def delete(w: WebhookQueries) -> int:
            w.delete_endpoint(endpoint.device_id, endpoint.id)
            return w.count_endpoints(endpoint.device_id)

        left = await self.db.run(delete)
        self.worker.forget(endpoint.id)
        if not left:
            self.with_endpoints.discard(endpoint.device_id)

    async def set_enabled(
        self, device_id: object, webhook_id: object, enabled: object
    ) -> dict[str, Any]:
        """Enable (its parked deliveries go at once) or disable an endpoint."""
        if not isinstance(enabled, bool):
            raise bad_request("enabled must be true or false")
        endpoint = await self._endpoint(device_id, webhook_id)
        if enabled and not endpoint.enabled:
            if not self.box.opens(endpoint.id, endpoint.sealed_secret):
                raise conflict(
                    f"The webhook's signing secret cannot be decrypted with {self.box.path}"
                    " (wad.db restored without its key?): delete the webhook and add it again"
                )
            now = time.time()
            await self.db.run(lambda w: w.enable(endpoint.id, now))
            self.worker.forget(endpoint.id)  # its failure run and slots start afresh
            self.worker.wake([endpoint.id])
        elif not enabled and endpoint.enabled:
            await self.db.run(lambda w: w.disable(endpoint.id, "disabled by an administrator"))
            self.worker.forget(endpoint.id)
        return await self.get(endpoint.device_id, endpoint.id)

    async def deliveries(
        self,
        device_id: object,
        webhook_id: object,
        status: object = None,
        before: object = None,
        limit: object = 50,
    ) -> dict[str, Any]:
        """The endpoint's delivery log, newest first, a page at a time."""
        endpoint = await self._endpoint(device_id, webhook_id)
        if status in (None, ""):
            status = None
        elif status not in DELIVERY_STATUSES:
            raise bad_request(f"status must be one of {', '.join(DELIVERY_STATUSES)}")
        which = None if status is None else str(status)
        count = _int(limit, "limit", 1, PAGE_MAX)
        cursor = None if before in (None, "") else _int(before, "before", 1, 2**63 - 1)
        items = await self.db.read(
            lambda w: w.list_deliveries(endpoint.id, which, cursor, count + 1)
        )
        more = len(items) > count
        items = items[:count]
        return {"deliveries": items, "nextBefore": items[-1]["id"] if more else None}

    async def redeliver(
        self, device_id: object, webhook_id: object, delivery_id: object
    ) -> dict[str, Any]:
        """Queue the delivery's event again, now, as a new delivery (same webhook-id)."""
        endpoint = await self._endpoint(device_id, webhook_id)
        try:
            number = _int(delivery_id, "deliveryId", 1, 2**63 - 1)
        except WadError:
            raise not_found("Delivery not found") from None
        if not endpoint.enabled:
            raise conflict("The webhook is disabled; enable it first")
        now = time.time()
        delivery = await self.db.run(lambda w: w.redeliver(endpoint.id, number, now))
        if delivery is None:
            raise not_found("Delivery not found")
        await self.enforce_cap(endpoint.device_id)
        self.worker.wake([endpoint.id])
        return delivery
