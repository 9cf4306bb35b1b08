"""Fencing ends engine connections at once (``sever``, what the supervisor's
``stop_all`` calls): neonize kills every worker before it returns, with its real
worker processes on this machine that cannot reach WhatsApp, held in a connection
attempt through a silent local proxy (as tests/engines/test_neonize_worker.py)."""

from __future__ import annotations

import functools
import signal
from pathlib import Path

import pytest
import trio

from wad.engines.neonize.engine import NeonizeEngine
from wad.engines.neonize.worker import PROXY_ENV

pytestmark = pytest.mark.slow


class SilentProxy:
    """Accepts TCP connections and never answers; counts those still open."""

    def __init__(self) -> None:
        self.open = 0
        self.changed = trio.Event()

    async def handle(self, stream: trio.SocketStream) -> None:
        self.open += 1
        self._changed()
        try:
            async with stream:
                while await stream.receive_some():
                    pass
        finally:
            self.open -= 1
            self._changed()

    def _changed(self) -> None:
        self.changed.set()
        self.changed = trio.Event()

    async def until(self, count: int) -> None:
        while self.open != count:
            await self.changed.wait()


async def test_neonize_sever_kills_every_worker_before_it_returns(
    tmp_path: Path, nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = SilentProxy()
    listeners = await nursery.start(
        functools.partial(trio.serve_tcp, proxy.handle, 0, host="127.0.0.1")
    )
    port = listeners[0].socket.getsockname()[1]
    monkeypatch.setenv(PROXY_ENV, f"http://127.0.0.1:{port}")
    engine = NeonizeEngine(grace=5.0, sessions_per_worker=1)  # two workers
    async with engine.open_link("s1", tmp_path / "s1") as one:
        async with engine.open_link("s2", tmp_path / "s2") as two:
            await proxy.until(2)  # both workers dialing WhatsApp (the proxy)
            engine.sever()
            left = trio.current_time()
        # Not the grace period: the workers were killed, not asked to stop.
        assert trio.current_time() - left < 2
    for link in (one, two):
        assert link.process.returncode == -signal.SIGKILL
    with trio.fail_after(5):
        await proxy.until(0)  # their connections are gone with them
    assert engine.statistics().worker_crashes == 0  # asked for: no crash, no quarantine
