"""Benchmark 4: incoming messages fanned out through storage to a webhook receiver.

    .venv/bin/python contrib/bench/fanout.py --rate 2000 --duration 10

The daemon runs in this process (the real one: store, events, the webhook
plugin and its delivery worker, hypercorn), with the simulator's virtual phones
writing to ``--sessions`` sessions at ``--rate`` messages a second in total (each
message's text carries the time it was written). Every session has a webhook to
a local receiver in a process of its own, which notes each message's delay from
written to received. Prints the rate achieved and the p50/p99 delays.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import ADMIN_TOKEN, machine, percentile  # noqa: E402

from wad.config import load
from wad.engines.simulator.engine import SimulatorEngine
from wad.runtime import serve as wad_daemon

HERE = Path(__file__).resolve().parent


async def run(args: argparse.Namespace, workdir: Path) -> tuple[list[float], int, float, float]:
    receiver = subprocess.Popen(  # noqa: ASYNC220 (started before the daemon's loop is busy)
        [sys.executable, str(HERE / "receiver.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert receiver.stdout is not None and receiver.stdin is not None
    hook_url = receiver.stdout.readline().strip()
    config = load(
        {
            "state_dir": str(workdir / "state"),
            "http": "127.0.0.1:0",
            "engine": "simulator",
            "control_socket": str(workdir / "wad.sock"),
            "log_level": "WARNING",
        },
        env={"WAD_ADMIN_TOKEN": ADMIN_TOKEN, "HOME": str(workdir)},
    )
    config.plugin_settings = {"webhooks": {"allow_networks": "127.0.0.0/8"}}
    engine = SimulatorEngine()
    sent = 0
    async with trio.open_nursery() as nursery:
        daemon = await nursery.start(wad_daemon.serve, config, engine)
        hooks = daemon.plugins.get_plugin("webhooks").webhooks
        ids = [f"f{i:03d}" for i in range(args.sessions)]
        connected = trio.Event()
        with daemon.events.subscribe() as events:
            for device_id in ids:
                await daemon.services.sessions.create(device_id)
            waiting = set(ids)
            async for event in events:
                if event.type == "session.status" and event.payload["state"] == "waiting_qr":
                    engine.link(event.device_id).scan("15550001111")
                if event.type == "session.status" and event.payload["state"] == "connected":
                    waiting.discard(event.device_id)
                    if not waiting:
                        connected.set()
                        break
        for device_id in ids:
            await hooks.create(device_id, hook_url, ["message"])
        links = [engine.link(d) for d in ids]
        start = trio.current_time()
        total = int(args.rate * args.duration)
        while sent < total:
            # Open loop: every message whose time has come is written now, then the
            # generator sleeps until the next one is due (as a network hands over what
            # arrived meanwhile when its reader was busy).
            await trio.sleep_until(start + sent / args.rate)
            due = min(total, int((trio.current_time() - start) * args.rate) + 1)
            while sent < due:
                links[sent % len(links)].deliver("15550002222", f"t={time.time():.6f}")
                sent += 1
        elapsed = trio.current_time() - start
        worker = daemon.plugins.get_plugin("webhooks").worker
        deadline = trio.current_time() + 60
        while trio.current_time() < deadline and worker.sent < total:
            await worker.wait_recorded()  # the backlog drains
        drained = trio.current_time() - start
        daemon.stop()
    receiver.stdin.close()
    delays = json.loads(receiver.stdout.read().strip().splitlines()[-1])
    receiver.wait()
    return delays, sent, elapsed, drained


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=2000.0, help="incoming messages/s offered")
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--sessions", type=int, default=20)
    args = p.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="wad-bench-fanout-") as tmp:
        delays, sent, elapsed, drained = trio.run(run, args, Path(tmp))
    ms = [d * 1000 for d in delays]
    print(f"written: {sent} messages in {elapsed:.2f} s ({sent / elapsed:.0f}/s offered)")
    print(
        f"received by the webhook receiver: {len(ms)}, the last {drained:.2f} s after"
        f" the first was written ({len(ms) / drained:.0f}/s delivered)"
    )
    print(
        f"delay written -> received: p50 {percentile(ms, 50):.1f} ms,"
        f" p99 {percentile(ms, 99):.1f} ms, max {max(ms):.1f} ms"
    )
    print(
        f"fanout: {sent / elapsed:.0f} incoming msgs/s offered, {len(ms) / drained:.0f}/s"
        f" delivered, {len(ms)}/{sent} delivered,"
        f" p50 {percentile(ms, 50):.1f} ms p99 {percentile(ms, 99):.1f} ms (target p99 < 250"
        f" at 2000/s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
