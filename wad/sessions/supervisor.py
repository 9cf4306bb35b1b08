"""The supervisor: every session's task, under one nursery.

No failure of one session leaves it: a session contains its own (see
:meth:`Session.run`), and a task that still ends with an exception is logged and
counted here, never raised into the nursery that holds the others (and the daemon).

One daemon runs every stored session (restored at start). A node of a cluster
(``cluster`` set: :class:`wad.cluster.ClusterNode`) runs those the cluster gives it:
the supervisor is its :class:`wad.cluster.SessionRunner` (``start``, ``stop``,
``stop_all``); a new session is stored and the cluster woken to place it, here or on
another node.
"""

from __future__ import annotations

import functools
import logging
import shutil
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from wad.engines.link import Engine
from wad.errors import WadError
from wad.sessions.events import EventLog
from wad.sessions.faults import Faults
from wad.sessions.inbound import Inbound
from wad.sessions.session import Session, SessionTiming
from wad.sessions.states import RESTING, State
from wad.store import Queries, Store
from wad.store.clock import seconds_until

if TYPE_CHECKING:
    from wad.cluster import ClusterNode

log = logging.getLogger(__name__)


async def _no_options(device_id: str) -> Mapping[str, Any]:
    return {}


class Supervisor:
    def __init__(
        self,
        store: Store,
        engine: Engine,
        events: EventLog,
        sessions_dir: Path,
        timing: SessionTiming,
        max_sessions: int = 0,
        faults: Faults | None = None,
    ) -> None:
        self.store = store
        self.engine = engine
        self.events = events
        self.sessions_dir = sessions_dir
        self.timing = timing
        self.max_sessions = max_sessions  # sessions create() allows at most; 0: no cap
        self.faults = faults or Faults()
        self.inbound = Inbound()  # received messages by stage, every session's
        self.sessions: dict[str, Session] = {}
        #: A session's options for its engine (set by the services: its settings).
        self.link_options: Callable[[str], Awaitable[Mapping[str, Any]]] = _no_options
        self._nursery: trio.Nursery | None = None
        #: In a cluster, the node that decides what runs here (set before :meth:`run`).
        self.cluster: ClusterNode | None = None
        # Sessions stopped at once (stop_all) whose tasks are still ending: a new
        # start of one waits for its old task.
        self._ending: dict[str, Session] = {}
        self._fences = 0  # stop_all calls: a start under way across one starts nothing
        #: In a cluster, what to do before a session taken over here starts (settle
        #: the Idempotency-Keys its previous owner left open).
        self.before_start: Callable[[str], Awaitable[object]] | None = None
        #: In a cluster, what to do before a session handed over stops (let the
        #: requests under way on it finish: wad.http.forward).
        self.before_stop: Callable[[str], Awaitable[object]] | None = None
        self._settling: dict[str, Session] = {}  # out, waiting for before_stop

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Restore every stored session (in a cluster: none, the cluster starts those
        it gives this node), report ready, and hold them until cancelled."""
        self.sessions_dir.mkdir(parents=True, mode=0o700, exist_ok=True)
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            if self.cluster is None:
                rows = await self.store.read(lambda q: q.list_sessions())
                for row in rows:
                    self._start(row.device_id, row.connection_state, row.next_retry_at)
                log.info("restored %d session(s)", len(rows))
            task_status.started()
            await trio.sleep_forever()

    def _start(self, device_id: str, stored_state: str, retry_at: str | None = None) -> Session:
        assert self._nursery is not None, "supervisor not running"
        # A session that was mid-connection when the daemon stopped starts over;
        # resting ones (logged out, stopped, replaced) stay at rest, a banned one
        # waits for its ban to end.
        state = stored_state if stored_state in (*RESTING, State.BANNED) else "disconnected"
        ban_left = None
        if state == State.BANNED:
            ban_left = seconds_until(retry_at) if retry_at else 0.0
        session = Session(
            device_id,
            self.folder(device_id),
            self.engine,
            self.store,
            self.events,
            self.timing,
            state,
            self.faults,
            ban_left,
        )
        session.options = functools.partial(self._options, device_id)
        session.inbound = self.inbound
        self.sessions[device_id] = session
        self._nursery.start_soon(self._run, session, name=f"session {device_id}")
        return session

    async def _options(self, device_id: str) -> Mapping[str, Any]:
        return await self.link_options(device_id)

    async def _run(self, session: Session) -> None:
        try:
            await session.run()
        except Exception as exc:
            self.faults.record(
                session.device_id, "session", "the session's task ended; restart it", exc
            )
        finally:
            if self._ending.get(session.device_id) is session:
                del self._ending[session.device_id]

    def folder(self, device_id: str) -> Path:
        return self.sessions_dir / device_id

    def get(self, device_id: str) -> Session | None:
        return self.sessions.get(device_id)

    async def create(
        self, device_id: str, also: Callable[[Queries], object] | None = None
    ) -> Session | None:
        """Store and start a new session (with ``also``, a write committed with its row);
        None when the deviceId is taken. Beyond
        :attr:`max_sessions` it is refused (``too_many_sessions``); sessions restored at
        start are never refused, so lowering the cap stops only new ones."""
        full = self.max_sessions and len(self.sessions) >= self.max_sessions
        if full and device_id not in self.sessions:
            raise WadError(
                "too_many_sessions",
                f"This daemon already holds {len(self.sessions)} sessions, the most allowed"
                f" (max_sessions {self.max_sessions}): delete one, or raise WAD_MAX_SESSIONS",
            )

        if not await self._store_new(device_id, also):
            return None
        return self._start(device_id, "disconnected")

    async def _store_new(self, device_id: str, also: Callable[[Queries], object] | None) -> bool:
        """The session's row, with what ``also`` writes, in one transaction; False when
        the deviceId is taken (then ``also`` does not run)."""

        def store_it(q: Queries) -> bool:
            created = q.create_session(device_id)
            if created and also is not None:
                also(q)
            return created

        return await self.store.run(store_it)

    async def add(self, device_id: str, also: Callable[[Queries], object] | None = None) -> bool:
        """Store a new session and have it run (as :meth:`create`); False when the
        deviceId is taken. In a cluster the row is stored and the cluster woken: its
        placement starts the session on the least loaded node with room, maybe this
        one. There ``max_sessions`` is each node's capacity: a new session is refused
        when every live node that takes sessions is full (two creates at once may
        both pass; the second then waits, unowned, for room)."""
        if self.cluster is None:
            return await self.create(device_id, also) is not None

        room = await self.cluster.room()
        if room is not None and room <= 0:
            raise WadError(
                "too_many_sessions",
                "Every node of the cluster holds the most sessions it takes (max_sessions):"
                " delete one, raise WAD_MAX_SESSIONS on a node, or add a node",
            )
        if not await self._store_new(device_id, also):
            return False
        self.cluster.wake()
        return True

    async def delete(self, device_id: str) -> bool:
        """Stop a session and remove every trace of it, its whatsmeow file included.
        In a cluster, a session another node runs is stopped there: its owner finds
        its row gone at its next pass (``ClusterNode``) and stops it."""
        session = self.sessions.pop(device_id, None)
        if session is not None:
            session.stop()
        # Once begun, a delete runs to its end although its caller is cancelled (a
        # client gone, the daemon stopping): the session has left the supervisor, so
        # a row or a folder left behind would be a session no one runs or a stray.
        with trio.CancelScope(shield=True):
            if session is not None:
                await session.wait_stopped()
            deleted = await self.store.run(lambda q: q.delete_session(device_id))
            await self._remove_files(device_id)
            if self.cluster is not None:
                await self.cluster.forget(device_id)
        if deleted or session is not None:
            self.events.announce(device_id, "session.deleted", {"deviceId": device_id})
            return True
        return False

    async def _remove_files(self, device_id: str) -> None:
        folder = self.folder(device_id)
        forget = getattr(self.engine, "forget", None)
        if forget is not None:
            forget(folder)
        if folder.exists():
            await trio.to_thread.run_sync(shutil.rmtree, folder)

    # -- the cluster's SessionRunner ------------------------------------------------------

    async def start(self, device_id: str) -> None:
        """Run a session the cluster gave this node, as its row stands."""
        fences = self._fences
        ending = self._ending.get(device_id)
        if ending is not None:  # its previous run here is still ending
            await ending.wait_stopped()
        row = await self.store.read(lambda q: q.get_session(device_id))
        # A fence while this waited (the node no longer owns it), a row deleted
        # meanwhile, or already running: nothing to start.
        if fences != self._fences or row is None or device_id in self.sessions:
            return
        if self.before_start is not None:
            await self.before_start(device_id)
            if fences != self._fences or device_id in self.sessions:
                return
        self._start(row.device_id, row.connection_state, row.next_retry_at)

    async def stop(self, device_id: str) -> None:
        """Stop a session (a handover, or its row was deleted through another node:
        then its files here go too); returns once its engine connection is closed."""
        session = self.sessions.pop(device_id, None)
        if session is not None and self.before_stop is not None:
            self._settling[device_id] = session  # a fence meanwhile stops it too
            try:
                await self.before_stop(device_id)
            finally:
                del self._settling[device_id]
        session = session or self._ending.get(device_id)
        if session is not None:
            session.stop()
            with trio.CancelScope(shield=True):
                await session.wait_stopped()
        if await self.store.read(lambda q: q.get_session(device_id)) is None:
            await self._remove_files(device_id)

    def stop_all(self) -> None:
        """Fencing: every session's engine connection ends now, synchronously. The
        engine severs its links (``sever``: the simulator closes them, neonize kills
        its workers), then each session's task is cancelled (it ends at its next
        checkpoint, without another word to the engine)."""
        self._fences += 1
        sever = getattr(self.engine, "sever", None)
        if sever is not None:
            sever()
        for device_id, session in self.sessions.items():
            session.stop()
            self._ending[device_id] = session
        self.sessions.clear()
        for device_id, session in self._settling.items():
            session.stop()
            self._ending[device_id] = session

    def counts(self) -> dict[str, int]:
        return dict(Counter(s.state for s in self.sessions.values()))
