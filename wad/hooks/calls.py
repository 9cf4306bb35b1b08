"""Where the daemon asks its plugins: each call site of a hook, resolved for trio.

A hook may answer with a value or an awaitable; awaitables from
fire-and-forget hooks (``wad_event``) run in the daemon's nursery so that no
plugin can hold up a session.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from wad.auth.principal import ANONYMOUS, Principal
from wad.auth.rate import RateDecision
from wad.errors import WadError
from wad.hooks.host import resolve
from wad.store import Store, StoredEvent

if TYPE_CHECKING:
    from wad.runtime.daemon import Daemon

log = logging.getLogger(__name__)


def connect_events(daemon: Daemon) -> None:
    """Route every stored event through ``wad_event_stored`` and ``wad_event``."""
    hook = daemon.pm.hook

    def in_transaction(store: Store, event: StoredEvent) -> None:
        hook.wad_event_stored(store=store, event=event)

    def after_commit(event: StoredEvent) -> None:
        for answer in hook.wad_event(event=event, daemon=daemon):
            if answer is not None and daemon.nursery is not None:
                daemon.nursery.start_soon(_guarded, answer, "wad_event")

    daemon.events.in_transaction.append(in_transaction)
    daemon.events.after_commit.append(after_commit)


async def _guarded(awaitable: Any, hook_name: str) -> None:
    try:
        await awaitable
    except Exception:
        log.exception("a plugin's %s failed", hook_name)


async def authenticate(daemon: Daemon, token: str | None, request: Any = None) -> Principal:
    answer = await resolve(
        daemon.pm.hook.wad_authenticate(token=token, request=request, daemon=daemon)
    )
    return answer if isinstance(answer, Principal) else ANONYMOUS


def rate_limit(daemon: Daemon, principal: Principal, action: str, key: str) -> RateDecision | None:
    return daemon.pm.hook.wad_rate_limit(principal=principal, action=action, key=key, daemon=daemon)


async def before_send(daemon: Daemon, device_id: str, message: dict[str, Any]) -> None:
    """Let plugins pace or refuse a send; a refusal is a 429 with the plugin's reason."""
    for answer in daemon.pm.hook.wad_before_send(
        device_id=device_id, message=message, daemon=daemon
    ):
        reason = await resolve(answer)
        if isinstance(reason, str):
            raise WadError("rate_limited", reason)
