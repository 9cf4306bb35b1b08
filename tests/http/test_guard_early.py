"""The guard's early answers (wad.http.guard), in-process on trio's virtual clock: an
answer sent before the body came waits for a small rest only when the connection
could be kept; one that says ``Connection: close`` goes at once."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import trio

from wad.http.guard import Guard, GuardLimits

LIMITS = GuardLimits()
SCOPE = {
    "type": "http",
    "method": "POST",
    "path": "/api/sessions/d/messages",
    "headers": [(b"content-length", b"100"), (b"content-type", b"application/json")],
}


async def body_never_comes() -> dict[str, Any]:
    await trio.sleep_forever()
    raise AssertionError("unreachable")


def answering(headers: list[tuple[bytes, bytes]]) -> Any:
    """An app that answers 403 with ``headers`` without reading the body."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 403, "headers": headers})
        await send({"type": "http.response.body", "body": b"{}", "more_body": False})

    return app


async def run(
    headers: list[tuple[bytes, bytes]],
) -> tuple[float, list[MutableMapping[str, Any]]]:
    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    guard = Guard(answering(headers), LIMITS, buffered=lambda scope: True)
    began = trio.current_time()
    await guard(dict(SCOPE), body_never_comes, send)
    return trio.current_time() - began, sent


async def test_an_answer_that_closes_goes_at_once(autojump_clock: trio.abc.Clock) -> None:
    took, sent = await run([(b"connection", b"close")])
    assert took < 0.01, f"the answer waited {took:.2f} s for a body nothing reads"
    assert sent[0]["status"] == 403


async def test_an_answer_that_keeps_the_connection_waits_for_the_rest_then_closes(
    autojump_clock: trio.abc.Clock,
) -> None:
    took, sent = await run([(b"content-type", b"application/json")])
    assert took == LIMITS.drain_timeout
    assert (b"connection", b"close") in sent[0]["headers"]
