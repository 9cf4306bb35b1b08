"""Benchmark 1: the send path through the whole stack against a bare quart-trio endpoint.

    .venv/bin/python contrib/bench/send.py

Both on hypercorn in a process of their own, loaded the same way: wad's
``POST /api/messages/send`` (authentication, the rate-limit plugin with its
limits lifted, the store, the simulator engine, events) and a bare quart-trio
endpoint that parses the same JSON and answers the same shape.

- throughput: wrk (``apt-get install wrk``), ``--connections`` connections for
  ``--duration`` seconds, else a closed-loop Python generator; ``--rounds``
  rounds alternate bare and wad, and the ratio is the median of the rounds'
  (one run of each swung with what else the machine did: 0.46 to 0.67);
- latency: an open-loop generator at a fixed ``--rate`` (200 requests/s), p50
  and p99 counted from when each request was due.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import (  # noqa: E402
    WadProcess,
    create_session,
    free_port,
    machine,
    percentile,
    prepair,
    wait_connected,
)

HERE = Path(__file__).resolve().parent
DEVICE = "bench"
BODY = json.dumps({"deviceId": DEVICE, "number": "15550002222", "message": "hello"})


def start_bare(
    wrapper: list[str] | None = None, timeout: float = 10.0
) -> tuple[subprocess.Popen[bytes], str]:
    """The bare app in a process of its own (under ``wrapper``, e.g. valgrind)."""
    port = free_port()
    proc = subprocess.Popen(
        [*(wrapper or ()), sys.executable, str(HERE / "bare_app.py"), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.02)  # the port of another process
    raise RuntimeError("the bare app did not start")


def wrk(
    url: str, headers: dict[str, str], connections: int, duration: float, workdir: Path
) -> float:
    script = workdir / "post.lua"
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(BODY)}"]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    script.write_text("\n".join(lines) + "\n")
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration:g}s",
            "-s",
            str(script),
            url + "/api/messages/send",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad:
        raise RuntimeError(f"{bad[1]} requests failed:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]


def loadgen(spec: dict) -> dict:
    out = subprocess.run(
        [sys.executable, str(HERE / "loadgen.py"), json.dumps(spec)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = json.loads(out)
    if set(result["status"]) - {"200"} or result["errors"]:
        raise RuntimeError(f"requests failed: {result['status']} {result['errors']}")
    return result


def throughput(url: str, headers: dict[str, str], args: argparse.Namespace, workdir: Path) -> float:
    if not args.python_generator and shutil.which("wrk"):
        return wrk(url, headers, args.connections, args.duration, workdir)
    result = loadgen(
        {
            "mode": "closed",
            "url": url + "/api/messages/send",
            "body": BODY,
            "headers": headers,
            "connections": args.connections,
            "duration": args.duration,
        }
    )
    return len(result["latencies"]) / result["elapsed"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=5.0, help="seconds per throughput run")
    p.add_argument("--rounds", type=int, default=5, help="throughput rounds, bare then wad")
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--rate", type=float, default=200.0, help="offered requests/s")
    p.add_argument("--latency-duration", type=float, default=15.0)
    p.add_argument("--python-generator", action="store_true", help="do not use wrk")
    args = p.parse_args()
    print(f"machine: {machine()}")
    generator = "wrk" if shutil.which("wrk") and not args.python_generator else "python"
    with tempfile.TemporaryDirectory(prefix="wad-bench-send-") as tmp:
        workdir = Path(tmp)
        state = workdir / "state"
        prepair(state, DEVICE)
        wad = WadProcess(state, log_path=workdir / "wad.log").start()
        bare, bare_url = start_bare()
        try:
            key = create_session(wad.url, DEVICE)
            wait_connected(wad.url, {DEVICE})
            targets = {
                "bare": (bare_url, {"Content-Type": "application/json"}),
                "wad": (
                    wad.url,
                    {"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
                ),
            }
            # Rounds alternate bare and wad, so that what else the machine does
            # weighs on both alike; each round gives a ratio, the median is shown.
            runs: dict[str, list[float]] = {name: [] for name in targets}
            ratios = []
            for round_ in range(1, args.rounds + 1):
                for name, (url, headers) in targets.items():
                    runs[name].append(throughput(url, headers, args, workdir))
                ratios.append(runs["wad"][-1] / runs["bare"][-1])
                print(
                    f"round {round_}: bare {runs['bare'][-1]:.0f}, wad {runs['wad'][-1]:.0f}"
                    f" requests/s ({generator}, {args.connections} connections,"
                    f" {args.duration:g} s each): ratio {ratios[-1]:.2f}"
                )
            rps = {name: statistics.median(values) for name, values in runs.items()}
            lat = {}
            for name, (url, headers) in targets.items():
                result = loadgen(
                    {
                        "mode": "open",
                        "url": url + "/api/messages/send",
                        "body": BODY,
                        "headers": headers,
                        "rate": args.rate,
                        "duration": args.latency_duration,
                    }
                )
                ms = [x * 1000 for x in result["latencies"]]
                lat[name] = (percentile(ms, 50), percentile(ms, 99), max(ms))
                print(
                    f"{name} at {args.rate:g} requests/s: p50 {lat[name][0]:.2f} ms,"
                    f" p99 {lat[name][1]:.2f} ms, max {lat[name][2]:.2f} ms"
                    f" ({len(ms)} requests)"
                )
        finally:
            wad.stop()
            bare.terminate()
            bare.wait()
    ratio = statistics.median(ratios)
    each = ", ".join(f"{r:.2f}" for r in ratios)
    print(
        f"send: wad {rps['wad']:.0f} req/s, bare {rps['bare']:.0f} req/s (medians),"
        f" ratio {ratio:.2f} (median of {len(ratios)} rounds: {each})"
        f" (target >= 0.5); at {args.rate:g} req/s wad p50 {lat['wad'][0]:.2f} ms"
        f" p99 {lat['wad'][1]:.2f} ms (target < 20), bare p50 {lat['bare'][0]:.2f} ms"
        f" p99 {lat['bare'][1]:.2f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
