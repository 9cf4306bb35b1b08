"""Metrics in the Prometheus text format (version 0.0.4), with no extra dependency.

Two kinds of figures:

- instruments the daemon updates as things happen (:class:`Counter`,
  :class:`Histogram`): request latency by route, event-loop lag, events stored;
- figures read at scrape time from the objects that already hold them
  (sessions by state, messages in the store, the process's memory and CPU
  from ``/proc``); plugins add theirs through the ``wad_metrics`` hook.

The store is counted on a fresh read-only connection in a worker thread, so a
scrape of a large database never holds up the event loop (WAL lets it read
beside the daemon's own connection).
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import apsw

from wad.store import StoredEvent
from wad.store.base import Db

Labels = tuple[tuple[str, str], ...]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Labels, extra: tuple[str, str] | None = None) -> str:
    items = [*labels, extra] if extra else list(labels)
    if not items:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in items) + "}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def family(name: str, kind: str, help_: str, samples: Iterable[tuple[Labels, float]]) -> str:
    """One metric family: HELP, TYPE, then one line per sample."""
    lines = [f"# HELP {name} {help_}", f"# TYPE {name} {kind}"]
    lines += [f"{name}{_labels(labels)} {_number(value)}" for labels, value in samples]
    return "\n".join(lines)


class Counter:
    """A value that only goes up, per label set."""

    def __init__(self, name: str, help_: str) -> None:
        self.name, self.help = name, help_
        self.values: dict[Labels, float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        self.values[key] = self.values.get(key, 0.0) + amount

    def render(self) -> str:
        return family(self.name, "counter", self.help, sorted(self.values.items()))


class Histogram:
    """Observations counted into cumulative buckets, per label set."""

    def __init__(self, name: str, help_: str, buckets: Sequence[float]) -> None:
        self.name, self.help = name, help_
        self.buckets = tuple(buckets)
        # per label set: [count per bucket (not cumulative) + overflow, sum]
        self.series: dict[Labels, tuple[list[int], list[float]]] = {}

    def observe(self, value: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = ([0] * (len(self.buckets) + 1), [0.0])
        counts, total = series
        # The first bucket whose bound is >= value (len(buckets): the overflow).
        counts[bisect.bisect_left(self.buckets, value)] += 1
        total[0] += value

    def count(self, **labels: str) -> int:
        series = self.series.get(tuple(sorted(labels.items())))
        return sum(series[0]) if series else 0

    def render(self) -> str:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        for labels, (counts, total) in sorted(self.series.items()):
            running = 0
            for bound, n in zip((*self.buckets, math.inf), counts, strict=True):
                running += n
                lines.append(
                    f"{self.name}_bucket{_labels(labels, ('le', _number(bound)))} {running}"
                )
            lines.append(f"{self.name}_sum{_labels(labels)} {_number(total[0])}")
            lines.append(f"{self.name}_count{_labels(labels)} {running}")
        return "\n".join(lines)


class Metrics:
    """The instruments the daemon updates while it runs."""

    def __init__(self) -> None:
        self.started = time.time()
        self.requests = Histogram(
            "wad_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route pattern and status.",
            LATENCY_BUCKETS,
        )
        self.loop_lag_last = 0.0
        self.loop_lag = Histogram(
            "wad_event_loop_lag_distribution_seconds",
            "How late the event loop woke a timer: each sample of the lag monitor.",
            LAG_BUCKETS,
        )
        self.events = Counter("wad_events_total", "Session events stored, by type.")
        self.reconnects = Counter(
            "wad_session_reconnects_total",
            "Connections that ended, by cause: failed, dropped, unresponsive (wad's liveness"
            " probe got no answer), degraded (keep-alives kept failing) — each followed by a"
            " reconnect with backoff — and replaced (another client took over: conflict),"
            " banned (a reconnect once the ban ends), outdated (rests until restarted).",
        )

    def observe_event(self, event: StoredEvent) -> None:
        """An event listener (after commit): count events and reconnect causes."""
        self.events.inc(type=event.type)
        if event.type == "session.status":
            state, cause = event.payload.get("state"), event.payload.get("cause")
            if state == "banned":
                self.reconnects.inc(cause="banned")
            elif cause is not None:
                self.reconnects.inc(cause=str(cause))
            elif state == "failed":
                self.reconnects.inc(cause="failed")
            elif state == "disconnected":
                self.reconnects.inc(cause="dropped")

    def observe_lag(self, seconds: float) -> None:
        self.loop_lag_last = seconds
        self.loop_lag.observe(seconds)

    def render_live(self) -> list[str]:
        return [
            family(
                "wad_event_loop_lag_seconds",
                "gauge",
                "The event loop's lag at the latest sample of the lag monitor.",
                [((), self.loop_lag_last)],
            ),
            self.loop_lag.render(),
            self.requests.render(),
            self.events.render(),
            self.reconnects.render(),
        ]


# -- figures read at scrape time ---------------------------------------------------------


def read_only(db_path: Path) -> apsw.Connection:
    """A read-only connection of its own to ``wad.db``, for counting at scrape time in a
    worker thread (WAL lets it read beside the daemon's connection). Close it after."""
    db = apsw.Connection(str(db_path), flags=apsw.SQLITE_OPEN_READONLY)
    db.setbusytimeout(2000)
    return db


def count_messages(db_path: Path) -> dict[tuple[str, str], int]:
    """Messages by direction and status: run it in a worker thread."""
    db = read_only(db_path)
    try:
        return message_counts(db)
    finally:
        db.close()


def message_counts(db: Db) -> dict[tuple[str, str], int]:
    """Messages by direction and status, on any store's handle (PostgreSQL's store
    counts through its own ``read``: it has no file to open)."""
    rows = db.execute("SELECT direction, status, count(*) FROM messages GROUP BY 1, 2")
    return {(d, s): n for d, s, n in rows}


def render_messages(messages: dict[tuple[str, str], int]) -> str:
    return family(
        "wad_messages",
        "gauge",
        "Messages in the store, by direction (in, out) and status.",
        [((("direction", d), ("status", s)), n) for (d, s), n in sorted(messages.items())],
    )


def render_sessions(counts: dict[str, int], states: Sequence[str]) -> str:
    return family(
        "wad_sessions",
        "gauge",
        "Sessions by connection state.",
        [((("state", s),), counts.get(s, 0)) for s in states],
    )


def render_numbers(name: str, help_: str, kind: str, label: str, values: Any) -> str:
    """A family from what a ``statistics()`` returns (a dict or a dataclass): each
    numeric value one labelled sample."""
    if dataclasses.is_dataclass(values) and not isinstance(values, type):
        values = dataclasses.asdict(values)
    samples = [
        (((label, k),), float(v))
        for k, v in sorted(values.items())
        if isinstance(v, int | float) and not isinstance(v, bool)
    ]
    return family(name, kind, help_, samples)


def render_process(started: float) -> str:
    """Memory, CPU, open files and start time of this process, from ``/proc``."""
    parts = [
        family(
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since the Unix epoch.",
            [((), started)],
        )
    ]
    try:
        status = Path("/proc/self/status").read_text()
        stat = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return "\n\n".join(parts)
    rss = next(
        (int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:")),
        0,
    )
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(stat[11]) + int(stat[12])) / ticks  # utime + stime
    parts += [
        family(
            "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", [((), rss)]
        ),
        family(
            "process_cpu_seconds_total", "counter", "User and system CPU time spent.", [((), cpu)]
        ),
        family(
            "process_open_fds",
            "gauge",
            "Open file descriptors.",
            [((), len(os.listdir("/proc/self/fd")))],
        ),
    ]
    return "\n\n".join(parts)


def render(parts: Iterable[str]) -> str:
    return "\n\n".join(p for p in parts if p) + "\n"
