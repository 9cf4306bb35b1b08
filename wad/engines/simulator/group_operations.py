"""The virtual contacts' side of groups, polls and statuses, for the simulator's
routes and control methods: a contact opens an invite link, votes in a poll, posts
a status."""

from __future__ import annotations

from typing import Any

from wad import validation
from wad.engines.contract import EngineError
from wad.engines.group_events import STATUS_JID, invite_code
from wad.engines.simulator.operations import SimulatorOperations
from wad.errors import bad_request, not_found
from wad.services.calls import engine_failure

__all__ = ["GroupOperations"]


class GroupOperations(SimulatorOperations):
    def join(self, number: object, link: object, ask: object = False) -> dict[str, Any]:
        """A virtual contact opens an invite link: joins, or asks to (``ask``)."""
        jid = validation.user_jid(validation.phone_number(number, "from"))
        if not isinstance(link, str) or not link:
            raise bad_request("link must be an invite link or its code")
        try:
            return self.engine().network.contact_joins(invite_code(link), jid, bool(ask))
        except EngineError as exc:
            raise engine_failure(exc) from None

    async def vote(
        self, device_id: object, number: object, message_id: object, options: object
    ) -> None:
        """A virtual contact votes in a poll of the session's (sent or received)."""
        jid = validation.user_jid(validation.phone_number(number, "from"))
        if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
            raise bad_request("options must be a list of the chosen options' texts")
        row = self.lookup.live(device_id)
        if not isinstance(message_id, str):
            raise bad_request("messageId must be a string")
        found = message_id
        poll = await self.store.read(lambda q: q.get_message(row.device_id, found))
        if poll is None or poll["type"] != "poll" or not poll["waId"]:
            raise not_found("No poll with that id")
        try:
            link = self.engine().link(row.device_id)
        except EngineError as exc:
            raise engine_failure(exc) from None
        self.engine().network.vote(link, poll["peer"], jid, poll["waId"], options)

    def status(self, device_id: object, number: object, text: object) -> dict[str, str]:
        """A virtual contact posts a text status, which the session receives."""
        number = validation.phone_number(number, "from")
        body = validation.message_text(text, "text")
        jid = validation.user_jid(number)
        wa_id = self._call(device_id, "deliver", number, body, chat=STATUS_JID, **{"from": jid})
        return {"waId": wa_id}
