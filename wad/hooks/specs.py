"""Every extension point of wad: the one list.

Plugins implement these with ``@wad.hookimpl``; an implementation may take
fewer arguments than its spec. A hook may return a value or an awaitable
(the host awaits it); no hook may block the event loop. Hooks marked
*first result* stop at the first implementation that returns something other
than ``None``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from quart import Quart, Request

    from wad.auth.principal import Principal
    from wad.auth.rate import RateDecision
    from wad.hooks.api import DaemonAPI
    from wad.hooks.commands import CtlCommand
    from wad.store import Queries, StoredEvent

hookspec = pluggy.HookspecMarker("wad")


# An awaitable answer (a setup that reads or writes the store) is awaited before the
# sessions start; None: no task.
@hookspec
def wad_startup(
    daemon: DaemonAPI,
) -> Callable[[], Awaitable[None]] | Awaitable[Callable[[], Awaitable[None]] | None] | None:
    """The store is up: an async callable to run for the daemon's life (or an awaitable of it)."""


@hookspec
def wad_shutdown(daemon: DaemonAPI) -> Awaitable[None] | None:
    """The daemon is stopping; sessions are still up."""


@hookspec
def wad_reload(daemon: DaemonAPI) -> Awaitable[None] | None:
    """The configuration was re-read (SIGHUP or ``wadctl reload``)."""


@hookspec(firstresult=True)
def wad_authenticate(
    token: str | None, request: Request | None, daemon: DaemonAPI
) -> Principal | Awaitable[Principal | None] | None:
    """First result: who presents this bearer token (``request`` is None off HTTP)."""


@hookspec(firstresult=True)
def wad_rate_limit(
    principal: Principal, action: str, key: str, daemon: DaemonAPI
) -> RateDecision | None:
    """First result: may caller ``key`` do ``action`` now? None means unlimited."""


@hookspec
def wad_before_send(
    device_id: str, message: dict[str, Any], daemon: DaemonAPI
) -> str | Awaitable[str | None] | None:
    """A message is about to go: a reason to refuse it, an awaitable to hold it, or None."""


# ``store`` is the queries of the event's transaction (``wad.store.Queries``), synchronous;
# on PostgreSQL the hook runs in the store's worker thread: it touches nothing else.
@hookspec
def wad_event_stored(store: Queries, event: StoredEvent) -> None:
    """Inside the event's transaction: write what must be durable with it, through ``store``."""


@hookspec
def wad_event(event: StoredEvent, daemon: DaemonAPI) -> Awaitable[None] | None:
    """After ``event`` was committed: every event of every session, in order."""


@hookspec
def wad_http_routes(app: Quart, daemon: DaemonAPI) -> None:
    """Register extra HTTP routes or blueprints on the app."""


@hookspec
def wad_control_methods(daemon: DaemonAPI) -> dict[str, Callable[[dict[str, Any]], Any]] | None:
    """Extra control-socket methods: name -> ``async fn(params: dict) -> result``."""


@hookspec
def wad_metrics(daemon: DaemonAPI) -> Iterable[str] | Awaitable[Iterable[str]] | None:
    """Metric families (Prometheus text) for ``/metrics``, or an awaitable giving them."""


@hookspec
def wad_ctl_commands() -> Iterable[CtlCommand] | None:
    """``wadctl`` subcommands, asked by wadctl itself (no daemon runs in its process)."""
