"""The virtual phone's control methods (``sim.*``), as ``/api/simulator/...``;
in the method table only with ``--engine simulator``."""

from __future__ import annotations

from typing import Any

from wad.control.spec import Spec
from wad.engines.simulator.operations import SimulatorOperations
from wad.services import Services

__all__ = ["methods"]


def methods(services: Services) -> dict[str, Spec]:
    sim = SimulatorOperations(services)
    dev = ("deviceId",)

    def incoming(p: dict[str, Any]) -> Any:
        spec = {k: v for k, v in p.items() if k not in ("deviceId", "from", "message")}
        return sim.incoming(p["deviceId"], p["from"], p.get("message"), spec)

    return {
        "sim.scan": Spec(
            lambda p: sim.scan(p["deviceId"], p["phoneNumber"]), ("deviceId", "phoneNumber")
        ),
        "sim.incoming": Spec(incoming, ("deviceId", "from"), ("message",), open=True),
        "sim.drop": Spec(lambda p: sim.drop(p["deviceId"]), dev),
        "sim.unlink": Spec(lambda p: sim.unlink(p["deviceId"]), dev),
        "sim.receipt": Spec(
            lambda p: sim.receipt(p["deviceId"], p["messageId"], p["status"]),
            ("deviceId", "messageId", "status"),
        ),
        "sim.enter_code": Spec(
            lambda p: sim.enter_code(p["deviceId"], p["code"]), ("deviceId", "code")
        ),
        "sim.sent": Spec(lambda p: {"messages": sim.sent(p["deviceId"])}, dev),
        "sim.replace": Spec(lambda p: sim.replace(p["deviceId"]), dev),
        "sim.ban": Spec(
            lambda p: sim.ban(
                p["deviceId"], p["seconds"], p.get("code", "SEND_TO_TOO_MANY_PEOPLE")
            ),
            ("deviceId", "seconds"),
            ("code",),
        ),
        "sim.silence": Spec(lambda p: sim.silence(p["deviceId"]), dev),
        "sim.keepalive": Spec(
            lambda p: sim.keepalive(p["deviceId"], p["failing"]), ("deviceId", "failing")
        ),
        "sim.call": Spec(
            lambda p: sim.ring(p["deviceId"], p["from"], p.get("video", False)),
            ("deviceId", "from"),
            ("video",),
        ),
        "sim.hang_up": Spec(
            lambda p: sim.hang_up(p["deviceId"], p["callId"]), ("deviceId", "callId")
        ),
        "sim.attempts": Spec(lambda p: {"attempts": sim.attempts(p["deviceId"])}, dev),
    }
