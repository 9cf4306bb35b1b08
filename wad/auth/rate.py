"""A rate-limit answer, and the HTTP headers that carry it.

Headers follow the IETF draft "RateLimit header fields for HTTP":
``RateLimit-Policy: "name";q=LIMIT;w=WINDOW`` and
``RateLimit: "name";r=REMAINING;t=RESET``, plus ``Retry-After`` on a 429.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    policy: str  # a short name, e.g. "per-key"
    limit: int  # requests per window
    window: int  # seconds
    remaining: int
    reset: float  # seconds until the full quota is back
    retry_after: float = 0.0  # seconds, when refused

    def headers(self) -> dict[str, str]:
        out = {
            "RateLimit-Policy": f'"{self.policy}";q={self.limit};w={self.window}',
            "RateLimit": f'"{self.policy}";r={max(self.remaining, 0)};t={math.ceil(self.reset)}',
        }
        if not self.allowed:
            out["Retry-After"] = str(max(1, math.ceil(self.retry_after)))
        return out
