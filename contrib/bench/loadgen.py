"""Load generators, run in a process of their own so that they do not share the
server's interpreter: ``python loadgen.py JSON`` prints a JSON result.

- ``open``: open loop at a fixed offered rate; each request's latency counts from
  the moment it was due, so a stalled server is not hidden (no coordinated
  omission);
- ``closed``: ``connections`` clients back to back as fast as answers come
  (the fallback for throughput when wrk is not installed).
"""

from __future__ import annotations

import json
import sys
import time

import httpx
import trio


async def one(client: httpx.AsyncClient, spec: dict, due: float, out: dict) -> None:
    try:
        r = await client.post(spec["url"], content=spec["body"], headers=spec["headers"])
        out["latencies"].append(time.perf_counter() - due)
        out["status"][str(r.status_code)] = out["status"].get(str(r.status_code), 0) + 1
    except httpx.HTTPError as exc:
        out["errors"][type(exc).__name__] = out["errors"].get(type(exc).__name__, 0) + 1


async def open_loop(spec: dict) -> dict:
    out: dict = {"latencies": [], "status": {}, "errors": {}}
    limits = httpx.Limits(max_connections=spec.get("connections", 64))
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        for _ in range(20):  # warm the connections up
            await one(
                client, spec, time.perf_counter(), {"latencies": [], "status": {}, "errors": {}}
            )
        async with trio.open_nursery() as nursery:
            start = time.perf_counter()
            total = int(spec["rate"] * spec["duration"])
            for i in range(total):
                due = start + i / spec["rate"]
                await trio.sleep(max(0.0, due - time.perf_counter()))
                nursery.start_soon(one, client, spec, due, out)
    return out


async def closed_loop(spec: dict) -> dict:
    out: dict = {"latencies": [], "status": {}, "errors": {}}
    limits = httpx.Limits(max_connections=spec["connections"])
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        deadline = time.perf_counter() + spec["duration"]

        async def worker() -> None:
            while time.perf_counter() < deadline:
                await one(client, spec, time.perf_counter(), out)

        start = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for _ in range(spec["connections"]):
                nursery.start_soon(worker)
        out["elapsed"] = time.perf_counter() - start
    return out


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    result = trio.run(open_loop if spec["mode"] == "open" else closed_loop, spec)
    print(json.dumps(result))
