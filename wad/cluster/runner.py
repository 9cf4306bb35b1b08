"""What the cluster asks of the daemon: run a session, stop one, stop all at once.

The supervisor implements it. The cluster calls ``start`` after it has claimed a
session (the advisory lock and the ``owners`` row are this node's), ``stop`` before
it hands one over, and ``stop_all`` when it fences.
"""

from __future__ import annotations

from typing import Protocol


class SessionRunner(Protocol):
    async def start(self, device_id: str) -> None:
        """Run the session (connect its engine). Returns once it is started, not
        once it is connected."""

    async def stop(self, device_id: str) -> None:
        """Stop the session; when this returns its engine connection is closed."""

    def stop_all(self) -> None:
        """Fencing: close every session's engine connection now, synchronously,
        without a checkpoint. A ``start`` still under way must not leave its
        session running afterwards. Called on the trio thread."""
