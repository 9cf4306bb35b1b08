"""The one door into neonize's Go library: a readers-writer discipline, so that several
clients can live in one worker process.

neonize's Go glue (``goneonize/main.go``, checked against the 0.5.2 binary in
``/tmp/research/neonize/REPORT.md``) keeps its clients in three plain Go maps,
``clients``, ``eventChannel`` and ``StopSignal``. Go kills the whole process when a map
write overlaps any other access to the same map; concurrent reads are safe. The writers
are ``Neonize`` (the blocking connect) and ``Stop``/``StopAll``; every other export only
reads ``clients``. So every call into the library holds this lock *shared*, and the
writers hold it *exclusively* -- enforced here, once, by replacing each function object
of neonize's ctypes library (``neonize._binder.gocode``) with a wrapper
(:func:`install`). neonize's Python code, its ``weakref`` finalizer (``Stop`` on garbage
collection) included, reaches Go only through those attributes, so nothing bypasses it.

A connect is not one short write: ``Neonize`` only returns when the client is stopped,
and it touches the maps at its start and again just before its first event. It holds:

1. *exclusive* from the call until its writes are done. The last write,
   ``clients[uuid] = client``, comes right after the client's Go logger ("Client") is
   made and before anything logs through it, so the first line of that logger (whatsmeow's
   ``Dialing ...``, at debug level: the door asks Go for debug lines and drops those the
   worker's level does not want), any callback, or the return ends this phase.
2. *nothing* while dialing: a dial that hangs (no network, a silent proxy) blocks no
   other session.
3. *shared* from the start of the socket's read pump (whatsmeow's ``Frame websocket read
   pump starting``, logged before the pump reads the server's first frame; the door holds
   that goroutine until it has the lock, so the handshake cannot finish before) until the
   device-info callback (type 0) that follows ``CallbackFunction``'s map reads, or the
   return. A new login releases it at its first QR code and takes it again in the
   login-status callback that ends the QR phase, before Go goes on to those reads.
   A QR phase that ends without success (codes ran out, pairing error, or the client was
   stopped) would leave Go polling forever in ``FetchMe`` -- or dereferencing a deleted
   client and panicking: that callback never returns to Go (its thread is parked).

``Stop`` of a client whose connect is still dialing or handshaking waits, holding
nothing, until that connect settles (returns, shows a QR code, or reaches type 0):
whatsmeow's ``Disconnect`` would wait for the dial anyway, and doing that inside the
exclusive hold would freeze every session of the worker.

Calls for a client the door does not know as live (not yet written into ``clients``, or
stopped) are refused with :class:`GoRefused` (a ``NeonizeError``): many exports
dereference the client unchecked, and a nil pointer panics the process.

Other process-wide state: whatsmeow's ``store.DeviceProps`` is merged by every
``Neonize`` (inside phase 1) and read during pairing handshakes (phase 3): excluded too.
neonize's global ``neonize.events.event`` would stop every client's ``connect()`` when
set: wad never sets it. Log lines come through each connect's own callback, so the door
knows whose they are and logs them with the session (:data:`SESSION_ATTR`).
"""

from __future__ import annotations

import ctypes
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from neonize.exc import NeonizeError
from neonize.proto.Neonize_pb2 import LogEntry

log = logging.getLogger(__name__)

#: Exports that touch none of the maps (checked in the binary's map-use table): frees
#: called from inside other calls' ctypes ``errcheck``, and the version probe.
UNLOCKED = frozenset({"FreeString", "FreeBytesStruct", "GetVersion"})
WRITERS = frozenset({"Stop", "StopAll"})
#: Exports that do not take a client's uuid first.
NO_CLIENT = frozenset({"GetAllDevices", "TestStruct", "StopAll", "Neonize", "Stop"})
#: A log record's attribute naming the session it belongs to (the worker's formatter).
SESSION_ATTR = "wad_session"

# Positions in neonize's Neonize(...) argument list (neonize/client.py, connect_with_proxy).
_ARG_UUID, _ARG_LEVEL, _ARG_QR, _ARG_STATUS, _ARG_EVENT, _ARG_LOG = 1, 5, 6, 7, 8, 9
_READ_PUMP = "Frame websocket read pump starting"
_LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARN": logging.WARNING}
_GO_LEVELS = {b"DEBUG": logging.DEBUG, b"INFO": logging.INFO, b"WARN": logging.WARNING}

_string_callback = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
_event_callback = ctypes.CFUNCTYPE(
    None, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int
)
_log_callback = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int)


class GoRefused(NeonizeError):  # type: ignore[misc]
    """A call for a client Go does not hold (yet, or any more): refused before Go."""


