"""A DNS stand-in for outbound-request tests: fixed answers per name, no query
leaving the machine, every lookup recorded (``resolve.lookups``)."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable

import trio


def resolver(table: dict[str, list[str]]) -> Callable[[str, int], Awaitable[list[str]]]:
    lookups: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        await trio.lowlevel.checkpoint()
        lookups.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    resolve.lookups = lookups  # type: ignore[attr-defined]
    return resolve
