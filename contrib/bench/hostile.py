"""Benchmark: a normal client's latency while hostile clients attack the daemon.

    .venv/bin/python contrib/bench/hostile.py [--bad-tokens 6000 --slowloris 300]

A ``wad serve`` with the simulator; a normal client asks ``GET
/api/sessions/{id}`` in a loop before, during and after an attack run by
``hostile_attacker.py`` in a process of its own (slowloris connections, bodies far
over the limit, declared and streamed, and a flood of wrong tokens from another
loopback address, which wad locks out). Prints the medians and 99th percentiles
of each phase and the ratio of the attacked median to the median around it. The
target is a ratio under 2; on a machine busy with other work the ratio measures
that work too, so run it on a quiet one (``uptime`` is printed with the figures).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import ADMIN, ADMIN_TOKEN, WadProcess, create_session, machine, percentile  # noqa: E402

HERE = Path(__file__).resolve().parent


def ask(client: httpx.Client) -> float:
    start = time.perf_counter()
    r = client.get("/api/sessions/normal", headers=ADMIN)
    r.raise_for_status()
    return time.perf_counter() - start


def figures(name: str, values: list[float]) -> str:
    return (
        f"{name:>7}: {len(values):5d} requests, median {statistics.median(values) * 1000:6.2f} ms,"
        f" p99 {percentile(values, 99) * 1000:6.2f} ms"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--slowloris", type=int, default=300)
    p.add_argument("--bad-tokens", type=int, default=6000)
    p.add_argument("--bad-token-rate", type=float, default=200)
    p.add_argument("--oversize", type=int, default=150)
    p.add_argument("--oversize-rate", type=float, default=10)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wad = WadProcess(Path(tmp) / "state", env={"WAD_LOG_LEVEL": "WARNING"}).start()
        try:
            create_session(wad.url, "normal")
            with httpx.Client(base_url=wad.url, timeout=30) as client:
                for _ in range(50):
                    ask(client)  # warm up
                before = [ask(client) for _ in range(1000)]
                attacker = subprocess.Popen(
                    [
                        sys.executable,
                        str(HERE / "hostile_attacker.py"),
                        wad.url,
                        "--slowloris",
                        str(args.slowloris),
                        "--bad-tokens",
                        str(args.bad_tokens),
                        "--bad-token-rate",
                        str(args.bad_token_rate),
                        "--oversize",
                        str(args.oversize),
                        "--oversize-rate",
                        str(args.oversize_rate),
                        "--source",
                        "127.0.0.2",
                    ],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                    env={**os.environ, "WAD_ATTACK_TOKEN": ADMIN_TOKEN},
                )
                assert attacker.stdout is not None
                if attacker.stdout.readline().strip() != "ready":
                    raise SystemExit("the attacker did not start")
                started = time.perf_counter()
                during = []
                while attacker.poll() is None:
                    during.append(ask(client))
                lasted = time.perf_counter() - started
                counts = json.loads(attacker.stdout.read().strip().splitlines()[-1])
                after = [ask(client) for _ in range(1000)]
        finally:
            wad.stop()
    around = statistics.median(before + after)
    print(machine())
    print("load average:", " ".join(Path("/proc/loadavg").read_text().split()[:3]))
    print(f"attack: {lasted:.1f} s, {counts}")
    for name, values in (("before", before), ("during", during), ("after", after)):
        print(figures(name, values))
    print(f"ratio of medians, during / around: {statistics.median(during) / around:.2f}")


if __name__ == "__main__":
    main()
