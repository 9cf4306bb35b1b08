"""Calling a session's engine from a service: the timeout, the mapping of engine
errors to the API's errors, and the message ids fixed before a call."""

from __future__ import annotations

from typing import Any

import trio

from wad.engines.contract import EngineError
from wad.errors import WadError
from wad.sessions.session import Session
from wad.store import Store, id_bits

__all__ = ["ENGINE_ERROR_CODES", "SEND_TIMEOUT", "call", "engine_failure", "new_message_id"]

SEND_TIMEOUT = 60.0
# An engine's error code -> the API's code, and the message to show instead of the
# engine's own (None keeps the engine's: it says what was wrong with the request).
ENGINE_ERROR_CODES: dict[str, tuple[str, str | None]] = {
    "not_connected": ("conflict", "Session not connected"),
    "not_on_whatsapp": ("bad_request", None),
    "conflict": ("conflict", None),
    "not_found": ("not_found", None),
    "bad_request": ("bad_request", None),
    "unsupported": ("bad_request", None),
    "forbidden": ("forbidden", None),
}


def engine_failure(exc: EngineError) -> WadError:
    code, message = ENGINE_ERROR_CODES.get(exc.code, ("unavailable", None))
    return WadError(code, message or str(exc))


def new_message_id() -> str:
    """A WhatsApp-style message id, fixed before the engine is called. Not a secret:
    the store's seeded generator serves (no system call for each id)."""
    return f"3EB0{id_bits(80):020X}"


async def call(
    store: Store,
    session: Session,
    command: str,
    params: dict[str, Any],
    message_id: str | None = None,
) -> dict[str, Any]:
    """Call the engine; record a failure on the message row when there is one."""
    try:
        with trio.fail_after(SEND_TIMEOUT):
            return await session.call(command, params)
    except EngineError as exc:
        if message_id:
            failed, error = message_id, str(exc)
            await store.run(lambda q: q.mark_failed(failed, error))
        raise engine_failure(exc) from None
    except trio.TooSlowError:
        if message_id:
            failed = message_id
            await store.run(lambda q: q.mark_failed(failed, "timed out waiting for WhatsApp"))
        raise WadError("unavailable", "timed out waiting for WhatsApp") from None
