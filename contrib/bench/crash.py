"""Crash test: kill -9 the daemon again and again under steady send load, and check that no
accepted message is lost and none is delivered twice.

    .venv/bin/python contrib/bench/crash.py --kills 25
    .venv-test/bin/python contrib/bench/crash.py --cluster --kills 3

``--cluster``: three nodes on one throwaway PostgreSQL server, one killed at a time
(contrib/bench/crash_cluster.py says how). Without it:

A real ``wad serve --engine simulator`` process; client tasks send texts as fast as
it answers: half through ``POST /api/messages/send`` (the seed's), half through
``POST /api/sessions/{id}/messages`` with an ``Idempotency-Key`` each, which they
retry, key and body unchanged, after a kill until it is answered. At random moments the daemon
gets SIGKILL; the store is checked (``PRAGMA integrity_check``) while it is down,
then it is started again on the same state folder and the load goes on. At the
end, from the store and from what the simulated phones received on disk
(``simulator-sent.jsonl``):

- accepted = every send the client got an HTTP 200 for: each must be in the
  phone's log exactly once, and ``sent`` in the store;
- sends in flight at a kill (no answer reached the client) may or may not
  have been delivered, but never twice;
- nothing is left ``pending``: a send accepted into the store and cut off by a
  kill (or by its client going away) goes again at the next connect, with its
  fixed message id; after the load, the daemon is started once more for them;
- every key cut off by a kill resolves on retry (no key answers "still being sent"
  for ever), and no keyed text reaches the phone twice.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import apsw
import httpx
import trio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import (  # noqa: E402
    WadProcess,
    create_session,
    machine,
    prepair,
    wait_connected,
)

from wad.engines.simulator.engine import SENT_LOG

DEVICE = "crash"
PHONE = "15550009999"


@dataclass
class Report:
    kills: int = 0
    accepted: dict[str, str] = field(default_factory=dict)  # message id -> text
    unanswered: int = 0  # in flight at a kill: no answer reached the client
    refused: Counter[int] = field(default_factory=Counter)  # other HTTP answers by status
    integrity: list[str] = field(default_factory=list)  # PRAGMA integrity_check after each
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    not_sent_in_store: list[str] = field(default_factory=list)
    pending_left: int = 0
    delivered_unanswered: int = 0  # delivered although the client never got the answer
    keyed: int = 0  # keyed sends answered 200
    retried: int = 0  # keyed sends cut off by a kill and retried with their key
    resolved: int = 0  # ... of which got a definite answer on a retry (200 or an error)
    stuck: list[str] = field(default_factory=list)  # keys still "being sent" at the end
    texts_twice: list[str] = field(default_factory=list)  # keyed texts received twice

    @property
    def ok(self) -> bool:
        return (
            not self.lost
            and not self.duplicated
            and not self.not_sent_in_store
            and self.pending_left == 0
            and not self.stuck
            and not self.texts_twice
            and all(r == "ok" for r in self.integrity)
        )

    def summary(self) -> str:
        return (
            f"crash: {self.kills} kills, {len(self.accepted)} accepted, "
            f"{len(self.lost)} lost, {len(self.duplicated)} duplicated, "
            f"{self.unanswered} unanswered ({self.delivered_unanswered} of them delivered), "
            f"{self.pending_left} pending left, keyed {self.keyed} ({self.retried} retried"
            f" after a kill, {self.resolved} resolved, {len(self.stuck)} stuck,"
            f" {len(self.texts_twice)} twice), integrity "
            f"{'ok' if all(r == 'ok' for r in self.integrity) else 'FAILED'} "
            f"x{len(self.integrity)} -> {'PASS' if self.ok else 'FAIL'}"
        )


def integrity(db_path: Path) -> str:
    db = apsw.Connection(str(db_path))
    try:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        db.close()


def pending(db_path: Path) -> int:
    db = apsw.Connection(str(db_path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return db.execute(
            "SELECT count(*) FROM messages WHERE direction = 'out' AND status = 'pending'"
        ).fetchone()[0]
    finally:
        db.close()


def wait_no_pending(db_path: Path, timeout: float = 20.0) -> None:
    """Poll the store of the running daemon (WAL lets another process read) until every
    pending send was resent."""
    deadline = time.monotonic() + timeout
    while pending(db_path) and time.monotonic() < deadline:
        time.sleep(0.05)  # another process's work: polled


class Load:
    """Client tasks that send while the daemon is up and wait while it is down."""

    def __init__(self, report: Report, key: str) -> None:
        self.report = report
        self.key = key
        self.url = ""
        self.up = trio.Event()
        self.count = 0
        self.progress = trio.Event()  # set (and replaced) at each accepted send

    def accept(self, message_id: str, text: str, keyed: bool) -> None:
        self.report.accepted[message_id] = text
        self.report.keyed += keyed
        self.progress.set()
        self.progress = trio.Event()

    async def until(self, accepted: int, keyed: int) -> None:
        """Wait until this many sends, and keyed sends, were accepted in all."""
        while len(self.report.accepted) < accepted or self.report.keyed < keyed:
            await self.progress.wait()

    def daemon_up(self, url: str) -> None:
        self.url = url
        self.up.set()

    def daemon_down(self) -> None:
        self.up = trio.Event()

    async def sender(self, index: int) -> None:
        """Even senders use the seed's send; odd ones a keyed send, retried after a kill."""
        headers = {"Authorization": f"Bearer {self.key}"}
        keyed = index % 2 == 1
        async with httpx.AsyncClient(timeout=30) as client:
            while True:
                await self.up.wait()
                self.count += 1
                text = f"crash {index}-{self.count}"
                if keyed:
                    await self.keyed_send(client, headers, text)
                    continue
                try:
                    r = await client.post(
                        self.url + "/api/messages/send",
                        headers=headers,
                        json={"deviceId": DEVICE, "number": PHONE, "message": text},
                    )
                except httpx.TransportError:
                    self.report.unanswered += 1
                    await trio.sleep(0.01)  # the daemon is gone; wait for the next one
                    continue
                if r.status_code == 200 and r.json().get("status") == "sent":
                    self.accept(r.json()["id"], text, keyed=False)
                else:
                    self.report.refused[r.status_code] += 1

    async def keyed_send(
        self, client: httpx.AsyncClient, headers: dict[str, str], text: str
    ) -> None:
        key = f"key-{text}"
        keyed = {**headers, "Idempotency-Key": key}
        body = {"to": PHONE, "type": "text", "text": text}
        cut = False
        busy_since: float | None = None
        while True:
            await self.up.wait()
            try:
                r = await client.post(
                    f"{self.url}/api/sessions/{DEVICE}/messages", headers=keyed, json=body
                )
            except httpx.TransportError:
                if not cut:
                    self.report.unanswered += 1
                    self.report.retried += 1
                cut = True
                await trio.sleep(0.01)  # the daemon is gone; retry on the next one
                continue
            if r.status_code == 409 and "still being sent" in r.text:
                # Cut short with its message pending: it goes at the next connect.
                busy_since = busy_since or trio.current_time()
                if trio.current_time() - busy_since > 30:
                    self.report.stuck.append(key)
                    return
                await trio.sleep(0.05)
                continue
            if r.status_code == 200 and r.json().get("status") == "sent":
                self.accept(r.json()["id"], text, keyed=True)
            else:
                self.report.refused[r.status_code] += 1
            self.report.resolved += cut  # a definite answer for a key cut off by a kill
            return


