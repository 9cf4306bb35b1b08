"""Live events over server-sent events, and a session's recent history (admin).

``GET /api/events`` streams every stored event (``StoredEvent.to_json()``) as
it happens; each carries its event id as the SSE ``id``. A client that
reconnects with ``Last-Event-ID`` (browsers' ``EventSource`` does so by itself)
first gets what it missed, from the events table, then the live stream. The
first message of every stream is ``stream.open`` with ``resumed`` true or
false: false means "load your snapshot again" (a new stream, or a resume point
that is gone). Comments keep idle connections alive.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import trio
from quart import Blueprint, Response, request
from quart_schema import document_headers, document_querystring, document_response

from wad import validation
from wad.errors import bad_request
from wad.http.context import daemon as current_daemon
from wad.http.context import services
from wad.http.event_schemas import EventList, LiveEvent
from wad.http.helpers import ok, require_admin
from wad.http.openapi import api, event_stream
from wad.http.params import (
    EVENTS_PAGE_MAX,
    LAST_EVENT_ID_MAX,
    EventStreamHeaders,
    EventStreamQuery,
    SessionEventsQuery,
)
from wad.sessions.event_types import EVENT_TYPES
from wad.store import Queries, StoredEvent

if TYPE_CHECKING:
    from wad.hooks import DaemonAPI

bp = Blueprint("live", __name__)


HEARTBEAT = 15.0  # seconds between keep-alive comments on an idle stream
RETRY_MS = 2000  # how long a browser waits before reconnecting
BACKLOG = 1000  # most events replayed on a resume; more missed means "reload"


@bp.get("/api/events")
@api("streamEvents", "Events", "admin")
@document_querystring(EventStreamQuery)
@document_headers(EventStreamHeaders)
@event_stream(LiveEvent)
async def stream_events() -> Response:
    """Every event of every session (or `?session=<deviceId>`), live, as server-sent
    events; send `Last-Event-ID` to resume after the last one you saw (admin)."""
    await require_admin()
    device_id = request.args.get("session") or None
    if device_id is not None:
        device_id = validation.device_id(device_id)
    resume_from = (request.headers.get("Last-Event-ID") or "").strip() or None
    if resume_from is not None and len(resume_from) > LAST_EVENT_ID_MAX:
        raise bad_request("Last-Event-ID is not an event id")
    response = Response(
        _stream(current_daemon(), device_id, resume_from),
        status=200,
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        },
    )
    response.timeout = None  # a stream lasts as long as the client stays
    return response


async def _stream(
    daemon: DaemonAPI, device_id: str | None, resume_from: str | None
) -> AsyncIterator[bytes]:
    """The stream's body; it runs after the handler returned, outside the app context."""
    # Subscribed before the backlog is read, so no event falls in a gap. On SQLite no
    # checkpoint lies between them; where the read is one (PostgreSQL's thread), an
    # event stored meanwhile may be in both: it is sent once (``sent``).

    def opening(q: Queries) -> tuple[list[StoredEvent] | None, str | None]:
        backlog: list[StoredEvent] | None = None
        if resume_from is not None:
            backlog = q.events_after(resume_from, device_id, BACKLOG + 1)
            if backlog is not None and len(backlog) > BACKLOG:
                backlog = None
        return backlog, q.latest_event_id()

    with daemon.events.subscribe() as live:
        backlog, latest = await daemon.store.read(opening)
        sent = {event.id for event in backlog or ()}
        resumed = backlog is not None
        # A fresh stream's id is the newest event's, so that even a stream that
        # saw nothing yet resumes from the right place.
        yield _message(
            {"event": "stream.open", "resumed": resumed}, None if resumed else latest, retry=True
        )
        for event in backlog or ():
            yield _event(event)
        # The heartbeat is due HEARTBEAT after the last thing this stream sent, not
        # after the last event of any session: a stream filtered to one session
        # still gets it while other sessions are busy.
        beat_at = trio.current_time() + HEARTBEAT
        while not daemon.stopping.is_set():
            with trio.move_on_at(beat_at) as idle:
                try:
                    event = await live.receive()
                except (trio.EndOfChannel, trio.ClosedResourceError):
                    return  # cut off as too slow: the client resumes from its last id
            if idle.cancelled_caught:
                yield b": keep-alive\n\n"
            elif (device_id is None or event.device_id == device_id) and event.id not in sent:
                yield _event(event)
            else:
                continue
            beat_at = trio.current_time() + HEARTBEAT


def _event(event: StoredEvent) -> bytes:
    return _message(event.to_json(), event.id)


def _message(data: dict[str, Any], event_id: str | None, retry: bool = False) -> bytes:
    lines = []
    if retry:
        lines.append(f"retry: {RETRY_MS}")
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append("data: " + json.dumps(data, separators=(",", ":")))
    return ("\n".join(lines) + "\n\n").encode()


@bp.get("/api/sessions/<device_id>/events")
@api("listSessionEvents", "Events", "admin")
@document_querystring(SessionEventsQuery)
@document_response(EventList)
async def session_events(device_id: str) -> Response:
    """A session's recent events, newest first: `?types=session.status,session.qr`
    (default all) and `?limit=50` (1-500) (admin)."""
    await require_admin()
    row = await services().sessions.get(device_id)
    types = tuple(t for t in (request.args.get("types") or "").split(",") if t) or EVENT_TYPES
    unknown = [t for t in types if t not in EVENT_TYPES]
    if unknown:
        raise bad_request(
            f"types: unknown event type {unknown[0]!r}; one of {', '.join(EVENT_TYPES)}"
        )
    try:
        limit = int(request.args.get("limit", "50"))
    except ValueError:
        raise bad_request(f"limit must be a number from 1 to {EVENTS_PAGE_MAX}") from None
    if not 1 <= limit <= EVENTS_PAGE_MAX:
        raise bad_request(f"limit must be a number from 1 to {EVENTS_PAGE_MAX}")
    events = await current_daemon().store.read(
        lambda q: q.recent_events(row["deviceId"], types, limit)
    )
    return ok(events=[e.to_json() for e in events])
