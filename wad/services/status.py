"""The daemon's own state: version, uptime, where it listens, sessions by state; and
the admin token's rotation."""

from __future__ import annotations

import time
from typing import Any

from wad import __version__
from wad.auth.admin_token import AdminToken
from wad.config import Config
from wad.sessions.states import STATES
from wad.sessions.supervisor import Supervisor

__all__ = ["Status"]


class Status:
    def __init__(self, config: Config, supervisor: Supervisor, admin: AdminToken) -> None:
        self.config = config
        self.supervisor = supervisor
        self.admin = admin
        self.started = time.monotonic()
        # Filled in by the doors once they listen (the addresses actually bound).
        self.http_bound: list[str] = []
        self.control_bound: str | None = None

    def report(self) -> dict[str, Any]:
        counts = {state: 0 for state in STATES}
        counts.update(self.supervisor.counts())
        return {
            "version": __version__,
            "uptime": round(time.monotonic() - self.started, 3),
            "engine": self.config.engine,
            "http": self.http_bound,
            "controlSocket": self.control_bound,
            "sessions": counts,
            # connected, with WhatsApp's keep-alives failing (see wad.sessions.liveness)
            "degraded": sum(1 for s in self.supervisor.sessions.values() if s.degraded),
        }

    def rotate_admin_token(self) -> str:
        return self.admin.rotate()
