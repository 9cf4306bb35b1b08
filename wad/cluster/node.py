"""``ClusterNode``: one node's part in the cluster, a task a nursery starts.

It keeps a lock connection (reconnecting after a loss), heartbeats through it every
second, fences when the heartbeat fails or is late, and, while its lease holds,
places free sessions, claims what is targeted at it and carries out the handovers
asked of it. What it runs it runs through the daemon's ``SessionRunner``.

Fencing comes first everywhere: whatever ends a lock connection (a failed or late
heartbeat, a database error, an exception, a cancellation) stops every session of
this node (``stop_all``) before the connection is given up and before anything
else happens on the trio thread, so no session runs here without its lock.

Two guards, either enough alone: another node cannot claim while this node's lock
connection lives (the advisory locks), nor before this node's lease ran out by the
server's clock (``seen_at``), which is ``lease / 2`` after this node fenced by its
own. A session could run twice only if the connection were lost AND the fence came
more than ``lease / 2`` late: the trio thread must not stall that long (the
daemon's loop-lag monitor watches it).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import psycopg
import trio

from . import ownership, placement, registry
from .connection import LockConnection
from .lease import Lease
from .runner import SessionRunner
from .schema import ensure_schema
from .timing import Timing

log = logging.getLogger(__name__)
T = TypeVar("T")


class LeaseLost(Exception):
    """The lock connection failed or the lease ran out; the node has fenced."""


class MoveRefused(Exception):
    """No live owner of that session, or the target is not a live, undrained node."""


@dataclass(frozen=True)
class NodeStatistics:
    node_id: str
    connected: bool
    draining: bool
    owned: int
    fences: int
    reconnects: int
    #: Seconds since the last successful heartbeat was sent (None: not connected).
    heartbeat_age: float | None


class ClusterNode:
    def __init__(
        self,
        database_url: str,
        node_id: str,
        runner: SessionRunner,
        *,
        node_url: str = "",
        timing: Timing | None = None,
        capacity: int = 0,
    ) -> None:
        self.database_url = database_url
        self.node_id = node_id
        self.node_url = node_url
        #: The most sessions placement gives this node (``max_sessions``; 0: no cap).
        self.capacity = capacity
        self.runner = runner
        self.timing = timing or Timing()
        # Tells this process's reconnects from another process given the same id.
        self._incarnation = secrets.token_hex(8)
        self._owned: set[str] = set()
        self._draining = False
        self._draining_written = False
        self._conn: LockConnection | None = None
        self._lease: Lease | None = None
        self._previous_backend: tuple[int, Any] | None = None
        self._fenced = True  # until a connection is registered
        self._started = False  # run() has reported ready
        self._connected = trio.Event()
        self._changed = trio.Event()
        self._wake = trio.Event()
        self._next_rebalance = -float("inf")
        # Rebalancing follows a join (another node it had not seen among the
        # eligible ones since its first decision) and ends once nothing is to move.
        self._known: set[str] | None = None
        self._rebalancing = False
        self._fences = 0
        self._reconnects = 0
        self._registrations = 0

    # -- what the daemon and wadctl see ------------------------------------------

    @property
    def owned(self) -> frozenset[str]:
        return frozenset(self._owned)

    def statistics(self) -> NodeStatistics:
        lease = self._lease
        return NodeStatistics(
            self.node_id,
            self._conn is not None,
            self._draining,
            len(self._owned),
            self._fences,
            self._reconnects,
            None if lease is None else trio.current_time() - lease.sent,
        )

    async def nodes(self) -> list[registry.NodeRow]:
        conn = await self._connection()
        return await conn.run(registry.list_nodes, self.timing.lease)

    async def move(self, device_id: str, node_id: str) -> None:
        """Ask the owner of ``device_id`` (any node) to hand it over to ``node_id``;
        the owner stops it, then the target claims it."""
        conn = await self._connection()
        if not await conn.run(ownership.request_move, device_id, node_id, self.timing.lease):
            raise MoveRefused(f"cannot move {device_id!r} to {node_id!r}")
        self._wake.set()

    async def drain(self) -> None:
        """Take no more sessions, hand every one over; returns once none runs here.
        Draining is marked first, so that the node does not claim back what it gives.
        With no other live node to take them, they stop and wait, unowned, for one."""
        self._draining = True
        self._draining_written = False
        self._wake.set()
        while self._owned or not self._draining_written:
            await self._wait_changed()

    async def room(self) -> int | None:
        """How many more sessions the live nodes that take sessions have room for
        (None: no bound, one of them has no cap; or no such node, and a new session
        waits for one)."""
        conn = await self._connection()
        return await conn.run(placement.room, self.timing.lease)

    def wake(self) -> None:
        """Look for work now (a session was added), not at the next pass."""
        self._wake.set()

    async def forget(self, device_id: str) -> None:
        """The daemon stopped and deleted a session this node ran: drop its row and
        lock (its ``sessions`` row is gone, so nothing places it again)."""
        conn = await self._connection()
        self._owned.discard(device_id)
        # Not self._db: a failure here is the caller's; a lost connection is the
        # heartbeat's to find (fencing from a caller's task would race the node's own).
        await conn.run(ownership.forget, device_id, self.node_id)
        self._notify()

    async def resume(self) -> None:
        """Take sessions again after a drain."""
        self._draining = False
        self._draining_written = False
        self._wake.set()

    # -- the task ----------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve as this node until cancelled; started once registered and beating."""
        await trio.to_thread.run_sync(self._ensure_schema)
        pause = self.timing.reconnect
        while True:
            try:
                conn = await LockConnection.open(
                    self.database_url, self.timing.lease, f"wad-cluster {self.node_id}"
                )
            except psycopg.OperationalError as exc:
                if not self._started:
                    raise
                log.warning("cluster: cannot reconnect the lock connection: %s", exc)
                await trio.sleep(pause)
                pause = min(pause * 2, self.timing.reconnect_cap)
                continue
            registered = self._registrations
            try:
                await self._serve(conn, task_status)
            except* (LeaseLost, psycopg.Error) as group:
                if not self._started:
                    raise
                log.warning("cluster: lock connection lost: %s", group.exceptions[0])
            finally:
                await self._close(conn)
            if self._registrations > registered:
                pause = self.timing.reconnect  # it served: a fresh loss, a short pause
            self._reconnects += 1
            await trio.sleep(pause)
            pause = min(pause * 2, self.timing.reconnect_cap)

    def _ensure_schema(self) -> None:
        with psycopg.connect(self.database_url, autocommit=True, connect_timeout=5) as conn:
            ensure_schema(conn)

    async def _serve(self, conn: LockConnection, task_status: trio.TaskStatus[None]) -> None:
        lease = Lease(self.timing.fence_after)
        if self._previous_backend is not None:
            await conn.run(registry.terminate_backend, self._previous_backend)
        self._previous_backend = conn.backend
        await conn.run(
            registry.register,
            self.node_id,
            self.node_url,
            self._incarnation,
            self.timing.lease,
            self._draining,
            self.capacity,
        )
        sent = trio.current_time()
        await conn.run(registry.heartbeat, self.node_id, self._incarnation, 0)
        lease.renew(sent)
        self._draining_written = True
        self._registrations += 1
        self._fenced = False
        self._conn = conn
        self._lease = lease
        self._connected.set()
        self._notify()
        if not self._started:
            self._started = True
            task_status.started()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._heartbeats, conn, lease)
            nursery.start_soon(self._watch, lease)
            nursery.start_soon(self._work, conn, lease)

    async def _close(self, conn: LockConnection) -> None:
        """Stop everything, then give the connection up. After a planned exit (the
        connection still good) the node first frees its sessions in the database, so
        the others need not wait for its lease."""
        healthy = not self._fenced
        self._stop_everything("leaving the cluster" if healthy else "fenced", fence=not healthy)
        if healthy:
            with trio.CancelScope(shield=True) as scope:
                scope.deadline = trio.current_time() + 1.0
                try:
                    await conn.run(registry.leave, self.node_id, self._incarnation)
                except psycopg.Error as exc:
                    log.warning("cluster: could not free this node's sessions: %s", exc)
        conn.abandon()

    # -- the lease ---------------------------------------------------------------

    def _stop_everything(self, reason: str, *, fence: bool = True) -> None:
        """Fencing: stop every session at once (sync: nothing interleaves)."""
        if not self._fenced:
            self._fenced = True
            self.runner.stop_all()
            if fence:
                self._fences += 1
                log.warning("cluster: fenced (%s): stopped %d sessions", reason, len(self._owned))
        self._owned.clear()
        self._conn = None
        self._lease = None
        if self._connected.is_set():
            self._connected = trio.Event()
        self._notify()

    def _lost(self, reason: str) -> NoReturn:
        self._stop_everything(reason)
        raise LeaseLost(reason)

    async def _heartbeats(self, conn: LockConnection, lease: Lease) -> None:
        while True:
            sent = trio.current_time()
            try:
                ok = await conn.run(
                    registry.heartbeat, self.node_id, self._incarnation, len(self._owned)
                )
            except psycopg.Error as exc:
                self._lost(f"heartbeat failed: {exc}")
            if not ok:
                self._lost("the node's row belongs to another incarnation")
            lease.renew(sent)
            await trio.sleep_until(sent + self.timing.heartbeat)

    async def _watch(self, lease: Lease) -> None:
        while True:
            if lease.expired(trio.current_time()):
                self._lost(f"no heartbeat succeeded for {self.timing.fence_after:.1f} s")
            await trio.sleep_until(lease.deadline)

    async def _db(self, conn: LockConnection, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await conn.run(fn, *args)
        except psycopg.Error as exc:
            self._lost(f"lock connection failed: {exc}")

    # -- the work ----------------------------------------------------------------

    async def _work(self, conn: LockConnection, lease: Lease) -> None:
        while True:
            if not await self._pass(conn, lease):
                with trio.move_on_after(self.timing.placement):
                    await self._wake.wait()
                # Replaced only after the wait: a wake-up during a pass is not lost.
                self._wake = trio.Event()

    async def _pass(self, conn: LockConnection, lease: Lease) -> bool:
        """One round: decide, claim, hand over. True if it did something (then the
        next round follows at once)."""
        me, draining = self.node_id, self._draining
        if not self._draining_written:
            await self._db(conn, registry.set_draining, me, self._incarnation, draining)
            self._draining_written = True
            self._notify()
        rebalance = (
            self._rebalancing and not draining and trio.current_time() >= self._next_rebalance
        )
        decision = await self._db(
            conn, placement.decide, me, self.timing.lease, rebalance, draining
        )
        self._follow_joins(decision, rebalance)
        busy = decision.placed > 0
        if not draining:
            for device in await self._db(conn, ownership.targeted, me):
                if await self._db(conn, ownership.claim, device, me):
                    busy = True
                    await self._start(device, lease)
        for device, target in await self._db(conn, ownership.move_requests, me):
            busy = True
            await self._hand_over(conn, device, target)
        if self._owned:
            for device in await self._db(conn, ownership.deleted, me):
                busy = True
                await self._drop_deleted(conn, device)
        for device in decision.nowhere:  # draining, and no node has room for these
            if device in self._owned:
                await self._hand_over(conn, device, None)
        if decision.moved is not None:
            # Counted from the end of the handover: at most one per `rebalance` s.
            self._next_rebalance = trio.current_time() + self.timing.rebalance
        return busy

    def _follow_joins(self, decision: placement.Decision, rebalanced: bool) -> None:
        if not decision.decided:
            return
        if rebalanced and decision.moved is None:
            self._rebalancing = False  # settled
        seen = set(decision.loads)
        if self._known is not None and seen - self._known - {self.node_id}:
            self._rebalancing = True
        self._known = seen

    async def _start(self, device: str, lease: Lease) -> None:
        if lease.expired(trio.current_time()):
            self._lost("the lease ran out while claiming")
        self._owned.add(device)
        self._notify()
        try:
            await self.runner.start(device)
        except Exception:
            # The session's own failures are the daemon's to handle; it stays here.
            log.exception("cluster: starting %s failed", device)

    async def _hand_over(self, conn: LockConnection, device: str, target: str | None) -> None:
        if device in self._owned:
            await self.runner.stop(device)
        await self._db(conn, ownership.release, device, self.node_id, target)
        # Only now: a drain returns once nothing is owned, and this one was until here.
        self._owned.discard(device)
        log.info("cluster: handed %s over to %s", device, target or "placement")
        self._notify()

    async def _drop_deleted(self, conn: LockConnection, device: str) -> None:
        """A session of this node was deleted through another: stop it, drop its row."""
        if device in self._owned:
            self._owned.discard(device)
            await self.runner.stop(device)
        await self._db(conn, ownership.forget, device, self.node_id)
        log.info("cluster: %s was deleted; stopped it", device)
        self._notify()

    # -- waiting -----------------------------------------------------------------

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def _wait_changed(self) -> None:
        await self._changed.wait()

    async def _connection(self) -> LockConnection:
        while self._conn is None:
            await self._connected.wait()
        return self._conn
