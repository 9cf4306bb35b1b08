"""The control socket's method table: each method calls the :mod:`wad.services`
operation that its REST twin calls (one implementation, two doors).

Params carry the REST API's field names. A method names the params it takes;
an unknown or missing one is a ``bad_request``, so a typo never passes silently.
``events.subscribe`` is not here: it streams, so the server runs it itself.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from wad.config import ConfigError
from wad.control import backup, cluster, contacts, group_methods
from wad.control.protocol import ControlError, Method
from wad.control.spec import Spec
from wad.engines.simulator import control as simulator
from wad.engines.simulator import people as simulator_people
from wad.hooks import calls as hooks
from wad.services.ids import Ids
from wad.services.settings import SETTINGS

if TYPE_CHECKING:
    from wad.hooks import DaemonAPI

SUBSCRIBE = "events.subscribe"
SUBSCRIBE_PARAMS = ("deviceId", "events")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def build(daemon: DaemonAPI) -> dict[str, Method]:
    """Every method this daemon answers: core, simulator (when active), plugins'."""
    table: dict[str, Method] = dict(core(daemon))
    table.update(backup.methods(daemon))
    table.update(cluster.methods(daemon))
    table.update(contacts.methods(daemon.services))
    table.update(group_methods.methods(daemon.services))
    if daemon.config.engine == "simulator":
        table.update(simulator.methods(daemon.services))
        table.update(simulator_people.methods(daemon.services))
    for extra in hooks.control_methods(daemon):
        for name, fn in extra.items():
            if name in table or name == SUBSCRIBE:
                raise ValueError(f"a plugin's control method {name!r} is already defined")
            table[name] = fn
    return table


def core(daemon: DaemonAPI) -> dict[str, Spec]:
    svc = daemon.services
    dev = ("deviceId",)

    def set_log_level(p: dict[str, Any]) -> dict[str, str]:
        level = str(p["level"]).upper()
        if level not in LOG_LEVELS:
            raise ControlError("bad_request", f"level must be one of {', '.join(LOG_LEVELS)}")
        daemon.set_log_level(level)
        return {"level": level}

    async def reload(p: dict[str, Any]) -> None:
        try:
            await daemon.reload()
        except ConfigError as exc:
            raise ControlError("bad_config", str(exc)) from None

    return {
        "status": Spec(lambda p: svc.status.report()),
        "sessions.list": Spec(lambda p: _named("sessions", svc.sessions.list_all())),
        "sessions.get": Spec(lambda p: _named("session", svc.sessions.get(p["deviceId"])), dev),
        "sessions.create": Spec(
            lambda p: svc.sessions.create(p["deviceId"], _settings(p)), dev, tuple(SETTINGS)
        ),
        "sessions.update": Spec(
            lambda p: _named("session", svc.sessions.update(p["deviceId"], _settings(p))),
            dev,
            tuple(SETTINGS),
        ),
        "sessions.delete": Spec(lambda p: svc.sessions.delete(p["deviceId"]), dev),
        "sessions.ids": Spec(
            lambda p: Ids(svc.lookup, svc.store).resolve(p["deviceId"], p["jid"]),
            ("deviceId", "jid"),
        ),
        "sessions.logout": Spec(lambda p: svc.sessions.logout(p["deviceId"]), dev),
        "sessions.restart": Spec(lambda p: svc.sessions.restart(p["deviceId"]), dev),
        "sessions.qr": Spec(lambda p: svc.sessions.qr(p["deviceId"]), dev),
        "sessions.pair_code": Spec(
            lambda p: svc.sessions.pair_code(p["deviceId"], p["phoneNumber"]),
            ("deviceId", "phoneNumber"),
        ),
        "sessions.messages": Spec(
            lambda p: svc.messages.page(
                p["deviceId"], p.get("direction"), p.get("before"), p.get("limit", 50)
            ),
            dev,
            ("direction", "before", "limit"),
        ),
        "keys.set": Spec(
            lambda p: _named("apiKey", svc.keys.set(p["deviceId"], p.get("apiKey"))),
            dev,
            ("apiKey",),
        ),
        "keys.revoke": Spec(lambda p: svc.keys.revoke(p["deviceId"]), dev),
        "admin_token.rotate": Spec(lambda p: {"adminToken": svc.status.rotate_admin_token()}),
        "log_level.set": Spec(set_log_level, ("level",)),
        "reload": Spec(reload),
        "plugins.list": Spec(lambda p: {"plugins": daemon.plugins.describe()}),
    }


async def _named(name: str, value: Awaitable[Any]) -> dict[str, Any]:
    """A method's answer: ``value``'s, under ``name``."""
    return {name: await value}


def _settings(params: dict[str, Any]) -> dict[str, Any]:
    """The session settings among a method's params."""
    return {name: value for name, value in params.items() if name in SETTINGS}
