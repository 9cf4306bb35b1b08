"""Sends accepted but never acknowledged (the daemon stopped mid-send) go again when
their session connects, with the message id fixed before the first try, so a network
that saw the first one drops the repeat."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from wad.engines.contract import EngineError
from wad.engines.link import Link
from wad.sessions.events import EventLog
from wad.sessions.faults import Faults
from wad.sessions.incoming import resend_params
from wad.store import Store

log = logging.getLogger(__name__)
T = TypeVar("T")


class Session(Protocol):
    """What a resend needs of its session (:class:`wad.sessions.session.Session`)."""

    device_id: str
    store: Store
    events: EventLog
    faults: Faults

    def until_stored(self, write: Callable[[], Awaitable[T]]) -> Awaitable[T]: ...


async def resend_pending(session: Session, link: Link) -> None:
    """Resend every pending message of the session; one that fails costs only itself."""
    device_id = session.device_id
    for pending in await session.store.read(lambda q: q.pending_outgoing(device_id)):
        try:
            if not await _resend(session, link, pending):
                return
        except Exception as exc:
            session.faults.record(
                session.device_id, "event", f"could not resend message {pending['id']}", exc
            )


async def _resend(session: Session, link: Link, pending: dict[str, Any]) -> bool:
    """Resend one; False when the connection is gone (the rest wait for the next)."""
    store, message_id, type_ = session.store, pending["id"], pending["type"]
    params = resend_params(pending)
    if params is None:  # an interrupted reaction/edit/revoke is not replayed
        await session.until_stored(
            functools.partial(
                store.run, lambda q: q.mark_failed(message_id, "interrupted by a daemon restart")
            )
        )
        return True
    try:
        result = await link.call("send", params)
    except EngineError as exc:
        if exc.code == "not_connected":
            return False
        error = str(exc)
        await session.until_stored(
            functools.partial(store.run, lambda q: q.mark_failed(message_id, error))
        )
        return True
    wa_id = str(result.get("id") or message_id)
    log.info("session %s: resent message %s after a restart", session.device_id, message_id)
    payload = {"id": message_id, "waId": wa_id, "to": params["to"], "type": type_, "resent": True}
    await session.until_stored(
        functools.partial(
            session.events.emit,
            session.device_id,
            "message.sent",
            payload,
            also=lambda q: q.mark_sent(message_id, wa_id),
        )
    )
    return True
