"""One cluster node in a process of its own (for the kill test): it prints every
start and stop of a session as ``<time.monotonic()> start|stop|stop_all [device]``."""

from __future__ import annotations

import sys
import time

import trio

from wad.cluster import ClusterNode


class Printing:
    def _say(self, kind: str, device: str = "") -> None:
        print(f"{time.monotonic()} {kind} {device}".rstrip(), flush=True)

    async def start(self, device_id: str) -> None:
        self._say("start", device_id)

    async def stop(self, device_id: str) -> None:
        self._say("stop", device_id)

    def stop_all(self) -> None:
        self._say("stop_all")


async def main(url: str, node_id: str) -> None:
    node = ClusterNode(url, node_id, Printing())
    async with trio.open_nursery() as nursery:
        await nursery.start(node.run)
        Printing()._say("ready")


if __name__ == "__main__":
    trio.run(main, sys.argv[1], sys.argv[2])
