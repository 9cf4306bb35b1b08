"""Who is calling: the administrator, one session's key holder, or nobody."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class Principal:
    kind: Literal["admin", "session", "anonymous"]
    device_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.kind == "admin"

    def holds_key_of(self, device_id: str) -> bool:
        return self.kind == "session" and self.device_id == device_id


ANONYMOUS = Principal("anonymous")
ADMIN = Principal("admin")
