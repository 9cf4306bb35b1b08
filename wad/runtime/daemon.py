"""The Daemon: what one running wad holds (store, events, sessions, services, plugins).

It implements :class:`wad.hooks.DaemonAPI`, the surface the doors and plugins
see. Built and wired by :mod:`wad.runtime.serve`; nothing imports that module
but the CLI."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVarTuple

import trio

from wad.auth.logins import DashboardLogins
from wad.config import Config
from wad.hooks import calls
from wad.hooks.host import PluginHost
from wad.lockfile import FolderLock
from wad.metrics.registry import Metrics
from wad.runtime import logs
from wad.services import Services
from wad.sessions.events import EventLog
from wad.sessions.supervisor import Supervisor
from wad.store import Store

if TYPE_CHECKING:
    from wad.http.server import HttpServer
    from wad.systemd.integration import Systemd

log = logging.getLogger(__name__)
Args = TypeVarTuple("Args")


@dataclass
class Daemon:
    config: Config
    store: Store
    events: EventLog
    supervisor: Supervisor
    services: Services
    plugins: PluginHost
    logins: DashboardLogins
    stopping: trio.Event = field(default_factory=trio.Event)
    nursery: trio.Nursery | None = None
    metrics: Metrics = field(default_factory=Metrics)
    # Re-reads every configuration source (flags, environment, file); None when the
    # daemon was built from a Config alone (tests), and then reload keeps it.
    reread: Callable[[], Config] | None = None
    # systemd's notices (RELOADING=1 around a reload); None outside ``serve``.
    systemd: Systemd | None = None
    # The state folder's lock (one daemon per folder), held until the store is closed.
    state_lock: FolderLock | None = None
    # The HTTP server (its connections, for statistics); None outside ``serve``.
    http: HttpServer | None = None

    def stop(self) -> None:
        self.stopping.set()

    def start_soon(self, fn: Callable[[*Args], Awaitable[object]], *args: *Args) -> None:
        if self.nursery is None:
            raise RuntimeError("the daemon is not serving: no nursery to start a task in")
        self.nursery.start_soon(fn, *args)

    def set_log_level(self, level: str) -> None:
        self.config.log_level = level
        logs.set_level(level)

    async def reload(self) -> None:
        """Re-read the configuration and apply what can change at run time: the log
        level and the plugins' settings; plugins re-read theirs in ``wad_reload``.
        Settings that shape the process (state folder, HTTP address, engine) need a
        restart. A bad configuration is refused and the running one kept. Under
        systemd, ``RELOADING=1`` is sent first and ``READY=1`` after, whichever door
        (SIGHUP, ``wadctl reload``) asked."""
        with self.systemd.reloading(self) if self.systemd else contextlib.nullcontext():
            await self._reload()

    async def _reload(self) -> None:
        if self.reread is not None:
            fresh = self.reread()  # ConfigError propagates: nothing changed yet
            self.config.log_level = fresh.log_level
            self.config.plugin_settings = fresh.plugin_settings
            logs.set_level(fresh.log_level)
        await calls.reload(self)
        log.info("configuration reloaded")
