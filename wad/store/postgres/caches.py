"""The PostgreSQL store's caches (key owner, settings), kept only while they can be
invalidated: other nodes write the same tables, and each commit that changes them
is announced on the ``wad_caches`` channel (a trigger's NOTIFY, :mod:`.notify`).

The queries use a cache as the embedded store's do (:mod:`wad.store.keys`,
:mod:`wad.store.settings`): ``get``; on a miss, read the table; then set what was
read. Two rules make that sound here, where the read runs in a worker thread while
the listener's thread invalidates:

- A value read before an invalidation is never kept: a miss notes the generation in
  the calling thread, and the set that follows keeps the value only if no
  invalidation came in between (a read of the old row, then the other node's commit
  and its notification, then the set: dropped). A set without a miss before it in
  the same thread keeps nothing.
- Nothing is cached while no listener listens (at the start, and from when the
  listener's connection is found dead until it listens again, when everything is
  dropped once more): a notification missed then would leave a value stale for ever.

So a key revoked (or a setting changed) on another node stops being served from this
node's cache when the notification arrives: the commit's own latency plus a few
milliseconds on a healthy network. A node cut from the server (its listener's
connection silent, not closed) keeps serving its cache until the connection is found
dead: at once when the server ends it, within the TCP keepalive bound of
:mod:`.connect` (~11 s) when the network or the server's host vanishes; it cannot
write anything meanwhile (every write goes to the server).
"""

from __future__ import annotations

import threading
from typing import Any, TypeVar

from wad.store.base import Caches

K = TypeVar("K")
V = TypeVar("V")


class CacheState:
    """What the caches of one store share: whether they may keep anything, and a
    generation that every invalidation moves on."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.generation = 0
        self.live = False
        self.local = threading.local()  # the generation a miss in this thread saw
        self.caches: list[Guarded[Any, Any]] = []

    def invalidate(self, *, live: bool | None = None) -> None:
        """Drop every value (and start or stop caching, given ``live``)."""
        with self.lock:
            self.generation += 1
            if live is not None:
                self.live = live
            for cache in self.caches:
                dict.clear(cache)


class Guarded(dict[K, V]):
    """A dict that keeps a value only under the rules of the module's docstring."""

    def __init__(self, state: CacheState) -> None:
        super().__init__()
        self._state = state
        state.caches.append(self)

    def get(self, key: K, default: Any = None) -> Any:
        state = self._state
        value = super().get(key) if state.live else None
        if value is None:
            state.local.generation = state.generation
            return default
        return value

    def __setitem__(self, key: K, value: V) -> None:
        state = self._state
        seen = getattr(state.local, "generation", None)
        state.local.generation = None
        with state.lock:
            if state.live and seen == state.generation:
                super().__setitem__(key, value)

    # The queries' own drops (a key set or revoked here, before its commit) also
    # move the generation on: a read in another thread that began before them keeps
    # nothing.
    def clear(self) -> None:
        self._state.invalidate()

    def pop(self, key: K, default: Any = None) -> Any:
        value = dict.get(self, key, default)
        self._state.invalidate()
        return value


class LiveCaches(Caches):
    """The store's :class:`Caches`, each a :class:`Guarded` dict over one state."""

    def __init__(self) -> None:
        self.state = CacheState()
        super().__init__(key_owner=Guarded(self.state), settings=Guarded(self.state))
