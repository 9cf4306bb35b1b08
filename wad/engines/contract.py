"""The contract between a session and the engine that talks to WhatsApp for it
(standard library only, so that the neonize worker imports no trio).

An engine opens *links*: one live connection attempt of one session. A link
yields :class:`EngineEvent` objects and answers commands. Both engines (the real
``neonize`` one, with a worker process per session, and the in-process
``simulator``) implement exactly this, and one contract test suite runs on both.

Events (``kind`` and the keys of ``data``):

- ``qr``: ``code`` (the raw ``2@...`` string to render as a QR code)
- ``pair_code``: ``code`` (8 characters to type on the phone)
- ``connected``: ``phoneNumber``, ``jid``
- ``disconnected``: ``reason``; the link ends after it
- ``logged_out``: ``reason``; the device was unlinked, credentials are gone
- ``message``: ``id``, ``chat``, ``from``, ``type``, ``text``, ``timestamp``, ...
- ``receipt``: ``ids``, ``chat``, ``status`` (``delivered`` | ``read`` | ``played``)
- ``history``: ``syncType``, ``chunkOrder``, ``progress``, ``conversations``,
  ``part``/``parts``, ``messages`` (each a ``message`` event's data, ``history: true``):
  past messages WhatsApp sent after pairing (stored only if the session's ``history``
  setting is not ``none``)
- ``error``: ``message``; the link ends after it
- ``fault``: ``cause``, ``message``: the engine failed with one item (a neonize event it
  could not translate) and went on; the session counts it (``wad_faults_total``)
- ``presence``: ``jid``, ``state`` (``available`` | ``unavailable`` | ``typing`` |
  ``recording`` | ``paused``), ``lastSeen`` (unix s, or absent), ``chat`` (for typing)
- ``group_participants``, ``group_update``, ``poll_vote``: see :mod:`wad.engines.group_events`
- ``replaced``: ``reason``; another client connected with these credentials
  (whatsmeow's StreamReplaced); the link ends after it, and nothing reconnects
- ``banned``: ``code`` (WhatsApp's reason, e.g. ``SEND_TO_TOO_MANY_PEOPLE``),
  ``expiresIn`` (seconds; 0 when unknown); the link ends after it
- ``outdated``: ``reason``; WhatsApp refuses this client version; the link ends after it
- ``keepalive_timeout``: ``errorCount``, ``lastSuccess`` (unix s): a keep-alive failed
- ``keepalive_restored``: keep-alives get through again
- ``call_offer``: ``id``, ``from`` (the caller's JID, as WhatsApp named it), ``timestamp``,
  ``isVideo``, ``isGroup``
- ``call_ended``: ``id``, ``from``, ``reason``

Text in events is made valid Unicode at the session's edge (:mod:`wad.engines.text`);
an engine that can still see invalid bytes (the neonize worker) applies the same rule
first, so the originals are kept under ``raw``.

Commands (``Link.call(name, params)``):

- ``send_text``: ``id`` (a message id chosen by the daemon before the call),
  ``to`` (a JID), ``text`` -> ``{"id": <WhatsApp message id>, "timestamp": <unix s>}``
- ``logout`` -> ``{}``
- ``pair_phone``: ``phoneNumber`` -> ``{"code": "ABCD-EFGH"}``
- ``check_numbers``: ``numbers`` -> ``{"results": [{"number", "exists", "jid"}]}``
- ``resolve_ids``: ``jid`` (a user JID or a LID) -> ``{"jid", "phone", "lid",
  "phoneNumber"}``, the forms not known None
- ``ping`` -> ``{"connected": bool}``: a cheap probe of the engine (liveness); it
  answers even while other commands run
- ``reject_call``: ``id``, ``from`` (as in ``call_offer``) -> ``{}``

People are named by both their ids when either is known (:mod:`wad.engines.ids`):
``from``/``fromPhone``/``fromLid``, ``chat``/``chatPhone``/``chatLid`` (direct chats),
``mentions`` with ``mentionIds``, a receipt's ``from``.
- contacts, profile, privacy, blocklist, channels, presence subscription: see
  :mod:`wad.engines.directory` (the commands and the shapes they answer)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wad.engines.group_events import GROUP_EVENT_KINDS

EVENT_KINDS = frozenset(
    {
        "qr",
        "pair_code",
        "connected",
        "disconnected",
        "logged_out",
        "message",
        "receipt",
        "error",
        "fault",
        "history",
        "presence",
        *GROUP_EVENT_KINDS,
        "replaced",
        "banned",
        "outdated",
        "keepalive_timeout",
        "keepalive_restored",
        "call_offer",
        "call_ended",
    }
)
# After one of these a link delivers nothing more.
TERMINAL_KINDS = frozenset(
    {"disconnected", "logged_out", "error", "replaced", "banned", "outdated"}
)


@dataclass(frozen=True, slots=True)
class EngineEvent:
    kind: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        return {"event": self.kind, "data": self.data}

    @classmethod
    def from_wire(cls, obj: dict[str, Any]) -> EngineEvent:
        kind = obj.get("event")
        data = obj.get("data", {})
        if kind not in EVENT_KINDS or not isinstance(data, dict):
            raise ValueError(f"not an engine event: {obj!r}")
        return cls(kind, data)


class EngineError(Exception):
    """A command failed on the engine's side (not connected, refused, ...).

    ``code`` is a short stable word (``not_connected``, ``not_on_whatsapp``,
    ``failed``, ``unsupported``, ``bad_request``) the API maps to a status.
    """

    def __init__(self, message: str, code: str = "failed") -> None:
        super().__init__(message)
        self.code = code
