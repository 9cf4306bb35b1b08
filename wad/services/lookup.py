"""The one way a service finds what a request names: a session by its deviceId, a
message by its id. Each answer is validated first and raises ``not_found`` when
there is nothing, with the same message whichever door asked.

In a cluster a stored session may run on another node: then :meth:`Lookup.live`
raises :class:`OwnedElsewhere`, which the HTTP app forwards to that node
(:mod:`wad.http.forward`) and the control socket relays there
(:mod:`wad.control.relay`)."""

from __future__ import annotations

from typing import Any

from wad import validation
from wad.errors import WadError, bad_request, not_found
from wad.sessions.session import Session
from wad.sessions.supervisor import Supervisor
from wad.store import SessionRow, Store

__all__ = ["Lookup", "OwnedElsewhere"]


class OwnedElsewhere(WadError):
    """A cluster's session that this node does not run (another node does, or none
    right now). The HTTP app forwards the request to its owner, and the control
    socket relays its method there; this is the answer only where neither can (the
    owner itself, asked for a session that moved meanwhile)."""

    def __init__(self, device_id: str) -> None:
        super().__init__(
            "unavailable",
            f"Session {device_id} does not run on this node: ask the node that runs it"
            " (wadctl cluster lists them) or the REST API of any node",
            {"Retry-After": "1"},
        )
        self.device_id = device_id


class Lookup:
    def __init__(self, store: Store, supervisor: Supervisor, *, clustered: bool = False) -> None:
        self.store = store
        self.supervisor = supervisor
        # A node of a cluster: a session missing from the supervisor may run elsewhere.
        self.clustered = clustered

    async def row(self, device_id: object) -> SessionRow:
        """A session's stored row (one query)."""
        valid = validation.device_id(device_id)
        row = await self.store.read(lambda q: q.get_session(valid))
        if row is None:
            raise not_found("Session not found")
        return row

    def live(self, device_id: object) -> Session:
        """A session by its id, from memory: the supervisor holds one for every stored
        session (added after its row is written, dropped before its row is deleted),
        so the send path needs no query to know that the session exists. (In a
        cluster: every session that this node runs.)"""
        valid = validation.device_id(device_id)
        session = self.supervisor.get(valid)
        if session is None:
            raise OwnedElsewhere(valid) if self.clustered else not_found("Session not found")
        return session

    async def session(self, device_id: object) -> Session:
        """A session that is both stored and live: its row first (one query), then its
        task. The admin's operations ask this; only the send path skips the query."""
        return self.live((await self.row(device_id)).device_id)

    async def message(self, device_id: str, message_id: object) -> dict[str, Any]:
        """A message of this session that reached WhatsApp (it has a WhatsApp id)."""
        if not isinstance(message_id, str) or not 1 <= len(message_id) <= 128:
            raise bad_request("message id must be a string")
        valid = message_id
        found = await self.store.read(lambda q: q.get_message(device_id, valid))
        if found is None or not found["waId"]:
            raise not_found("No such message in this session")
        return found
