"""Send load on several daemons at once, and what it cost them in CPU time (for
``cluster.py``).

A *plan* says, for each daemon's URL, which sessions its load generator sends for:
wrk (one a daemon, ``-t1``, the connections shared out) cycles through them, each
request ``POST /api/sessions/{id}/messages`` with that session's key; without wrk,
``loadgen.py``, which takes one target, sends for the first.

CPU time is read from ``/proc`` before and after: the daemons' processes and a
process tree (PostgreSQL's postmaster and its backends). On a machine other work
shares, requests/s fall with the load; the CPU milliseconds a send costs move much
less, so they are what such a machine can compare.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import statistics
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from benchlib import children, cpu_seconds

HERE = Path(__file__).resolve().parent
BODY = json.dumps({"to": "15550002222", "type": "text", "text": "hello"})

#: For each daemon's URL, the (device id, API key) pairs sent for through it.
Plan = list[tuple[str, list[tuple[str, str]]]]


@dataclass
class Figures:
    """The runs of one kind of load."""

    rps: list[float] = field(default_factory=list)
    #: CPU milliseconds a send, each run: the daemons', PostgreSQL's.
    wad_ms: list[float] = field(default_factory=list)
    pg_ms: list[float] = field(default_factory=list)
    #: Sends not answered 200, by status (or the generator's error).
    refused: Counter[str] = field(default_factory=Counter)

    @property
    def median(self) -> float:
        return statistics.median(self.rps)

    @property
    def cpu_ms(self) -> float:
        return statistics.median(self.wad_ms) + statistics.median(self.pg_ms)

    def describe(self) -> str:
        runs = ", ".join(f"{x:.0f}" for x in self.rps)
        wad, pg = statistics.median(self.wad_ms), statistics.median(self.pg_ms)
        return (
            f"{self.median:.0f} req/s (median of {len(self.rps)}: {runs});"
            f" CPU a send {wad + pg:.2f} ms (wad {wad:.2f}, PostgreSQL {pg:.2f});"
            f" not answered 200: {sum(self.refused.values())}"
            + (f" ({dict(self.refused)})" if self.refused else "")
        )


def wrk_script(path: Path, targets: list[tuple[str, str]], offset: int) -> None:
    entries = ",\n".join(
        f"  {{{json.dumps(f'/api/sessions/{d}/messages')}, {json.dumps(k)}}}" for d, k in targets
    )
    path.write_text(
        f"local targets = {{\n{entries}\n}}\nlocal i = {offset}\n"
        f"local body = {json.dumps(BODY)}\n"
        "request = function()\n"
        "  i = i % #targets + 1\n"
        "  local t = targets[i]\n"
        '  return wrk.format("POST", t[1], {["Content-Type"] = "application/json",'
        ' ["Authorization"] = "Bearer " .. t[2]}, body)\n'
        "end\n"
        # What a refused send was answered, on stderr (one line each).
        "response = function(status, headers, body)\n"
        "  if status ~= 200 then\n"
        '    io.stderr:write(status .. " " .. body:gsub("\\n", " ") .. "\\n")\n'
        "  end\n"
        "end\n"
    )


def shares(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def throughput(
    plan: Plan, args: argparse.Namespace, workdir: Path, refused: Counter[str]
) -> tuple[float, int]:
    """Requests/s answered by all the daemons together, loaded at once; and how many
    requests that was. Answers other than 200 are counted in ``refused``."""
    procs = []
    connections = shares(args.connections, len(plan))
    for i, ((url, targets), conns) in enumerate(zip(plan, connections, strict=True)):
        if args.generator == "wrk":
            script = workdir / f"send{i}.lua"
            wrk_script(script, targets, i * len(targets) // len(plan))
            command = ["wrk", "-t1", f"-c{conns}", f"-d{args.duration:g}s", "-s"]
            command += [str(script), url]
        else:
            device, key = targets[0]
            spec = {
                "mode": "closed",
                "url": f"{url}/api/sessions/{device}/messages",
                "body": BODY,
                "headers": {"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
                "connections": conns,
                "duration": args.duration,
            }
            command = [sys.executable, str(HERE / "loadgen.py"), json.dumps(spec)]
        procs.append(
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
    total, count = 0.0, 0
    for proc in procs:
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"the load generator failed: {out} {err}")
        if args.generator == "wrk":
            # Reported, not fatal: a refused send is a figure of its own.
            for line in err.splitlines():
                status, _, body = line.partition(" ")
                refused[status] += 1
                if refused[status] <= 3:
                    print(f"  refused: {status} {body[:300]}", flush=True)
            total += float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
            count += int(re.search(r"(\d+) requests in", out)[1])  # type: ignore[index]
        else:
            result = json.loads(out)
            for status, n in result["status"].items():
                if status != "200":
                    refused[status] += n
            for error, n in result["errors"].items():
                refused[error] += n
            total += len(result["latencies"]) / result["elapsed"]
            count += len(result["latencies"])
    return total, count


# -- CPU time ---------------------------------------------------------------------------


def tree(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        with contextlib.suppress(FileNotFoundError):  # it exited meanwhile
            todo += children(p)
    return found


def cpu_of(pids: list[int]) -> dict[int, float]:
    seconds = {}
    for pid in pids:
        with contextlib.suppress(FileNotFoundError):
            seconds[pid] = cpu_seconds(pid)
    return seconds


def spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two readings (a process started since counts whole)."""
    return sum(t - before.get(pid, 0.0) for pid, t in after.items())


def measure(
    label: str,
    plan: Plan,
    daemons: list[int],
    postmaster: int | None,
    args: argparse.Namespace,
    workdir: Path,
) -> Figures:
    """``args.runs`` runs of the plan, each with the CPU time it cost the daemons
    (their pids) and PostgreSQL (the postmaster's tree, if any)."""
    figures = Figures()
    for run in range(args.runs):
        pg = tree(postmaster) if postmaster is not None else []
        wad0, pg0 = cpu_of(daemons), cpu_of(pg)
        rps, count = throughput(plan, args, workdir, figures.refused)
        wad1 = cpu_of(daemons)
        pg1 = cpu_of(tree(postmaster)) if postmaster is not None else {}
        figures.rps.append(rps)
        figures.wad_ms.append(1000 * spent(wad0, wad1) / count)
        figures.pg_ms.append(1000 * spent(pg0, pg1) / count)
        print(
            f"{label}: run {run + 1}: {rps:.0f} requests/s ({args.generator},"
            f" {args.connections} connections, {args.duration:g} s); CPU a send:"
            f" wad {figures.wad_ms[-1]:.2f} ms, PostgreSQL {figures.pg_ms[-1]:.2f} ms",
            flush=True,
        )
    return figures
