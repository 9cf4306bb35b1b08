"""Benchmark 2: many simulated sessions in one daemon.

    .venv/bin/python contrib/bench/scale.py --sessions 1000

The sessions are created once (already paired with the simulated network, so
they connect without a QR), the daemon is stopped, then started again and timed
from its start to every session connected (restored from the store, as after a
reboot). Then: its resident memory (VmRSS), its CPU use while idle over
``--idle`` seconds, and the event-loop lag from its ``/metrics``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import (  # noqa: E402
    ADMIN,
    WadProcess,
    cpu_seconds,
    machine,
    metric,
    prepair,
    rss_bytes,
    scrape,
)


def create_all(url: str, ids: list[str]) -> None:
    with httpx.Client(base_url=url, headers=ADMIN, timeout=60) as client:
        for device_id in ids:
            client.post("/api/sessions", json={"deviceId": device_id}).raise_for_status()


def wait_all_connected(url: str, count: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if metric(url, "wad_sessions", state="connected") == count:
            return
        time.sleep(0.05)  # the state of another process: polled
    raise RuntimeError(f"not all {count} sessions connected within {timeout:g} s")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sessions", type=int, default=1000)
    p.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU measure")
    args = p.parse_args()
    print(f"machine: {machine()}")
    ids = [f"s{i:05d}" for i in range(args.sessions)]
    with tempfile.TemporaryDirectory(prefix="wad-bench-scale-") as tmp:
        state = Path(tmp) / "state"
        for device_id in ids:
            prepair(state, device_id, phone=f"1555{int(device_id[1:]):07d}")
        wad = WadProcess(state, log_path=Path(tmp) / "wad.log").start()
        try:
            create_all(wad.url, ids)
            wait_all_connected(wad.url, args.sessions)
        finally:
            wad.stop()
        started = time.monotonic()
        wad.start(timeout=300)
        try:
            healthy = time.monotonic() - started
            wait_all_connected(wad.url, args.sessions)
            connected = time.monotonic() - started
            rss = rss_bytes(wad.pid)
            cpu0, t0 = cpu_seconds(wad.pid), time.monotonic()
            time.sleep(args.idle)  # measuring idle CPU: nothing to wait for but time
            idle_cpu = (cpu_seconds(wad.pid) - cpu0) / (time.monotonic() - t0) * 100
            text = scrape(wad.url)  # one scrape: figures that agree with each other
            lag = metric(wad.url, "wad_event_loop_lag_seconds", text) or 0.0
            lag_sum = metric(wad.url, "wad_event_loop_lag_distribution_seconds_sum", text) or 0.0
            lag_n = metric(wad.url, "wad_event_loop_lag_distribution_seconds_count", text) or 1
            lag_over_10ms = lag_n - (
                metric(wad.url, "wad_event_loop_lag_distribution_seconds_bucket", text, le="0.01")
                or 0.0
            )
        finally:
            wad.stop()
    print(f"start to /healthz answering: {healthy:.2f} s")
    print(f"start to all {args.sessions} connected: {connected:.2f} s")
    print(f"daemon RSS with {args.sessions} connected sessions: {rss / 2**20:.0f} MiB")
    print(f"idle CPU over {args.idle:g} s: {idle_cpu:.1f} % of one core")
    print(
        f"event-loop lag: latest {lag * 1000:.2f} ms, mean {lag_sum / lag_n * 1000:.2f} ms"
        f" over {lag_n:.0f} samples since start, {lag_over_10ms:.0f} of them over 10 ms"
    )
    print(
        f"scale: {args.sessions} sessions connected in {connected:.2f} s (target < 10),"
        f" RSS {rss / 2**20:.0f} MiB (target < 300), idle CPU {idle_cpu:.1f} %,"
        f" loop lag mean {lag_sum / lag_n * 1000:.2f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