async def run(
    kills: int,
    workdir: Path,
    senders: int = 8,
    seed: int | None = None,
    say=print,
    per_kill: tuple[int, int] = (0, 0),
) -> Report:
    """``per_kill``: sends and keyed sends accepted (at least) between two kills, so
    that the load is as large on a busy machine as on a quiet one (the kills come
    later instead)."""
    rng = random.Random(seed)
    report = Report()
    state = workdir / "state"
    prepair(state, DEVICE)
    daemon = WadProcess(state, log_path=workdir / "wad.log").start()
    key = create_session(daemon.url, DEVICE)
    await trio.to_thread.run_sync(wait_connected, daemon.url, {DEVICE})
    load = Load(report, key)
    try:
        async with trio.open_nursery() as nursery:
            for i in range(senders):
                nursery.start_soon(load.sender, i)
            load.daemon_up(daemon.url)
            for n in range(kills):
                await trio.sleep(rng.uniform(0.2, 1.2))
                await load.until(per_kill[0] * (n + 1), per_kill[1] * (n + 1))
                load.daemon_down()
                await trio.to_thread.run_sync(daemon.kill)
                report.kills += 1
                report.integrity.append(await trio.to_thread.run_sync(integrity, state / "wad.db"))
                await trio.to_thread.run_sync(daemon.start)
                await trio.to_thread.run_sync(wait_connected, daemon.url, {DEVICE})
                say(
                    f"kill {n + 1}/{kills}: integrity {report.integrity[-1]},"
                    f" {len(report.accepted)} accepted so far"
                )
                load.daemon_up(daemon.url)
            await trio.sleep(1.0)  # some load after the last restart
            nursery.cancel_scope.cancel()
        # Sends cut off when the clients went away stay pending until the next connect:
        # one more start lets them go, then a graceful stop.
        await trio.to_thread.run_sync(daemon.stop)
        await trio.to_thread.run_sync(daemon.start)
        await trio.to_thread.run_sync(wait_connected, daemon.url, {DEVICE})
        await trio.to_thread.run_sync(wait_no_pending, state / "wad.db")
    finally:
        await trio.to_thread.run_sync(daemon.stop)
    report.integrity.append(integrity(state / "wad.db"))
    check(report, state)
    return report