class RWLock:
    """Many readers or one writer; a waiting writer keeps new readers out (writers are
    short and rare: connects and stops). Not owned by a thread: a connect's phases are
    released from Go's callback threads."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    def acquire_shared(self) -> None:
        with self._cond:
            while self._writer or self._writers_waiting:
                self._cond.wait()
            self._readers += 1

    def release_shared(self) -> None:
        with self._cond:
            self._readers -= 1
            if not self._readers:
                self._cond.notify_all()

    def acquire_exclusive(self) -> None:
        with self._cond:
            self._writers_waiting += 1
            try:
                while self._writer or self._readers:
                    self._cond.wait()
            finally:
                self._writers_waiting -= 1
            self._writer = True

    def release_exclusive(self) -> None:
        with self._cond:
            self._writer = False
            self._cond.notify_all()

    def statistics(self) -> dict[str, int]:
        with self._cond:
            return {
                "readers": self._readers,
                "writer": int(self._writer),
                "writers_waiting": self._writers_waiting,
            }


class Hold:
    """What one thread (or one connect, across Go's threads) holds of the lock."""

    def __init__(self, lock: RWLock) -> None:
        self.lock = lock
        self.mode: str | None = None  # None, "shared", "exclusive"
        self._guard = threading.Lock()

    def take(self, mode: str) -> None:
        with self._guard:
            assert self.mode is None, self.mode
        (self.lock.acquire_shared if mode == "shared" else self.lock.acquire_exclusive)()
        with self._guard:
            self.mode = mode

    def drop(self) -> None:
        with self._guard:
            mode, self.mode = self.mode, None
        if mode == "shared":
            self.lock.release_shared()
        elif mode == "exclusive":
            self.lock.release_exclusive()


class Connect(Hold):
    """One ``Neonize`` call and its phases (see the module's docstring)."""

    def __init__(self, door: Door, uuid: bytes, wanted_level: int) -> None:
        super().__init__(door.lock)
        self.door = door
        self.uuid = uuid
        self.session = uuid.decode(errors="replace")
        self.wanted_level = wanted_level
        self.phase = "writing"  # writing, dialing, handshake, qr, reads, running, ended
        self.stopped = False
        self.settled = threading.Event()  # Stop may run: no dial or handshake under way
        self.saw_read_pump = False
        self.refs: tuple[Any, ...] = ()  # our ctypes callbacks, alive as long as the call

    def writes_done(self) -> None:
        with self._guard:
            if self.phase != "writing":
                return
            self.phase = "dialing"
        self.door.live.add(self.uuid)
        self.drop()

    def settle(self, phase: str) -> None:
        self.phase = phase
        self.drop()
        self.settled.set()

    # -- the callbacks Go calls, wrapped ------------------------------------------------

    def on_log(self, original: Any, binary: int, size: int) -> None:
        try:
            entry = LogEntry.FromString(ctypes.string_at(binary, size))
        except Exception:  # not one of Go's log entries: nothing to learn or log
            return
        if entry.Name == "Client" or entry.Name.startswith("Client/"):
            self.writes_done()
            if entry.Message.startswith(_READ_PUMP) and self.phase == "dialing":
                self.saw_read_pump = True
                self.take("shared")  # parks the read pump: no handshake before we hold it
                self.phase = "handshake"
        level = _LEVELS.get(entry.Level, logging.ERROR)
        if level >= self.wanted_level:
            logger = logging.getLogger("whatsmeow." + entry.Name.replace("/", "."))
            logger.log(level, "%s", entry.Message, extra={SESSION_ATTR: self.session})

    def on_qr(self, original: Any, uuid: int, data: int) -> None:
        self.writes_done()
        if self.phase in ("handshake", "dialing", "writing"):
            self.settle("qr")  # connect() returned: the QR phase touches no map
        if not self.stopped:
            original(uuid, data)

    def on_status(self, original: Any, uuid: int, data: int) -> None:
        self.writes_done()
        status = ctypes.string_at(data).decode(errors="replace") if data else ""
        if status == "success":
            self.take("shared")  # before Go reads eventChannel and clients again
            if not self.stopped:
                self.phase = "reads"
                return  # neonize's own handler only prints the status
            self.drop()
        log.info(
            "the QR phase ended (%s)%s: parking its thread",
            status,
            " after stop" if self.stopped else "",
            extra={SESSION_ATTR: self.session},
        )
        self.settle("ended")
        threading.Event().wait()  # never back to Go: FetchMe would poll or panic

    def on_event(self, original: Any, uuid: Any, data: int, size: int, kind: int) -> None:
        self.writes_done()
        if kind == 0 and self.phase != "running":
            if not self.saw_read_pump:
                # whatsmeow no longer logs the read pump's start: phase 3 was not held.
                log.error(
                    "connected without the read pump's log line: the Go lock's phases"
                    " no longer match this neonize build",
                    extra={SESSION_ATTR: self.session},
                )
            self.settle("running")  # CallbackFunction read its maps before this
        if not self.stopped:
            original(uuid, data, size, kind)

    def returned(self) -> None:
        with self._guard:
            phase = self.phase
        if phase == "writing":  # failed before or right after its writes: unknown
            self.door.live.discard(self.uuid)
        self.settle("ended")


class Door:
    """The lock, the live clients, and the wrapped library."""

    def __init__(self) -> None:
        self.lock = RWLock()
        self.live: set[bytes] = set()
        self.connects: dict[bytes, Connect] = {}
        self._local = threading.local()
        self.enabled = True

    def _hold(self) -> Hold | None:
        hold: Hold | None = getattr(self._local, "hold", None)
        return hold

    @contextmanager
    def shared(self) -> Iterator[None]:
        """Hold the lock shared on this thread (nested: no-op when already held)."""
        current = self._hold()
        if current is not None and current.mode is not None:
            yield
            return
        hold = Hold(self.lock)
        self._local.hold = hold
        hold.take("shared")
        try:
            yield
        finally:
            hold.drop()
            self._local.hold = current

    def call(self, name: str, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        if name == "Neonize":
            return self._connect(fn, args)
        if name in WRITERS:
            return self._stop(name, fn, args)
        client = args[0] if name not in NO_CLIENT and args else None
        if isinstance(client, bytes) and client not in self.live:
            raise GoRefused(f"{name}: the client {args[0]!r} is not running in Go")
        with self.shared():
            return fn(*args)

    def _stop(self, name: str, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        current = self._hold()
        if current is not None and current.mode is not None:
            # A finalizer run by the garbage collector on a thread inside a Go call:
            # it cannot upgrade. wad detaches neonize's finalizers and stops explicitly.
            raise RuntimeError(f"{name} called while holding the Go lock")
        uuid = args[0] if name == "Stop" and args and isinstance(args[0], bytes) else None
        if name == "Stop":
            connect = self.connects.get(uuid) if uuid is not None else None
            targets = [connect] if connect is not None else []
        else:
            targets = list(self.connects.values())
        for target in targets:
            target.settled.wait()  # a dial or handshake under way: wait, holding nothing
        hold = Hold(self.lock)
        self._local.hold = hold
        hold.take("exclusive")
        try:
            for target in targets:
                target.stopped = True
            if name == "Stop":
                self.live.discard(uuid)
            else:
                self.live.clear()
            return fn(*args)
        finally:
            hold.drop()
            self._local.hold = current

    def _connect(self, fn: Callable[..., Any], given: tuple[Any, ...]) -> Any:
        args = list(given)
        uuid = bytes(args[_ARG_UUID])
        wanted = _GO_LEVELS.get(bytes(args[_ARG_LEVEL] or b""), logging.ERROR)
        connect = Connect(self, uuid, wanted)
        qr, status, event, logger = (args[i] for i in (_ARG_QR, _ARG_STATUS, _ARG_EVENT, _ARG_LOG))
        connect.refs = (
            _string_callback(lambda u, d: connect.on_qr(qr, u, d)),
            _string_callback(lambda u, d: connect.on_status(status, u, d)),
            _event_callback(lambda u, d, s, k: connect.on_event(event, u, d, s, k)),
            _log_callback(lambda b, s: connect.on_log(logger, b, s)),
        )
        for index, ref in zip(
            (_ARG_QR, _ARG_STATUS, _ARG_EVENT, _ARG_LOG), connect.refs, strict=True
        ):
            args[index] = ref
        args[_ARG_LEVEL] = b"DEBUG"  # the two signal lines are debug lines
        self.connects[uuid] = connect
        self.live.discard(uuid)
        previous = self._hold()
        self._local.hold = connect
        connect.take("exclusive")
        try:
            return fn(*args)
        finally:
            connect.returned()
            self._local.hold = previous


_door: Door | None = None


class _Wrapped:
    """Stands for one ctypes function of the library; calls it through the door."""

    __slots__ = ("name", "fn", "door")

    def __init__(self, name: str, fn: Any, door: Door) -> None:
        self.name, self.fn, self.door = name, fn, door

    def __call__(self, *args: Any) -> Any:
        return self.door.call(self.name, self.fn, args)

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.fn, attribute)  # argtypes, restype, errcheck


def install(library: Any = None) -> Door:
    """Put every function of neonize's library behind the door (once per process).

    The functions neonize declared are replaced in place; the library's class is swapped
    for one that wraps any function looked up later, so none can slip past."""
    global _door
    if _door is not None:
        return _door
    if library is None:
        from neonize import _binder

        library = _binder.gocode
    door = Door()

    def wrap(name: str, fn: Any) -> Any:
        if isinstance(fn, ctypes._CFuncPtr) and name not in UNLOCKED:  # type: ignore[attr-defined]
            return _Wrapped(name, fn, door)
        return fn

    for name, fn in list(vars(library).items()):
        setattr(library, name, wrap(name, fn))
    base = type(library)

    class Guarded(base):  # type: ignore[valid-type, misc]
        def __getattr__(self, name: str) -> Any:
            fn = wrap(name, base.__getattr__(self, name))
            setattr(self, name, fn)
            return fn

    library.__class__ = Guarded
    _door = door
    return door


def door() -> Door | None:
    """The installed door, if any."""
    return _door
