"""A test plugin that adds a metric family and a wadctl command through the hooks."""

from __future__ import annotations

import argparse
from typing import Any

import trio

from wad import hookimpl
from wad.hooks import CtlCommand, DaemonAPI
from wad.metrics.registry import family


class FiguresPlugin:
    def __init__(self) -> None:
        self.scrapes = 0

    @hookimpl
    async def wad_metrics(self, daemon: DaemonAPI) -> list[str]:
        await trio.sleep(0)  # an awaitable answer, as a plugin counting in a thread gives
        self.scrapes += 1
        sessions = len(daemon.supervisor.counts())
        return [family("test_scrapes", "counter", "Scrapes seen.", [((), self.scrapes)])] + (
            [family("test_session_states", "gauge", "States in use.", [((), sessions)])]
        )

    @hookimpl
    def wad_ctl_commands(self) -> list[CtlCommand]:
        def arguments(parser: argparse.ArgumentParser) -> None:
            parser.add_argument("device_id")
            parser.add_argument("--limit", type=int)

        def params(args: argparse.Namespace) -> dict[str, Any]:
            return {"deviceId": args.device_id, "limit": args.limit}

        return [
            CtlCommand(
                "recent",
                "a session's newest messages",
                "sessions.messages",
                params,
                arguments,
                lambda result: f"{len(result['messages'])} messages",
            ),
            CtlCommand("status", "a plugin may not replace wadctl's own", "nope", params),
        ]
