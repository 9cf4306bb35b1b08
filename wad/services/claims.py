"""``Idempotency-Key`` claims of sends, across failures and crashes.

A keyed send claims its key first (one row); the first answer is stored with it, and
a retry with the key gets that answer. A claim this process does not hold, and that
has no answer, was cut short: the daemon was killed, or the disk was full when the
answer was to be stored. It is settled from what its send stored (the claim names
the message), never left to answer "still being sent" for ever:

- nothing stored, or the message failed: the key is free again, the retry sends it;
- the message went out: its answer is rebuilt from the stored message and returned;
- the message is pending (accepted, not acknowledged): the session sends it again,
  with the same message id, when it next connects; until then the retry hears that
  it is still being sent, and after it gets the answer.

At start every open claim is such a one (the state folder's lock proves no other
process is sending), so the daemon settles them all before it serves.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from datetime import datetime
from typing import Any

import trio

from wad.errors import StorageFull, conflict
from wad.store import Queries, Store

__all__ = ["Claims", "answer_of"]

log = logging.getLogger(__name__)

SENT = ("sent", "delivered", "read", "played")


def answer_of(message: dict[str, Any]) -> dict[str, Any]:
    """A send's answer, rebuilt from the message it stored (the shape ``send`` answers)."""
    when = datetime.fromisoformat(str(message["updatedAt"]).replace("Z", "+00:00"))
    return {
        "status": "sent",
        "id": message["id"],
        "to": message["to"],
        "type": message["type"],
        "timestamp": int(when.timestamp()),
    }


def _free(device_id: str, key: str, q: Queries) -> None:
    q.idempotency_finish(device_id, key, None)


class Claims:
    def __init__(self, store: Store) -> None:
        self.store = store
        # The claims of this process's sends in progress (device id, key).
        self._held: set[tuple[str, str]] = set()
        # A lock a key while a request claims it (:meth:`claim`).
        self._turns: dict[tuple[str, str], trio.Lock] = {}

    async def claim(self, device_id: str, key: str, body_hash: str) -> dict[str, Any] | None:
        """The earlier answer of ``key``, or None when this request now holds its claim
        (and must :meth:`release` or :meth:`finish` it). 409 when the key was used with
        another body, or its send is still under way."""
        # One claim of a key at a time in this process: where the store's call is a
        # thread hop (PostgreSQL), requests with the same key would otherwise all ask
        # at once, and each but one would find the winner's claim open before the
        # winner holds it (here), so take it as cut short and send again.
        held = (device_id, key)
        turn = self._turns.get(held)
        if turn is None:
            turn = self._turns[held] = trio.Lock()
        if turn.locked():
            await turn.acquire()
        else:
            turn.acquire_nowait()  # no checkpoint: SQLite's path stays as it was
        try:
            return await self._claim(device_id, key, body_hash)
        finally:
            turn.release()
            if not turn.locked() and not turn.statistics().tasks_waiting:
                self._turns.pop(held, None)

    async def _claim(self, device_id: str, key: str, body_hash: str) -> dict[str, Any] | None:
        outcome, found = await self.store.run(
            lambda q: q.idempotency_claim(device_id, key, body_hash)
        )
        if outcome == "mismatch":
            raise conflict("This Idempotency-Key was used with a different request body")
        if outcome == "done":
            return found  # type: ignore[no-any-return]  # the stored answer, as it was sent
        if outcome == "open":
            if (device_id, key) in self._held:
                raise conflict("A request with this Idempotency-Key is still being sent")
            earlier = await self._settle(device_id, key, found)
            if earlier is not None:
                return earlier
            if found is not None and found["status"] == "pending":
                raise conflict(
                    "A request with this Idempotency-Key is still being sent: it was cut short"
                    " and goes again, with the same message id, when the session connects"
                )
            await self.store.run(lambda q: q.idempotency_retake(device_id, key))
        self._held.add((device_id, key))
        return None

    async def finish(self, device_id: str, key: str, answer: dict[str, Any]) -> None:
        """Store the answer of a held claim. A full disk leaves the claim open, naming
        its sent message: a retry gets the answer rebuilt from it."""
        self._held.discard((device_id, key))
        try:
            await self.store.run(lambda q: q.idempotency_finish(device_id, key, answer))
        except StorageFull:
            log.warning("the answer of an Idempotency-Key could not be stored: the disk is full")

    async def release(self, device_id: str, key: str, keep: bool) -> None:
        """A held claim's send failed: free the key (the retry sends again), or, with
        ``keep`` (its message is pending and goes again at the next connect), leave the
        claim open for a retry to find that message."""
        self._held.discard((device_id, key))
        if keep:
            return
        # On a full disk the claim stays open, naming nothing that goes out: a retry
        # takes it over.
        with contextlib.suppress(StorageFull):
            await self.store.run(lambda q: q.idempotency_finish(device_id, key, None))

    async def _settle(
        self, device_id: str, key: str, message: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        """Settle a claim cut short: the answer when its message went out (stored now),
        else None (the key is free again, or its message is still pending)."""
        if message is None or message["status"] == "failed":
            return None
        if message["status"] in SENT:
            answer = answer_of(message)
            await self.store.run(lambda q: q.idempotency_finish(device_id, key, answer))
            return answer
        return None

    async def settle_interrupted(self, only: str | None = None) -> int:
        """At start: settle every open claim (each was cut short by the daemon's end);
        return how many were. A pending message keeps its claim, for the resend. In a
        cluster, ``only`` one session's, when a node takes the session over (its
        previous owner has stopped; the other sessions' senders are still at work)."""
        settled = 0
        claims = await self.store.read(
            lambda q: [
                (d, k, q.claimed_message(m))
                for d, k, m in q.idempotency_open()
                if only is None or d == only
            ]
        )
        for device_id, key, message in claims:
            if message is not None and message["status"] == "pending":
                continue
            if await self._settle(device_id, key, message) is None:
                await self.store.run(functools.partial(_free, device_id, key))
            settled += 1
        if settled:
            log.info("settled %d Idempotency-Key(s) left open by a daemon that stopped", settled)
        return settled
