"""A bounded pool of connections, each used by one worker thread at a time.

psycopg 3 is synchronous here (its asyncio side does not run on trio): a call takes
a worker thread through ``trio.to_thread.run_sync`` and, in it, an idle connection.
The pool's :class:`trio.CapacityLimiter` admits as many calls at once as the pool
has connections, so a thread never waits for a connection, and connections are
opened lazily, up to that number. A call is not abandoned when its task is
cancelled: the transaction it began runs to its commit or rollback first.

A connection that broke (the server restarted, the network failed) is closed, not
given back; one found broken when taken is closed and another taken or opened.
"""

import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

import trio

C = TypeVar("C")
R = TypeVar("R")


class Pool(Generic[C]):
    def __init__(
        self,
        open_: Callable[[], C],
        size: int,
        *,
        broken: Callable[[C], bool],
        close: Callable[[C], None],
    ) -> None:
        if size < 1:
            raise ValueError("a pool needs at least one connection")
        self.size = size
        self.limiter = trio.CapacityLimiter(size)
        self._open = open_
        self._broken = broken
        self._close = close
        self._idle: deque[C] = deque()  # append and pop are atomic across threads
        self._lock = threading.Lock()  # for opened and closed, read in threads
        self.opened = 0
        self.closed = False

    async def call(self, fn: Callable[[C], R]) -> R:
        """``fn(connection)`` in a worker thread, on a connection of its own."""
        return await trio.to_thread.run_sync(self._call, fn, limiter=self.limiter)

    def _call(self, fn: Callable[[C], R]) -> R:
        with self.borrow() as conn:
            return fn(conn)

    @contextmanager
    def borrow(self) -> Iterator[C]:
        """An idle connection (or a new one) for the calling thread, given back after.

        Outside :meth:`call` (the store's migrations at start) nothing bounds the
        number: such a borrow may open one connection beyond the pool's size."""
        if self.closed:
            raise RuntimeError("the store is closed")
        conn = self._take()
        try:
            yield conn
        finally:
            self._give_back(conn)

    def _take(self) -> C:
        while True:
            try:
                conn = self._idle.pop()
            except IndexError:
                break
            if not self._broken(conn):
                return conn
            with self._lock:
                self.opened -= 1
            self._close(conn)
        conn = self._open()
        with self._lock:
            self.opened += 1
        return conn

    def _give_back(self, conn: C) -> None:
        with self._lock:
            keep = not self.closed and not self._broken(conn) and len(self._idle) < self.size
            if not keep:
                self.opened -= 1
        if keep:
            self._idle.append(conn)
        else:
            self._close(conn)

    def close(self) -> None:
        """Close the idle connections; those in use close when their call ends."""
        with self._lock:
            self.closed = True
        while self._idle:
            conn = self._idle.pop()
            with self._lock:
                self.opened -= 1
            self._close(conn)
