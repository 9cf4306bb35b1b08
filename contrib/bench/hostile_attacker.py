"""Hostile clients against a wad daemon, in a process of their own (so that their work
does not slow the measuring client): ``python hostile_attacker.py URL``. Used by
``tests/http/test_hostile_clients.py`` and by the benchmark ``hostile.py``.

- slowloris: many connections that send a request's headers a few bytes at a time;
- oversize bodies: requests far over the body limit, declared or streamed (with the
  token in ``WAD_ATTACK_TOKEN``);
- a flood of requests with wrong bearer tokens.

Prints ``ready`` once every slowloris connection is open, then floods at the given
rates until it has had an answer (or an error) for ``--bad-tokens`` guesses and
``--oversize`` bodies of each kind, or until stdin closes, and prints its counts as
JSON on the way out. A fixed volume, not a fixed time: on a busy machine the attack
lasts longer, it is never smaller.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import sys
from collections import Counter
from urllib.parse import urlsplit

import httpx
import trio

counts: Counter[str] = Counter()


async def slowloris(host: str, port: int, opened: trio.MemorySendChannel[None]) -> None:
    try:
        stream = await trio.open_tcp_stream(host, port)
    except OSError:
        counts["slowloris_refused"] += 1
        await opened.send(None)
        return
    counts["slowloris_open"] += 1
    await opened.send(None)
    head = b"GET /api/sessions HTTP/1.1\r\nHost: x\r\n"
    try:
        await stream.send_all(head)
        while True:  # a header that never ends, one byte at a time
            await trio.sleep(1.0)
            await stream.send_all(b"X")
            counts["slowloris_bytes"] += 1
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        counts["slowloris_closed"] += 1


async def paced(rate: float, total: int, fn, *args) -> None:
    """Start ``fn`` ``rate`` times a second (open loop), each in its own task, ``total``
    times; returns when all of them have ended."""
    async with trio.open_nursery() as nursery:
        next_at = trio.current_time()
        for _ in range(total):
            next_at += 1.0 / rate
            await trio.sleep_until(next_at)
            nursery.start_soon(fn, *args)


async def bad_token(client: httpx.AsyncClient, url: str) -> None:
    try:
        r = await client.get(
            url + "/api/sessions", headers={"Authorization": f"Bearer wad_{secrets.token_hex(16)}"}
        )
        counts[f"bad_token_{r.status_code}"] += 1
    except httpx.HTTPError as exc:
        counts["bad_token_error"] += 1
        counts[f"bad_token_error_{type(exc).__name__}"] += 1


def _headers() -> dict[str, str]:
    # Oversize bodies come with a valid token (a leaked one, say), so that they reach
    # the body limit and not only the authentication.
    return {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {os.environ.get('WAD_ATTACK_TOKEN', '')}",
    }


async def oversize(client: httpx.AsyncClient, url: str) -> None:
    """A declared 1 MiB body where 64 KiB is the limit."""
    try:
        r = await client.post(
            url + "/api/sessions", content=b"{" + b" " * (1 << 20) + b"}", headers=_headers()
        )
        counts[f"oversize_{r.status_code}"] += 1
    except httpx.HTTPError:
        counts["oversize_error"] += 1


async def oversize_streamed(client: httpx.AsyncClient, url: str) -> None:
    """A chunked body (no Content-Length) that goes on far past the limit."""

    async def body():
        for _ in range(256):
            yield b" " * 8192

    try:
        r = await client.post(url + "/api/sessions", content=body(), headers=_headers())
        counts[f"streamed_{r.status_code}"] += 1
    except httpx.HTTPError:
        counts["streamed_error"] += 1


async def main(
    url: str,
    sockets: int,
    token_rate: float,
    oversize_rate: float,
    source: str | None,
    bad_tokens: int,
    oversized: int,
) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    limits = httpx.Limits(max_connections=64)
    timeout = httpx.Timeout(60, pool=None)
    # Guesses from an address of their own: wad locks out the address that keeps
    # guessing, and the oversize bodies come with a valid token.
    guessing = httpx.AsyncHTTPTransport(
        local_address=source, limits=httpx.Limits(max_connections=16)
    )
    async with (
        # A request waits for a pooled connection as long as it takes: an open loop
        # on a busy machine queues up here, in the attacker, and that is no
        # refusal of wad's.
        httpx.AsyncClient(timeout=timeout, limits=limits) as client,
        httpx.AsyncClient(timeout=timeout, transport=guessing) as guesser,
        trio.open_nursery() as nursery,
    ):
        send, receive = trio.open_memory_channel[None](sockets)
        for _ in range(sockets):
            nursery.start_soon(slowloris, host, port, send)
        for _ in range(sockets):
            await receive.receive()
        print("ready", flush=True)
        nursery.start_soon(_stop_on_stdin_close, nursery.cancel_scope)
        async with trio.open_nursery() as flood:
            flood.start_soon(paced, token_rate, bad_tokens, bad_token, guesser, url)
            flood.start_soon(paced, oversize_rate, oversized, oversize, client, url)
            flood.start_soon(paced, oversize_rate, oversized, oversize_streamed, client, url)
        nursery.cancel_scope.cancel()


async def _stop_on_stdin_close(scope: trio.CancelScope) -> None:
    await trio.to_thread.run_sync(sys.stdin.read, abandon_on_cancel=True)
    scope.cancel()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("--slowloris", type=int, default=300)
    p.add_argument("--bad-token-rate", type=float, default=200)
    p.add_argument("--oversize-rate", type=float, default=10)
    p.add_argument("--bad-tokens", type=int, default=2000, help="guesses in all")
    p.add_argument("--oversize", type=int, default=50, help="oversize bodies of each kind")
    p.add_argument("--source", help="the local address to send HTTP requests from")
    args = p.parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with contextlib.suppress(KeyboardInterrupt):
        trio.run(
            main,
            args.url,
            args.slowloris,
            args.bad_token_rate,
            args.oversize_rate,
            args.source,
            args.bad_tokens,
            args.oversize,
        )
    print(json.dumps(counts), flush=True)
