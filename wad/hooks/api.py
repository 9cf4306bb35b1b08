"""``DaemonAPI``: all that a plugin or a door (the HTTP app, the control server, the
systemd integration, the metrics) sees of a running daemon.

A Protocol, so that nothing outside :mod:`wad.runtime` imports the ``Daemon``
that implements it: the doors and the plugins depend on this surface, and the
runtime wires them together. Every member is read-only here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol, TypedDict, TypeVarTuple

if TYPE_CHECKING:
    import pluggy
    import trio

    from wad.auth.logins import DashboardLogins
    from wad.config import Config
    from wad.metrics.registry import Metrics
    from wad.services import Services
    from wad.sessions.events import EventLog
    from wad.sessions.supervisor import Supervisor
    from wad.store import Store

Args = TypeVarTuple("Args")


class PluginInfo(TypedDict):
    """One loaded plugin, as ``GET /api/plugins`` and ``wadctl plugins`` list it."""

    name: str
    module: str
    distribution: str | None
    version: str | None
    builtin: bool
    hooks: list[str]


class PluginsAPI(Protocol):
    """The plugin host as the daemon's parts see it (:class:`wad.hooks.host.PluginHost`)."""

    @property
    def hook(self) -> pluggy.HookRelay:
        """The hooks, called through :mod:`wad.hooks.calls`."""
        ...

    def describe(self) -> list[PluginInfo]:
        """What is loaded, with each plugin's distribution and hooks."""
        ...


class DaemonAPI(Protocol):
    """One running wad: its parts, and what may be asked of it as a whole."""

    @property
    def config(self) -> Config:
        """The running configuration (a reload updates what can change at run time)."""
        ...

    @property
    def store(self) -> Store:
        """The store: ``await store.run(fn)`` (one transaction) or ``await store.read(fn)``,
        ``fn`` a function of the queries (short statements: on SQLite it runs on the trio
        thread)."""
        ...

    @property
    def events(self) -> EventLog:
        """Every session's events: listeners in and after the transaction, subscribers."""
        ...

    @property
    def supervisor(self) -> Supervisor:
        """The sessions and their engine (counts by state, the engine's statistics)."""
        ...

    @property
    def services(self) -> Services:
        """The operations the REST API and the control socket share."""
        ...

    @property
    def metrics(self) -> Metrics:
        """The instruments updated while the daemon runs."""
        ...

    @property
    def plugins(self) -> PluginsAPI:
        """The plugin host."""
        ...

    @property
    def logins(self) -> DashboardLogins:
        """The dashboard's sign-ins, which the ``auth`` plugin maps to the admin."""
        ...

    @property
    def stopping(self) -> trio.Event:
        """Set when the graceful stop begins (long streams end at it)."""
        ...

    async def reload(self) -> None:
        """Re-read the configuration and apply what can change at run time; raises
        ``ConfigError`` (and keeps the running one) when it is bad."""
        ...

    def stop(self) -> None:
        """Begin the graceful stop."""
        ...

    def set_log_level(self, level: str) -> None:
        """Change the daemon's log level now (``DEBUG``, ``INFO``, ...)."""
        ...

    def start_soon(self, fn: Callable[[*Args], Awaitable[object]], *args: *Args) -> None:
        """Run ``fn(*args)`` in the daemon's nursery, cancelled at shutdown."""
        ...
