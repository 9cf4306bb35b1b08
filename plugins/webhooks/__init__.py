"""Webhooks: each session's events POSTed to its endpoints, signed, durably, at least once.

- ``migrations``: its tables; ``db``: endpoints and the delivery log;
  ``outbox``: the deliveries' hot path (written with the event, capped, fetched,
  recorded);
- ``service``: the operations shared by the REST routes (``routes``) and the
  control methods (``control``);
- ``delivery``: the worker that sends, retries and records; ``fairness``: how it
  shares its slots between endpoints; ``overflow``: what it says of dropped ones;
- ``signing``: Standard Webhooks signatures; ``sealing``: the signing secrets at
  rest, encrypted with AES-256-GCM under ``<state>/secrets.key`` (why that cipher:
  in :mod:`.sealing`);
- ``settings``: ``WAD_WEBHOOK_*`` / ``[plugins.webhooks]``;
- ``metrics``: its figures on ``/metrics``; ``ctl``: its ``wadctl`` commands.

Outbound requests go through :mod:`wad.net.guard` (public addresses only, unless
allowed). Deliveries are written inside the event's own transaction
(``wad_event_stored``); the worker is woken after the commit (``wad_event``).

The parts that run in the daemon are imported by the hooks that start them:
wadctl loads this module too (for :mod:`.ctl`), and must not pay for trio,
quart and the HTTP client to list a session's webhooks.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from wad import hookimpl

from . import ctl

if TYPE_CHECKING:
    from quart import Quart

    from wad.hooks import CtlCommand, DaemonAPI
    from wad.store import Queries, StoredEvent

    from .delivery import DeliveryWorker
    from .service import Enqueued, Webhooks

log = logging.getLogger(__name__)


class WebhookPlugin:
    def __init__(self) -> None:
        self.webhooks: Webhooks | None = None
        self.worker: DeliveryWorker | None = None
        # What events' transactions wrote, for the worker once they committed. Appended
        # inside a transaction (on PostgreSQL in the store's thread), taken after the
        # commit on trio's: a deque, whose append and popleft are atomic.
        self._enqueued: deque[Enqueued] = deque()

    @hookimpl
    def wad_startup(self, daemon: DaemonAPI) -> Awaitable[Callable[[], Awaitable[None]]]:
        return self._start(daemon)

    async def _start(self, daemon: DaemonAPI) -> Callable[[], Awaitable[None]]:
        """Ready before the sessions start (their first events have deliveries); the
        worker is the life-long task."""
        from wad.net.guard import Guard

        from .db import WebhookDb
        from .delivery import DeliveryWorker
        from .sealing import KEY_FILE, SecretBox
        from .service import Webhooks
        from .settings import Settings

        settings = Settings.load(daemon.config)
        db = WebhookDb(daemon.store)
        db.migrate()
        box = SecretBox.load(daemon.config.db_path.parent / KEY_FILE)
        if sealed := await db.seal_plain_secrets(box):
            log.warning("webhooks: %d signing secrets are now stored encrypted", sealed)
        reason = f"its signing secret cannot be decrypted with {box.path}"
        # Not in a cluster: a node started with another key must not disable the
        # endpoints for all (its worker leaves them to the others, and says so).
        if daemon.store.dialect == "sqlite" and (
            unreadable := await db.disable_unreadable(box, reason)
        ):
            log.error("webhooks: %d webhooks disabled: %s", len(unreadable), reason)
        guard = Guard(settings.allow_networks)
        self.worker = DeliveryWorker(db, box, settings, guard, node=daemon.config.node)
        webhooks = Webhooks(daemon.store, db, box, self.worker, guard)
        await webhooks.load()
        await webhooks.enforce_cap()  # the cap may be lower than at the last run
        self.webhooks = webhooks
        return self.worker.run

    @hookimpl
    async def wad_reload(self, daemon: DaemonAPI) -> None:
        from .settings import Settings

        if self.worker is None or self.webhooks is None:
            return
        settings = Settings.load(daemon.config)
        self.worker.reconfigure(settings)
        self.webhooks.guard.allow = settings.allow_networks
        await self.webhooks.enforce_cap()

    @hookimpl
    def wad_event_stored(self, store: Queries, event: StoredEvent) -> None:
        if self.webhooks is not None:
            enqueued = self.webhooks.event_stored(store, event)
            if enqueued is not None:
                self._enqueued.append(enqueued)

    @hookimpl
    def wad_event(self, event: StoredEvent) -> None:
        while self._enqueued and self.webhooks is not None:
            self.webhooks.committed(self._enqueued.popleft())

    @hookimpl
    def wad_http_routes(self, app: Quart) -> None:
        from . import routes

        app.register_blueprint(routes.blueprint(lambda: self.webhooks))
        routes.document(app)

    @hookimpl
    def wad_control_methods(self) -> dict[str, Callable[[dict[str, Any]], Any]]:
        from . import control

        return dict(control.methods(lambda: self.webhooks))

    @hookimpl
    def wad_metrics(self, daemon: DaemonAPI) -> Awaitable[list[str]] | None:
        from . import metrics

        if self.worker is None:
            return None  # not started: no log to count yet
        return metrics.families(daemon.store, self.worker.statistics())

    @hookimpl
    def wad_ctl_commands(self) -> list[CtlCommand]:
        return ctl.commands()
