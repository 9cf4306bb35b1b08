"""Benchmark 3: the memory of one idle neonize worker against a bare neonize process.

    .venv/bin/python contrib/bench/neonize_footprint.py

- bare: a Python process that only imports neonize and creates a client
  (``NewClient`` on a fresh database), then waits;
- worker: ``wad serve`` with the neonize engine and one session; its worker
  process (``python -m wad.worker``) is measured while it waits on the network.
  WhatsApp's servers are reached through a local "proxy" that accepts and never
  answers, so the worker stays connecting (offline, neonize fails at once and the
  worker ends).

Proportional set size (PSS, ``/proc/PID/smaps_rollup``) of each, measured one at
a time (PSS splits shared pages between the processes that map them), after
``--settle`` seconds.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import ADMIN, WadProcess, children, machine, pss_bytes, rss_bytes  # noqa: E402

BARE = """
import signal, sys
import neonize
from neonize.client import NewClient
client = NewClient(sys.argv[1])
print("ready", flush=True)
signal.pause()
"""


def bare(workdir: Path, settle: float) -> tuple[int, int]:
    proc = subprocess.Popen([sys.executable, "-c", BARE, str(workdir / "bare.db")],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        while proc.stdout.readline().strip() != "ready":
            if proc.poll() is not None:
                raise RuntimeError("the bare neonize process failed")
        time.sleep(settle)  # let it settle: nothing to wait for but time
        return pss_bytes(proc.pid), rss_bytes(proc.pid)
    finally:
        proc.kill()
        proc.wait()


def worker(workdir: Path, settle: float) -> tuple[int, int]:
    hole = socket.socket()  # accepts connections (backlog) and never answers
    hole.bind(("127.0.0.1", 0))
    hole.listen(16)
    proxy = f"http://127.0.0.1:{hole.getsockname()[1]}"
    wad = WadProcess(workdir / "state", engine="neonize", log_path=workdir / "wad.log",
                     env={"WAD_WORKER_PROXY": proxy}).start()
    try:
        httpx.post(wad.url + "/api/sessions", headers=ADMIN, json={"deviceId": "footprint"},
                   timeout=30).raise_for_status()
        deadline = time.monotonic() + 30
        while not children(wad.pid):
            if time.monotonic() > deadline:
                raise RuntimeError("no worker process started")
            time.sleep(0.05)  # another process's children: polled
        time.sleep(settle)  # let it settle: nothing to wait for but time
        pids = children(wad.pid)
        if len(pids) != 1:
            raise RuntimeError(f"expected one worker, found {pids}")
        state = httpx.get(wad.url + "/api/sessions/footprint", headers=ADMIN,
                          timeout=10).json()["session"]["connectionState"]
        print(f"worker pid {pids[0]}, session {state}")
        return pss_bytes(pids[0]), rss_bytes(pids[0])
    finally:
        wad.stop()
        hole.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--settle", type=float, default=5.0)
    args = p.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="wad-bench-neonize-") as tmp:
        bare_pss, bare_rss = bare(Path(tmp), args.settle)
        print(f"bare neonize process: PSS {bare_pss / 2**20:.1f} MiB,"
              f" RSS {bare_rss / 2**20:.1f} MiB")
        worker_pss, worker_rss = worker(Path(tmp), args.settle)
        print(f"idle wad worker: PSS {worker_pss / 2**20:.1f} MiB,"
              f" RSS {worker_rss / 2**20:.1f} MiB")
    ratio = worker_pss / bare_pss
    print(f"neonize: worker PSS {worker_pss / 2**20:.1f} MiB, bare {bare_pss / 2**20:.1f} MiB,"
          f" ratio {ratio:.2f} (target <= 1.15)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
