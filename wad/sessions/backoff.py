"""Capped exponential backoff with full jitter, as a small named state."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    initial: float
    cap: float
    attempt: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def next_delay(self) -> float:
        """The delay before the next try: grows x2 per failure up to ``cap``.

        Half of it is fixed and half random ("equal jitter"), so retries of many
        sessions spread out but a delay never collapses to zero.
        """
        ceiling: float = min(self.cap, self.initial * 2**self.attempt)
        self.attempt += 1
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    def reset(self) -> None:
        self.attempt = 0
