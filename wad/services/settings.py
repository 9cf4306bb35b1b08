"""A session's own settings: each one a name, a validator, a default, and how the
session's JSON shows it. Set at create time and by ``PATCH /api/sessions/{id}`` (and
the control socket's ``sessions.update``); stored by :mod:`wad.store.settings`.

A new setting is one entry in :data:`SETTINGS` (and its field in
``wad.http.schemas.SessionSettings``): the doors, the store and the session's JSON
follow from the table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from wad.errors import bad_request
from wad.store import Store

__all__ = ["SETTINGS", "Setting", "SessionSettings"]

REPLY_MAX = 1024  # the text replied to a rejected call: a short note, not a letter
CAP_MAX = 100_000


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting: ``validate`` turns what a client sent into the JSON value stored
    (or raises ``bad_request``; None means "back to the default"); ``show`` gives the
    value as the session's JSON shows it (a secret masked); a change of one that
    ``restarts`` reconnects the session (what its worker was started with changed)."""

    validate: Callable[[object], Any]
    default: Any = None
    show: Callable[[Any], Any] = _same
    restarts: bool = False


def boolean(field: str) -> Callable[[object], bool | None]:
    def check(value: object) -> bool | None:
        if value is not None and not isinstance(value, bool):
            raise bad_request(f"{field} must be true, false or null")
        return value

    return check


def optional_text(field: str, most: int) -> Callable[[object], str | None]:
    def check(value: object) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise bad_request(f"{field} must be a non-empty string or null")
        if len(value) > most:
            raise bad_request(f"{field} must be at most {most} characters")
        return value

    return check


def optional_count(field: str, most: int) -> Callable[[object], int | None]:
    def check(value: object) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= most:
            raise bad_request(f"{field} must be a whole number from 0 to {most}, or null")
        return value

    return check


SETTINGS: dict[str, Setting] = {
    "rejectCalls": Setting(boolean("rejectCalls"), default=False),
    "rejectCallsMessage": Setting(optional_text("rejectCallsMessage", REPLY_MAX)),
    # null: the daemon's WAD_NEW_CONTACT_DAILY_CAP; 0: no cap for this session
    "newContactDailyCap": Setting(optional_count("newContactDailyCap", CAP_MAX)),
}


class SessionSettings:
    def __init__(self, store: Store) -> None:
        self.store = store

    def validate(self, changes: Mapping[str, object]) -> dict[str, Any]:
        """Every change checked (an unknown name is a 400), before anything is stored."""
        unknown = sorted(set(changes) - set(SETTINGS))
        if unknown:
            raise bad_request(
                f"unknown setting(s): {', '.join(unknown)}; known: {', '.join(SETTINGS)}"
            )
        return {name: SETTINGS[name].validate(value) for name, value in changes.items()}

    def values(self, device_id: str) -> dict[str, Any]:
        """Every setting of a session, its default where it has none."""
        stored = self.store.session_settings(device_id)
        return {name: stored.get(name, s.default) for name, s in SETTINGS.items()}

    def value(self, device_id: str, name: str) -> Any:
        return self.store.session_settings(device_id).get(name, SETTINGS[name].default)

    def shown(self, device_id: str) -> dict[str, Any]:
        """The settings as the session's JSON shows them."""
        return {name: SETTINGS[name].show(v) for name, v in self.values(device_id).items()}

    def apply(self, device_id: str, valid: Mapping[str, Any]) -> bool:
        """Store validated values; True when a changed one needs the session to reconnect."""
        before = self.values(device_id)
        self.store.set_session_settings(device_id, dict(valid))
        return any(
            SETTINGS[name].restarts and before[name] != value for name, value in valid.items()
        )
