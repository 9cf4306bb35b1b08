"""Benchmark: memory per neonize session with several sessions per worker process.

    .venv/bin/python contrib/bench/density.py [--sessions 96] [--per-worker 1,4,16]

For each ``sessions_per_worker``, a real ``wad serve`` (neonize engine) gets
``--sessions`` new sessions. Every worker dials WhatsApp through a local "proxy" that
accepts and never answers (``WAD_WORKER_PROXY``), so each client stays in its dial, as
offline as it gets while still alive: Go client, whatsmeow store, threads. Then, after
``--settle`` seconds:

- the total PSS of the worker processes, divided by the number of sessions;
- the daemon's own PSS; the threads of the workers (all of them) and of the daemon;
- the time from the first ``POST /api/sessions`` until the proxy has seen every
  session's dial ("all connecting").

PSS splits shared pages between the processes mapping them, so the workers' total is
what they cost together. A connected account adds whatsmeow's own state (keys, app
state, caches), which this cannot measure offline: see the README's estimate.
Run it on a quiet machine; it starts up to ``--sessions`` processes at once.
"""

from __future__ import annotations

import argparse
import compileall
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import ADMIN, ROOT, WadProcess, children, machine, metric, pss_bytes  # noqa: E402

MIB = 2**20


class SilentProxy:
    """Accepts TCP connections, counts them, and never answers."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1024)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.connections = 0
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.held.append(conn)
            self.connections += 1

    def drop_all(self) -> None:
        for conn in self.held:
            conn.close()
        self.held.clear()


def threads(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/task").iterdir()))


def run(per_worker: int, sessions: int, settle: float, proxy: SilentProxy) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="wad-bench-density-") as tmp:
        wad = WadProcess(
            Path(tmp) / "state",
            engine="neonize",
            log_path=Path(tmp) / "wad.log",
            env={"WAD_WORKER_PROXY": proxy.url, "WAD_SESSIONS_PER_WORKER": str(per_worker)},
        ).start()
        try:
            before = proxy.connections
            started = time.monotonic()
            with httpx.Client(base_url=wad.url, headers=ADMIN, timeout=30) as http:
                for i in range(sessions):
                    http.post("/api/sessions", json={"deviceId": f"d{i}"}).raise_for_status()
            deadline = started + 600
            while proxy.connections - before < sessions:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"only {proxy.connections - before} dials in 600 s")
                time.sleep(0.05)  # another process's dials: polled
            connecting = time.monotonic() - started
            time.sleep(settle)  # let them settle: nothing to wait for but time
            with httpx.Client(base_url=wad.url, headers=ADMIN, timeout=30) as http:
                states = {
                    s["connectionState"] for s in http.get("/api/sessions").json()["sessions"]
                }
                crashes = metric(wad.url, "wad_engine", figure="worker_crashes")
                running = metric(wad.url, "wad_engine", figure="workers_running")
            workers = children(wad.pid)
            expected = -(-sessions // per_worker)
            if states != {"connecting"} or crashes or running != expected != len(workers):
                log = (Path(tmp) / "wad.log").read_text()[-3000:]
                raise RuntimeError(
                    f"not a steady state: sessions {states}, {crashes} worker crashes,"
                    f" {running} workers running of {expected}:\n{log}"
                )
            figures = {
                "per_worker": per_worker,
                "workers": len(workers),
                "worker_pss": sum(pss_bytes(p) for p in workers) / MIB,
                "daemon_pss": pss_bytes(wad.pid) / MIB,
                "worker_threads": sum(threads(p) for p in workers),
                "daemon_threads": threads(wad.pid),
                "connecting_s": connecting,
            }
            figures["per_session"] = figures["worker_pss"] / sessions
            return figures
        finally:
            wad.stop()
            proxy.drop_all()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sessions", type=int, default=96)
    p.add_argument("--per-worker", default="1,4,16")
    p.add_argument("--settle", type=float, default=10.0)
    args = p.parse_args()
    print(f"machine: {machine()}")
    compileall.compile_dir(ROOT / "wad", quiet=1)  # as an installed package has it
    proxy = SilentProxy()
    print(
        "| sessions per worker | workers | MiB per session (workers' PSS / N) | daemon PSS"
        " (MiB) | threads (workers, daemon) | until all connecting (s) |"
    )
    print("|---|---|---|---|---|---|")
    for per_worker in (int(v) for v in args.per_worker.split(",")):
        f = run(per_worker, args.sessions, args.settle, proxy)
        print(
            f"| {per_worker} | {f['workers']:.0f} | {f['per_session']:.1f} |"
            f" {f['daemon_pss']:.1f} | {f['worker_threads']:.0f}, {f['daemon_threads']:.0f} |"
            f" {f['connecting_s']:.1f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
