"""The control socket's method table: each method calls the :class:`~wad.service.Service`
operation that its REST twin calls (one implementation, two doors).

Params carry the REST API's field names. A method names the params it takes;
an unknown or missing one is a ``bad_request``, so a typo never passes silently.
``events.subscribe`` is not here: it streams, so the server runs it itself.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wad.config import ConfigError
from wad.control.protocol import ControlError, Method
from wad.hooks import host as plugins
from wad.runtime import logs

if TYPE_CHECKING:
    from wad.runtime.daemon import Daemon

SUBSCRIBE = "events.subscribe"
SUBSCRIBE_PARAMS = ("deviceId", "events")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class Spec:
    """A method: the params it requires, those it may take, and what it calls."""

    call: Callable[..., Any]
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    open: bool = False  # takes further params (passed on as they are)

    async def __call__(self, params: dict[str, Any]) -> Any:
        missing = [name for name in self.required if params.get(name) in (None, "")]
        if missing:
            raise ControlError("bad_request", f"missing param(s): {', '.join(missing)}")
        if not self.open:
            unknown = sorted(set(params) - set(self.required) - set(self.optional))
            if unknown:
                raise ControlError("bad_request", f"unknown param(s): {', '.join(unknown)}")
        result = self.call(params)
        if inspect.isawaitable(result):
            result = await result
        return {} if result is None else result


def build(daemon: Daemon) -> dict[str, Method]:
    """Every method this daemon answers: core, simulator (when active), plugins'."""
    table: dict[str, Method] = dict(core(daemon))
    if daemon.config.engine == "simulator":
        table.update(simulator(daemon))
    for extra in daemon.pm.hook.wad_control_methods(daemon=daemon):
        for name, fn in (extra or {}).items():
            if name in table or name == SUBSCRIBE:
                raise ValueError(f"a plugin's control method {name!r} is already defined")
            table[name] = fn
    return table


def core(daemon: Daemon) -> dict[str, Spec]:
    svc = daemon.service
    dev = ("deviceId",)

    def set_log_level(p: dict[str, Any]) -> dict[str, str]:
        level = str(p["level"]).upper()
        if level not in LOG_LEVELS:
            raise ControlError("bad_request", f"level must be one of {', '.join(LOG_LEVELS)}")
        daemon.config.log_level = level
        logs.set_level(level)
        return {"level": level}

    async def reload(p: dict[str, Any]) -> None:
        try:
            await daemon.reload()
        except ConfigError as exc:
            raise ControlError("bad_config", str(exc)) from None

    return {
        "status": Spec(lambda p: svc.status()),
        "sessions.list": Spec(lambda p: {"sessions": svc.list_sessions()}),
        "sessions.get": Spec(lambda p: {"session": svc.get_session(p["deviceId"])}, dev),
        "sessions.create": Spec(lambda p: svc.create_session(p["deviceId"]), dev),
        "sessions.delete": Spec(lambda p: svc.delete_session(p["deviceId"]), dev),
        "sessions.logout": Spec(lambda p: svc.logout(p["deviceId"]), dev),
        "sessions.restart": Spec(lambda p: svc.restart(p["deviceId"]), dev),
        "sessions.qr": Spec(lambda p: svc.qr(p["deviceId"]), dev),
        "sessions.pair_code": Spec(
            lambda p: svc.messaging.pair_code(p["deviceId"], p["phoneNumber"]),
            ("deviceId", "phoneNumber"),
        ),
        "sessions.messages": Spec(
            lambda p: svc.list_messages(
                p["deviceId"], p.get("direction"), p.get("before"), p.get("limit", 50)
            ),
            dev,
            ("direction", "before", "limit"),
        ),
        "keys.set": Spec(
            lambda p: {"apiKey": svc.set_api_key(p["deviceId"], p.get("apiKey"))}, dev, ("apiKey",)
        ),
        "keys.revoke": Spec(lambda p: svc.revoke_api_key(p["deviceId"]), dev),
        "admin_token.rotate": Spec(lambda p: {"adminToken": svc.rotate_admin_token()}),
        "log_level.set": Spec(set_log_level, ("level",)),
        "reload": Spec(reload),
        "plugins.list": Spec(lambda p: {"plugins": plugins.describe(daemon.pm)}),
    }


def simulator(daemon: Daemon) -> dict[str, Spec]:
    """The virtual phone's controls, as ``/api/simulator/...``."""
    svc = daemon.service
    dev = ("deviceId",)

    def incoming(p: dict[str, Any]) -> Any:
        spec = {k: v for k, v in p.items() if k not in ("deviceId", "from", "message")}
        return svc.sim_incoming(p["deviceId"], p["from"], p.get("message"), spec)

    return {
        "sim.scan": Spec(
            lambda p: svc.sim_scan(p["deviceId"], p["phoneNumber"]), ("deviceId", "phoneNumber")
        ),
        "sim.incoming": Spec(incoming, ("deviceId", "from"), ("message",), open=True),
        "sim.drop": Spec(lambda p: svc.sim_drop(p["deviceId"]), dev),
        "sim.unlink": Spec(lambda p: svc.sim_unlink(p["deviceId"]), dev),
        "sim.receipt": Spec(
            lambda p: svc.sim_receipt(p["deviceId"], p["messageId"], p["status"]),
            ("deviceId", "messageId", "status"),
        ),
        "sim.enter_code": Spec(
            lambda p: svc.sim_enter_code(p["deviceId"], p["code"]), ("deviceId", "code")
        ),
        "sim.sent": Spec(lambda p: {"messages": svc.sim_sent(p["deviceId"])}, dev),
    }
