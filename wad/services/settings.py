"""A session's own settings: each one a name, a validator, a default, and how the
session's JSON shows it. Set at create time and by ``PATCH /api/sessions/{id}`` (and
the control socket's ``sessions.update``); stored by :mod:`wad.store.settings`.

A new setting is one entry in :data:`SETTINGS` (and its field in
``wad.http.schemas.SessionSettings``): the doors, the store and the session's JSON
follow from the table.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from wad.errors import bad_request
from wad.secrets import KEY_FILE, SecretBox, Unreadable
from wad.services import history, proxy
from wad.store import Store

__all__ = ["SETTINGS", "Setting", "SessionSettings"]

REPLY_MAX = 1024  # the text replied to a rejected call: a short note, not a letter
CAP_MAX = 100_000
#: How a sealed setting that cannot be opened is shown (restore secrets.key, or set it again).
UNREADABLE = "(sealed with another key: restore secrets.key or set it again)"


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting: ``validate`` turns what a client sent into the JSON value stored
    (or raises ``bad_request``; None means "back to the default"); ``show`` gives the
    value as the session's JSON shows it (a secret masked); a change of one that
    ``restarts`` reconnects the session (what its worker was started with changed);
    one ``sealed`` is stored encrypted (:mod:`wad.secrets`), only its shown form leaves.
    Those ``for_engine`` go to the session's engine with each connection."""

    validate: Callable[[object], Any]
    default: Any = None
    show: Callable[[Any], Any] = _same
    restarts: bool = False
    sealed: bool = False
    for_engine: bool = False


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
    # http(s):// or socks5:// with a port, maybe with credentials; shown masked
    "proxy": Setting(
        proxy.validate, show=proxy.masked, restarts=True, sealed=True, for_engine=True
    ),
    # none / recent / full (wad.services.history)
    "history": Setting(history.validate, default="none", for_engine=True),
}


class SessionSettings:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._box: SecretBox | None = None

    @property
    def box(self) -> SecretBox:
        """The key of secrets at rest, beside wad.db (made on first use)."""
        if self._box is None:
            self._box = SecretBox.load(self.store.path.parent / KEY_FILE)
        return self._box

    def validate(self, changes: Mapping[str, object]) -> dict[str, Any]:
        """Every change checked (an unknown name is a 400), before anything is stored."""
        unknown = sorted(set(changes) - set(SETTINGS))
        if unknown:
            raise bad_request(
                f"unknown setting(s): {', '.join(unknown)}; known: {', '.join(SETTINGS)}"
            )
        return {name: SETTINGS[name].validate(value) for name, value in changes.items()}

    async def values(self, device_id: str) -> dict[str, Any]:
        """Every setting of a session, its default where it has none."""
        stored = await self._stored(device_id)
        return {name: self._open(device_id, name, stored) for name in SETTINGS}

    async def value(self, device_id: str, name: str) -> Any:
        return self._open(device_id, name, await self._stored(device_id))

    async def engine_options(self, device_id: str) -> dict[str, Any]:
        """What the session's engine is given with each connection (a proxy opened)."""
        values = await self.values(device_id)
        return {name: values[name] for name, s in SETTINGS.items() if s.for_engine}

    def sealed(self, device_id: str, valid: Mapping[str, Any]) -> dict[str, Any]:
        """Validated values as they are stored (``set_session_settings``): sealed ones
        encrypted."""
        return {
            name: self.box.seal(f"{device_id}/{name}", json.dumps(value))
            if SETTINGS[name].sealed and value is not None
            else value
            for name, value in valid.items()
        }

    async def _stored(self, device_id: str) -> dict[str, Any]:
        return await self.store.read(lambda q: q.session_settings(device_id))

    def _open(self, device_id: str, name: str, stored: Mapping[str, Any]) -> Any:
        setting = SETTINGS[name]
        if name not in stored:
            return setting.default
        value = stored[name]
        if setting.sealed and isinstance(value, str):
            # What it belongs to is associated data: a value copied elsewhere stays shut.
            return json.loads(self.box.open(f"{device_id}/{name}", value))
        return value

    async def shown(self, device_id: str) -> dict[str, Any]:
        """The settings as the session's JSON shows them; a sealed one this key does not
        open (``secrets.key`` lost or replaced) is shown as such, never as unset."""
        return self.shown_of(device_id, await self._stored(device_id))

    def shown_of(self, device_id: str, stored: Mapping[str, Any]) -> dict[str, Any]:
        """:meth:`shown` of the settings as stored (``session_settings``)."""
        shown: dict[str, Any] = {}
        for name, setting in SETTINGS.items():
            try:
                shown[name] = setting.show(self._open(device_id, name, stored))
            except Unreadable:
                shown[name] = UNREADABLE
        return shown

    async def apply(self, device_id: str, valid: Mapping[str, Any]) -> bool:
        """Store validated values; True when a changed one needs the session to reconnect."""
        before = await self.values(device_id)
        stored = self.sealed(device_id, valid)
        await self.store.run(lambda q: q.set_session_settings(device_id, stored))
        return any(
            SETTINGS[name].restarts and before[name] != value for name, value in valid.items()
        )
