"""Waiting for a session's state in a daemon process: its event stream, not polling.

``with SessionEvents(url, device_id) as events:`` opens ``GET /api/events`` and reads
its first message (``stream.open``), so the daemon is subscribed before the test
acts; ``events.wait_state("connected")`` then reads on until that state is told.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import httpx
from conftest import ADMIN_TOKEN


class SessionEvents:
    def __init__(self, url: str, device_id: str, timeout: float = 30.0) -> None:
        self._client = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=timeout
        )
        self._device_id = device_id
        self._stream: Any = None
        self._lines: Iterator[str] | None = None

    def __enter__(self) -> SessionEvents:
        self._stream = self._client.stream("GET", f"/api/events?session={self._device_id}")
        response = self._stream.__enter__()
        assert response.status_code == 200, response.read()
        self._lines = response.iter_lines()
        assert self._next()["event"] == "stream.open"
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stream.__exit__(kind, exc, tb)
        self._client.close()

    def _next(self) -> dict[str, Any]:
        assert self._lines is not None
        for line in self._lines:
            if line.startswith("data: "):
                event: dict[str, Any] = json.loads(line[len("data: ") :])
                return event
        raise AssertionError("the event stream ended")

    def wait_state(self, state: str) -> None:
        while True:
            event = self._next()
            if event["event"] == "session.status" and event["payload"]["state"] == state:
                return

    def wait_for(self, type_: str) -> dict[str, Any]:
        """Read on until an event of ``type_``; answer it."""
        while True:
            event = self._next()
            if event["event"] == type_:
                return event
