"""The send path's cost per request, counted rather than timed: a load-independent
companion of ``send.py``.

    .venv/bin/python contrib/bench/sendcost.py                   # callgrind, both sides
    .venv/bin/python contrib/bench/sendcost.py --tool cprofile   # where wad's time goes

The same two servers as ``send.py`` (wad's ``POST /api/messages/send`` and the
bare quart-trio endpoint), each driven with a fixed number of sends over
``--connections`` keep-alive connections after a warm-up. With ``callgrind``
(the default) each server runs under valgrind with its instrumentation off until
the warm-up is done, and the figure is the instructions it executed for the
measured sends, divided by their number: whatever else loads the machine, the
count is the same (within about 2 % run to run), so a change of a few per cent shows.
The ratio of the two counts estimates the throughput ratio of ``send.py`` on a
quiet machine. With ``cprofile`` only wad runs, under cProfile, and the top of
its profile is printed (cumulative and own time; the profiler's overhead
inflates small Python calls, so read it for where, not how much).
"""

from __future__ import annotations

import argparse
import glob
import json
import pstats
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import WadProcess, create_session, prepair, wait_connected  # noqa: E402
from send import BODY, DEVICE, start_bare  # noqa: E402

HERE = Path(__file__).resolve().parent


def request_bytes(host: str, headers: dict[str, str]) -> bytes:
    body = BODY.encode()
    lines = ["POST /api/messages/send HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _one_connection(address: tuple[str, int], raw: bytes, count: int, errors: list[str]) -> None:
    with socket.create_connection(address) as sock:
        buffered = b""
        for _ in range(count):
            sock.sendall(raw)
            while b"\r\n\r\n" not in buffered:
                buffered += sock.recv(65536)
            head, _, buffered = buffered.partition(b"\r\n\r\n")
            status = head.split(b" ", 2)[1]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(buffered) < length:
                buffered += sock.recv(65536)
            buffered = buffered[length:]
            if status != b"200":
                errors.append(status.decode())


def drive(url: str, headers: dict[str, str], total: int, connections: int) -> float:
    """``total`` sends over ``connections`` keep-alive connections; returns seconds."""
    host, port = url.removeprefix("http://").split(":")
    raw = request_bytes(f"{host}:{port}", headers)
    errors: list[str] = []
    threads = [
        threading.Thread(
            target=_one_connection,
            args=((host, int(port)), raw, total // connections, errors),
        )
        for _ in range(connections)
    ]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} sends failed: {sorted(set(errors))}")
    return time.perf_counter() - started


def callgrind(pid: int, instrument: bool) -> None:
    subprocess.run(
        ["callgrind_control", "-i", "on" if instrument else "off", str(pid)],
        check=True,
        capture_output=True,
    )


def counts(out_prefix: str) -> dict[str, int]:
    """The events of every dump of one run (the window's, and the exit's, ~0): Ir, the
    instructions, and with the cache simulation its misses; ``cycles`` estimated from
    them as kcachegrind does (a first-level miss 10, a last-level miss 100)."""
    total: dict[str, int] = {}
    for path in glob.glob(out_prefix + "*"):
        events: list[str] = []
        for line in Path(path).read_text(errors="replace").splitlines():
            if line.startswith("events:"):
                events = line.split()[1:]
            elif line.startswith("totals:"):
                for name, value in zip(events, line.split()[1:], strict=False):
                    total[name] = total.get(name, 0) + int(value)
    if "D1mr" in total:
        first = total["I1mr"] + total["D1mr"] + total["D1mw"]
        last = total["ILmr"] + total["DLmr"] + total["DLmw"]
        total["cycles"] = total["Ir"] + 10 * first + 100 * last
    return total


def measure_callgrind(args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    per_send: dict[str, float] = {}
    for name in args.only or ("bare", "wad"):
        out = str(workdir / f"callgrind.{name}")
        wrapper = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            *(["--cache-sim=yes"] if args.cache_sim else []),
            f"--callgrind-out-file={out}.%p",
        ]
        if name == "wad":
            state = workdir / "state"
            prepair(state, DEVICE)
            wad = WadProcess(state, log_path=workdir / "wad.log", wrapper=wrapper).start(600)
            try:
                key = create_session(wad.url, DEVICE)
                wait_connected(wad.url, {DEVICE}, timeout=600)
                headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
                per_send[name] = _window(wad.pid, wad.url, headers, args)
            finally:
                wad.stop()
        else:
            proc, url = start_bare(wrapper, timeout=600)
            try:
                per_send[name] = _window(proc.pid, url, {"Content-Type": "application/json"}, args)
            finally:
                proc.terminate()
                proc.wait()
        found = counts(out)
        if args.keep:  # for callgrind_annotate: which C functions (SQLite, json...) cost
            Path(args.keep).mkdir(parents=True, exist_ok=True)
            for path in glob.glob(out + "*"):
                shutil.copy(path, args.keep)
        per_send[name] = found["Ir"] / args.sends
        line = f"{name}: {per_send[name] / 1e6:.3f} M instructions a send"
        if "cycles" in found:
            per_send[name + "_cycles"] = found["cycles"] / args.sends
            misses = (found["DLmr"] + found["DLmw"] + found["ILmr"]) / args.sends
            cycles = per_send[name + "_cycles"] / 1e6
            line += f", {cycles:.3f} M cycles (est.), {misses:.0f} LL misses"
        print(line, flush=True)
    return per_send


def _window(pid: int, url: str, headers: dict[str, str], args: argparse.Namespace) -> float:
    drive(url, headers, args.warmup, args.connections)
    callgrind(pid, True)
    try:
        return drive(url, headers, args.sends, args.connections)
    finally:
        callgrind(pid, False)


def measure_cprofile(args: argparse.Namespace, workdir: Path) -> None:
    out = workdir / "wad.prof"
    state = workdir / "state"
    prepair(state, DEVICE)
    wad = WadProcess(
        state,
        log_path=workdir / "wad.log",
        python_args=["-m", "cProfile", "-o", str(out)],
    ).start(120)
    try:
        key = create_session(wad.url, DEVICE)
        wait_connected(wad.url, {DEVICE})
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
        drive(wad.url, headers, args.warmup, args.connections)
        drive(wad.url, headers, args.sends, args.connections)
    finally:
        wad.stop()
    stats = pstats.Stats(str(out))
    stats.sort_stats("cumulative").print_stats(args.top)
    stats.sort_stats("tottime").print_stats(args.top)
    if args.save:
        stats.dump_stats(args.save)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tool", choices=("callgrind", "cprofile"), default="callgrind")
    p.add_argument("--sends", type=int, default=1600, help="measured sends")
    p.add_argument("--warmup", type=int, default=320)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument(
        "--cache-sim", action="store_true", help="callgrind: simulate the caches (slower)"
    )
    p.add_argument("--only", action="append", choices=("bare", "wad"), help="measure only")
    p.add_argument("--keep", help="callgrind: copy its output files into this folder")
    p.add_argument("--top", type=int, default=60, help="cprofile: lines of each listing")
    p.add_argument("--save", help="cprofile: keep the profile in this file")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="wad-bench-sendcost-") as tmp:
        if args.tool == "cprofile":
            measure_cprofile(args, Path(tmp))
            return 0
        per_send = measure_callgrind(args, Path(tmp))
    figures = {f"{k}_M": round(v / 1e6, 3) for k, v in per_send.items()}
    if args.only:
        print(json.dumps(figures))
        return 0
    figures["ratio"] = round(per_send["bare"] / per_send["wad"], 3)
    if args.cache_sim:
        figures["ratio_cycles"] = round(per_send["bare_cycles"] / per_send["wad_cycles"], 3)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
