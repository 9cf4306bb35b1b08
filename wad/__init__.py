"""wad: a self-hosted WhatsApp API daemon.

The layers, each a package; imports point down only (a test checks there is no cycle,
counting imports under ``TYPE_CHECKING``):

- doors: ``http`` (REST API, dashboard, OpenAPI), ``control`` (the Unix socket),
  ``systemd`` (notify, activation, journal), ``ctl`` (``wadctl``, a client only);
- ``hooks``: the plugin host and ``DaemonAPI``, the one surface doors and plugins see;
- ``runtime``: the ``Daemon`` holder and the wiring (``build``, ``serve``, signals);
- ``services``: what wad does, once, for every door (sessions, keys, sending, ...);
- ``sessions``: the session state machine, the supervisor, the event log;
- ``cluster``: which node of a PostgreSQL cluster runs which session (the node
  registry, ownership by advisory lock with fencing, placement), beside the store;
- ``engines`` (the contract, the wire format, ``neonize`` and ``simulator``) and
  ``store`` (apsw on ``wad.db``) at the bottom, with ``auth``, ``net``, ``metrics``
  and the leaf modules ``config``, ``errors``, ``validation``, ``files``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pluggy

__version__ = "0.1.0"

_hookimpl: pluggy.HookimplMarker | None = None


def __getattr__(name: str) -> pluggy.HookimplMarker:
    # ``wad.hookimpl`` marks a plugin's hook implementations:
    # ``@wad.hookimpl def wad_event(event): ...``. It is made on first use, so that the
    # neonize worker, which imports ``wad`` but no plugin, does not load pluggy.
    global _hookimpl
    if name != "hookimpl":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _hookimpl is None:
        import pluggy

        _hookimpl = pluggy.HookimplMarker("wad")
    return _hookimpl
