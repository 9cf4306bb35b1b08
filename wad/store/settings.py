"""Queries on ``session_settings``: a session's own settings, one row a setting.

A row a setting (not a column each) so that a new setting needs no migration: the
settings themselves, their validation and defaults, live in
:mod:`wad.services.settings`; this module only stores JSON values by name.
"""

import json
from typing import Any

from wad.store.base import QueryBase


class SettingQueries(QueryBase):
    # caches.settings: device id -> its settings, read on every send (the new-contact
    # cap) and every call; every write below drops the session's entry.

    def session_settings(self, device_id: str) -> dict[str, Any]:
        """The settings stored for a session (only those set; defaults are the caller's)."""
        cached = self.caches.settings.get(device_id)
        if cached is None:
            rows = self.db.execute(
                "SELECT name, value FROM session_settings WHERE device_id = ?", (device_id,)
            )
            cached = {name: json.loads(value) for name, value in rows}
            if not self.db.in_transaction:  # only committed values are cached
                self.caches.settings[device_id] = cached
        return dict(cached)

    def set_session_settings(self, device_id: str, values: dict[str, Any]) -> None:
        """Store each value (JSON); a value of None removes the setting (its default)."""
        self.caches.settings.pop(device_id, None)
        with self.db:
            for name, value in values.items():
                if value is None:
                    self.db.execute(
                        "DELETE FROM session_settings WHERE device_id = ? AND name = ?",
                        (device_id, name),
                    )
                else:
                    self.db.execute(
                        "INSERT INTO session_settings (device_id, name, value) VALUES (?, ?, ?)"
                        " ON CONFLICT (device_id, name) DO UPDATE SET value = excluded.value",
                        (device_id, name, json.dumps(value)),
                    )
        self.caches.settings.pop(device_id, None)

    def forget_settings(self, device_id: str) -> None:
        """Drop the cached settings of a deleted session (its rows go with it)."""
        self.caches.settings.pop(device_id, None)
