"""Benchmark 3: the memory of one idle neonize worker against a bare neonize process.

    .venv/bin/python contrib/bench/neonize_footprint.py

- bare: a Python process that only imports neonize and creates a client
  (``NewClient`` on a fresh database), then waits: the issue's yardstick;
- bare + dial: the same, and it also calls ``connect()`` (in a thread) through the
  proxy below. Not a target, a control: it tells neonize's own cost of dialing
  (Go code paged in, goroutines, buffers) from what wad adds;
- worker: ``wad serve`` with the neonize engine and one session; its worker
  process (``python -m wad.worker``) is measured while it waits on the network.

"Idle" is a worker with nothing to do as it really runs: a worker dials at once
when it starts, so idle means waiting on the network with no command and no event.
WhatsApp's servers are reached through a local "proxy" that accepts and never
answers, so the worker (and bare + dial) stay connecting; offline, neonize fails at
once and the worker ends.

Fairness: the three run with the same environment (this script's), each measured
alone (one at a time: PSS splits shared pages between the processes that map them),
all while the same ``wad serve`` daemon runs (it shares the interpreter's pages with
whichever is measured; it does not load neonize), each after ``--settle`` seconds.
wad's bytecode is compiled first, as an installed package has it: neonize's is, and
with an editable install and ``PYTHONDONTWRITEBYTECODE`` the worker would otherwise
compile three modules from source at every start (~1 MiB more heap).
"""

from __future__ import annotations

import argparse
import collections
import compileall
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import ADMIN, ROOT, WadProcess, children, machine, pss_bytes  # noqa: E402

BARE = """
import signal, sys, threading
import neonize
from neonize.client import NewClient, ProxySettings
client = NewClient(sys.argv[1])
if len(sys.argv) > 2:
    settings = ProxySettings(proxy_address=sys.argv[2])
    threading.Thread(target=client.connect, args=(settings,), daemon=True).start()
print("ready", flush=True)
signal.pause()
"""

Figures = dict[str, float]


def breakdown(pid: int) -> Figures:
    """PSS in MiB by kind of mapping (``/proc/PID/smaps``), the total and the threads."""
    kib: collections.Counter[str] = collections.Counter()
    kind = "other"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if "-" in head[0] and not head[0].endswith(":"):  # a mapping's first line
            name = head[5] if len(head) > 5 else ""
            kind = (
                "malloc heap"
                if name == "[heap]"
                else "anonymous"
                if not name
                else "neonize .so"
                if "neonize" in name
                else "other"
                if name.startswith("[")
                else "libraries"
            )
        elif head[0] == "Pss:":
            kib[kind] += int(head[1])
    figures = {k: v / 1024 for k, v in kib.items()}
    figures["PSS"] = pss_bytes(pid) / 2**20
    figures["threads"] = len(os.listdir(f"/proc/{pid}/task"))
    figures["sharers"] = neonize_sharers(pid)
    return figures


def neonize_sharers(pid: int) -> int:
    """How many other processes map neonize's library (they lower ``pid``'s PSS)."""
    maps = Path(f"/proc/{pid}/maps").read_text().splitlines()
    library = next(line.split()[-1] for line in maps if "/neonize/" in line).encode()
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != pid:
            with contextlib.suppress(OSError):  # gone, or not ours to read
                count += library in (entry / "maps").read_bytes()
    return count


def show(name: str, f: Figures) -> None:
    parts = ", ".join(
        f"{k} {f.get(k, 0):.1f}" for k in ("malloc heap", "anonymous", "neonize .so", "libraries")
    )
    print(f"{name}: PSS {f['PSS']:.1f} MiB ({parts}), {f['threads']:.0f} threads")
    if f["sharers"]:
        print(
            f"  warning: {f['sharers']:.0f} other processes map neonize's library now,"
            " which lowers this PSS: run again on a quiet machine"
        )


def bare(workdir: Path, name: str, settle: float, proxy: str | None) -> Figures:
    argv = [sys.executable, "-c", BARE, str(workdir / f"{name}.db")] + ([proxy] if proxy else [])
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        while proc.stdout.readline().strip() != "ready":
            if proc.poll() is not None:
                raise RuntimeError("the bare neonize process failed")
        time.sleep(settle)  # let it settle: nothing to wait for but time
        return breakdown(proc.pid)
    finally:
        proc.kill()
        proc.wait()


def worker(wad: WadProcess, settle: float) -> Figures:
    httpx.post(
        wad.url + "/api/sessions", headers=ADMIN, json={"deviceId": "footprint"}, timeout=30
    ).raise_for_status()
    deadline = time.monotonic() + 30
    while not children(wad.pid):
        if time.monotonic() > deadline:
            raise RuntimeError("no worker process started")
        time.sleep(0.05)  # another process's children: polled
    time.sleep(settle)  # let it settle: nothing to wait for but time
    pids = children(wad.pid)
    if len(pids) != 1:
        raise RuntimeError(f"expected one worker, found {pids}")
    state = httpx.get(wad.url + "/api/sessions/footprint", headers=ADMIN, timeout=10).json()[
        "session"
    ]["connectionState"]
    print(f"worker pid {pids[0]}, session {state}")
    return breakdown(pids[0])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--settle", type=float, default=5.0)
    args = p.parse_args()
    print(f"machine: {machine()}")
    compileall.compile_dir(ROOT / "wad", quiet=1)
    hole = socket.socket()  # accepts connections (backlog) and never answers
    hole.bind(("127.0.0.1", 0))
    hole.listen(16)
    proxy = f"http://127.0.0.1:{hole.getsockname()[1]}"
    with tempfile.TemporaryDirectory(prefix="wad-bench-neonize-") as tmp:
        wad = WadProcess(
            Path(tmp) / "state",
            engine="neonize",
            log_path=Path(tmp) / "wad.log",
            env={"WAD_WORKER_PROXY": proxy},
        ).start()
        try:
            plain = bare(Path(tmp), "bare", args.settle, None)
            show("bare neonize process", plain)
            dialing = bare(Path(tmp), "dialing", args.settle, proxy)
            show("bare neonize process, dialing", dialing)
            idle = worker(wad, args.settle)
            show("idle wad worker", idle)
        finally:
            wad.stop()
            hole.close()
    print(
        f"neonize: worker PSS {idle['PSS']:.1f} MiB, bare {plain['PSS']:.1f} MiB,"
        f" ratio {idle['PSS'] / plain['PSS']:.2f} (target <= 1.15);"
        f" bare dialing {dialing['PSS']:.1f} MiB, ratio {idle['PSS'] / dialing['PSS']:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
