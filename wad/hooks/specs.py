"""Every extension point of wad: the one list.

Plugins implement these with ``@wad.hookimpl``; an implementation may take
fewer arguments than its spec. A hook may return a value or an awaitable
(the host awaits it); no hook may block the event loop. Hooks marked
*first result* stop at the first implementation that returns something other
than ``None``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from quart import Quart, Request

    from wad.auth.principal import Principal
    from wad.auth.rate import RateDecision
    from wad.runtime.daemon import Daemon
    from wad.store import Store, StoredEvent

hookspec = pluggy.HookspecMarker("wad")


@hookspec
def wad_startup(daemon: Daemon) -> Callable[[], Awaitable[None]] | None:
    """The daemon has started its store and sessions: return an async callable to run
    in the daemon's nursery for its whole life (it is cancelled at shutdown), or None."""


@hookspec
def wad_shutdown(daemon: Daemon) -> Awaitable[None] | None:
    """The daemon is stopping; sessions are still up."""


@hookspec
def wad_reload(daemon: Daemon) -> Awaitable[None] | None:
    """The configuration was re-read (SIGHUP or ``wadctl reload``)."""


@hookspec(firstresult=True)
def wad_authenticate(
    token: str | None, request: Request | None, daemon: Daemon
) -> Principal | Awaitable[Principal | None] | None:
    """Who presents this bearer token (first result wins): a Principal, or None to
    let the next plugin decide. ``request`` is None off HTTP."""


@hookspec(firstresult=True)
def wad_rate_limit(
    principal: Principal, action: str, key: str, daemon: Daemon
) -> RateDecision | None:
    """May this caller do ``action`` now? ``key`` identifies the caller (a session,
    the admin, or a client address). First result wins; None means unlimited."""


@hookspec
def wad_before_send(
    device_id: str, message: dict[str, Any], daemon: Daemon
) -> str | Awaitable[str | None] | None:
    """A message is about to be sent: return a reason (string) to refuse it, or an
    awaitable to hold it back (pacing) before the answer, or None to let it go."""


@hookspec
def wad_event_stored(store: Store, event: StoredEvent) -> None:
    """Inside the transaction that stores ``event``: write what must be durable with it
    (synchronous; no I/O besides this store)."""


@hookspec
def wad_event(event: StoredEvent, daemon: Daemon) -> Awaitable[None] | None:
    """After ``event`` was committed: every event of every session, in order."""


@hookspec
def wad_http_routes(app: Quart, daemon: Daemon) -> None:
    """Register extra HTTP routes or blueprints on the app."""


@hookspec
def wad_control_methods(daemon: Daemon) -> dict[str, Callable[..., Any]] | None:
    """Extra control-socket methods: name -> ``async fn(params: dict) -> result``."""
