"""Where wad asks its plugins: each call site of a hook, resolved for trio.

A hook may answer with a value or an awaitable; awaitables from
fire-and-forget hooks (``wad_event``) run in the daemon's nursery so that no
plugin can hold up a session.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from wad.auth.principal import ANONYMOUS, Principal
from wad.errors import WadError
from wad.hooks.host import resolve

if TYPE_CHECKING:
    from quart import Quart

    from wad.auth.rate import RateDecision
    from wad.hooks.api import DaemonAPI, PluginsAPI
    from wad.hooks.commands import CtlCommand
    from wad.store import Queries, StoredEvent

log = logging.getLogger(__name__)

ControlMethod = Callable[[dict[str, Any]], Any]


def connect_events(daemon: DaemonAPI) -> None:
    """Route every stored event through ``wad_event_stored`` and ``wad_event``."""
    hook = daemon.plugins.hook

    def in_transaction(q: Queries, event: StoredEvent) -> None:
        hook.wad_event_stored(store=q, event=event)

    def after_commit(event: StoredEvent) -> None:
        for answer in hook.wad_event(event=event, daemon=daemon):
            if answer is not None:
                daemon.start_soon(_guarded, answer, "wad_event")

    daemon.events.in_transaction.append(in_transaction)
    daemon.events.after_commit.append(after_commit)


async def _guarded(awaitable: Awaitable[object], hook_name: str) -> None:
    try:
        await awaitable
    except Exception:
        log.exception("a plugin's %s failed", hook_name)


async def startup(daemon: DaemonAPI) -> None:
    """Start each plugin's life-long task (``wad_startup``) in the daemon's nursery; an
    answer that is an awaitable (a plugin's setup on the store) is awaited first, so the
    plugin is ready before the sessions start."""
    for answer in daemon.plugins.hook.wad_startup(daemon=daemon):
        task = await resolve(answer)
        if task is not None:
            daemon.start_soon(task)


async def shutdown(daemon: DaemonAPI) -> None:
    for answer in daemon.plugins.hook.wad_shutdown(daemon=daemon):
        await resolve(answer)


async def reload(daemon: DaemonAPI) -> None:
    for answer in daemon.plugins.hook.wad_reload(daemon=daemon):
        await resolve(answer)


async def authenticate(daemon: DaemonAPI, token: str | None, request: Any = None) -> Principal:
    answer = daemon.plugins.hook.wad_authenticate(token=token, request=request, daemon=daemon)
    if not isinstance(answer, Principal):  # a plugin's awaitable (or nothing)
        answer = await resolve(answer)
    return answer if isinstance(answer, Principal) else ANONYMOUS


def rate_limit(
    daemon: DaemonAPI, principal: Principal, action: str, key: str
) -> RateDecision | None:
    decision: RateDecision | None = daemon.plugins.hook.wad_rate_limit(
        principal=principal, action=action, key=key, daemon=daemon
    )
    return decision


async def before_send(daemon: DaemonAPI, device_id: str, message: dict[str, Any]) -> None:
    """Let plugins pace or refuse a send; a refusal is a 429 with the plugin's reason."""
    for answer in daemon.plugins.hook.wad_before_send(
        device_id=device_id, message=message, daemon=daemon
    ):
        reason = await resolve(answer)
        if isinstance(reason, str):
            raise WadError("rate_limited", reason)


def http_routes(daemon: DaemonAPI, app: Quart) -> None:
    daemon.plugins.hook.wad_http_routes(app=app, daemon=daemon)


def control_methods(daemon: DaemonAPI) -> list[dict[str, ControlMethod]]:
    """Each plugin's control methods, one table per plugin."""
    return [extra for extra in daemon.plugins.hook.wad_control_methods(daemon=daemon) if extra]


async def metrics(daemon: DaemonAPI) -> list[str]:
    """The metric families the plugins add to ``/metrics``."""
    families: list[str] = []
    for answer in daemon.plugins.hook.wad_metrics(daemon=daemon):
        families.extend(await resolve(answer) or ())
    return families


def ctl_commands(plugins: PluginsAPI) -> list[CtlCommand]:
    """The ``wadctl`` commands the plugins add (wadctl's own process; no daemon)."""
    return [command for answer in plugins.hook.wad_ctl_commands() for command in answer or ()]
