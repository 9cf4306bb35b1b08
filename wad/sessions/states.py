"""A session's connection states, in their lifecycle order (standard library only:
``wadctl`` imports them).

Each is a ``str`` too, so it compares, stores and encodes as its value.
"""

from __future__ import annotations

import enum


class State(enum.StrEnum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    WAITING_QR = "waiting_qr"
    CONNECTED = "connected"
    LOGGED_OUT = "logged_out"
    FAILED = "failed"
    STOPPED = "stopped"
    #: another client connected with this device's credentials (whatsmeow's
    #: StreamReplaced); it rests until an administrator restarts it
    CONFLICT = "conflict"
    #: WhatsApp banned the account for a while (TemporaryBan): ``nextRetryAt`` (and
    #: ``bannedUntil``) says when it connects again
    BANNED = "banned"


STATES: tuple[str, ...] = tuple(state.value for state in State)
#: States a session stays in until an administrator acts (restart, pair again).
RESTING = frozenset({State.LOGGED_OUT, State.STOPPED, State.CONFLICT})