def check(report: Report, state: Path) -> None:
    received: Counter[str] = Counter()
    texts: Counter[str] = Counter()
    log = state / "sessions" / DEVICE / SENT_LOG
    for line in log.read_text().splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue  # torn by a kill mid-write: never acknowledged
        if item.get("command") == "send":
            received[item["id"]] += 1
            texts[str(item.get("text"))] += 1
    db = apsw.Connection(str(state / "wad.db"), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        status = dict(
            db.execute(
                "SELECT id, status FROM messages WHERE device_id = ? AND direction = 'out'",
                (DEVICE,),
            ).fetchall()
        )
    finally:
        db.close()
    report.duplicated = sorted(i for i, n in received.items() if n > 1)
    report.lost = sorted(i for i in report.accepted if received[i] == 0)
    report.not_sent_in_store = sorted(i for i in report.accepted if status.get(i) != "sent")
    report.pending_left = sum(1 for s in status.values() if s == "pending")
    report.delivered_unanswered = sum(1 for i in received if i not in report.accepted)
    # Every text is sent once by its client: twice on the phone is a duplicate, even
    # under two message ids (a keyed retry that sent anew what had gone out).
    report.texts_twice = sorted(t for t, n in texts.items() if n > 1)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kills", type=int, default=25)
    p.add_argument("--senders", type=int, default=8, help="concurrent client tasks")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--keep", action="store_true", help="keep the state folder")
    p.add_argument(
        "--cluster", action="store_true", help="three nodes on PostgreSQL, one killed at a time"
    )
    args = p.parse_args()
    print(f"machine: {machine()}")
    if args.cluster:
        return cluster_main(args.kills, args.senders if args.senders != 8 else 6, args.seed)
    with tempfile.TemporaryDirectory(prefix="wad-crash-") as tmp:
        report = trio.run(run, args.kills, Path(tmp), args.senders, args.seed)
        if args.keep:
            kept = Path(tempfile.mkdtemp(prefix="wad-crash-kept-"))
            for item in Path(tmp).iterdir():
                item.rename(kept / item.name)
            print(f"state kept in {kept}")
    for name in ("lost", "duplicated", "not_sent_in_store", "stuck", "texts_twice"):
        if getattr(report, name):
            print(f"{name}: {getattr(report, name)[:20]}")
    print(f"other answers: {dict(report.refused)}")
    print(report.summary())
    return 0 if report.ok else 1


def cluster_main(kills: int, senders: int, seed: int | None) -> int:
    import crash_cluster  # the test kit and psycopg: only this mode needs them

    with tempfile.TemporaryDirectory(prefix="wad-crash-cluster-") as tmp:
        report = trio.run(crash_cluster.run, kills, Path(tmp), senders, seed)
    assert report.found is not None and report.load is not None
    for name in ("lost", "duplicated", "not_sent", "violations"):
        if getattr(report.found, name):
            print(f"{name}: {getattr(report.found, name)[:20]}")
    print(f"other answers: {report.load.tally.non_2xx()}")
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
