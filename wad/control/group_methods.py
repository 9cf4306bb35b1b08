"""The control socket's group methods (``groups.*``), as an administrator uses them:
each calls the service operation that its REST twin calls."""

from __future__ import annotations

from typing import Any

from wad.control.spec import Spec
from wad.services import Services

__all__ = ["methods"]


def methods(svc: Services) -> dict[str, Spec]:
    dev, group = ("deviceId",), ("deviceId", "groupId")

    async def listed(p: dict[str, Any]) -> dict[str, Any]:
        return {"groups": await svc.directory.groups(p["deviceId"])}

    async def one(p: dict[str, Any]) -> dict[str, Any]:
        return {"group": await svc.directory.group(p["deviceId"], p["groupId"])}

    return {
        "groups.list": Spec(listed, dev),
        "groups.get": Spec(one, group),
        "groups.create": Spec(
            lambda p: svc.groups.create(p["deviceId"], p["subject"], p.get("participants", [])),
            ("deviceId", "subject"),
            ("participants",),
        ),
        "groups.participants": Spec(
            lambda p: svc.groups.participants(
                p["deviceId"], p["groupId"], p["action"], p["participants"]
            ),
            (*group, "action", "participants"),
        ),
        "groups.invite": Spec(
            lambda p: svc.groups.invite(p["deviceId"], p["groupId"], bool(p.get("revoke"))),
            group,
            ("revoke",),
        ),
        "groups.leave": Spec(lambda p: svc.groups.leave(p["deviceId"], p["groupId"]), group),
    }
