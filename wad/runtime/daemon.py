"""The Daemon: what one running wad holds (store, events, sessions, services, plugins).

Built and wired by :mod:`wad.runtime.serve`; nothing imports that module but the CLI."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pluggy
import trio

from wad.config import Config
from wad.hooks.host import resolve
from wad.metrics.registry import Metrics
from wad.runtime import logs
from wad.services import Services
from wad.sessions.events import EventLog
from wad.sessions.supervisor import Supervisor
from wad.store import Store

if TYPE_CHECKING:
    from wad.systemd.integration import Systemd

log = logging.getLogger(__name__)


@dataclass
class Daemon:
    config: Config
    store: Store
    events: EventLog
    supervisor: Supervisor
    services: Services
    pm: pluggy.PluginManager
    stopping: trio.Event = field(default_factory=trio.Event)
    nursery: trio.Nursery | None = None
    metrics: Metrics = field(default_factory=Metrics)
    # Re-reads every configuration source (flags, environment, file); None when the
    # daemon was built from a Config alone (tests), and then reload keeps it.
    reread: Callable[[], Config] | None = None
    # systemd's notices (RELOADING=1 around a reload); None outside ``serve``.
    systemd: Systemd | None = None

    def stop(self) -> None:
        self.stopping.set()

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
        for answer in self.pm.hook.wad_reload(daemon=self):
            await resolve(answer)
        log.info("configuration reloaded")
