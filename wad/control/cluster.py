"""The control socket's cluster methods (``cluster.*``): the nodes, a planned move,
a drain and its undoing, each through this node's :class:`~wad.cluster.ClusterNode`.

A daemon without ``database_url`` is no cluster: each method answers
``unavailable`` with that said, which wadctl prints (exit code 1)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

from wad import validation
from wad.cluster import ClusterNode, MoveRefused
from wad.control.protocol import ControlError
from wad.control.spec import Spec

if TYPE_CHECKING:
    from wad.hooks import DaemonAPI

__all__ = ["methods"]

NOT_A_CLUSTER = (
    "this daemon is not part of a cluster (it runs without database_url / WAD_DATABASE_URL)"
)
#: How long a method waits for this node's lock connection (it reconnects after a
#: loss) before it says that it cannot answer.
CONNECTION_WAIT = 10.0


def methods(daemon: DaemonAPI) -> dict[str, Spec]:
    def node() -> ClusterNode:
        cluster: ClusterNode | None = daemon.supervisor.cluster
        if cluster is None:
            raise ControlError("unavailable", NOT_A_CLUSTER)
        return cluster

    async def nodes(p: dict[str, Any]) -> dict[str, Any]:
        cluster = node()
        with trio.move_on_after(CONNECTION_WAIT):
            rows = await cluster.nodes()
            return {
                "node": cluster.node_id,
                "nodes": [
                    {
                        "nodeId": row.node_id,
                        "url": row.url,
                        "live": row.live,
                        "draining": row.draining,
                        "sessions": row.sessions,
                        "maxSessions": row.capacity,  # 0: no cap
                        "heartbeatAge": round(row.heartbeat_age, 3),
                    }
                    for row in rows
                ],
            }
        raise _disconnected()

    async def move(p: dict[str, Any]) -> dict[str, Any]:
        cluster = node()
        device_id = validation.device_id(p["deviceId"])
        target = p["nodeId"]
        if not isinstance(target, str):
            raise ControlError("bad_request", "nodeId must be a string")
        with trio.move_on_after(CONNECTION_WAIT):
            try:
                await cluster.move(device_id, target)
            except MoveRefused:
                raise ControlError(
                    "conflict",
                    f"cannot move {device_id} to {target}: the session runs on no node, or"
                    f" {target} is not a live node that takes sessions (see wadctl cluster)",
                ) from None
            return {"deviceId": device_id, "nodeId": target}
        raise _disconnected()

    async def drain(p: dict[str, Any]) -> dict[str, Any]:
        cluster = node()
        await cluster.drain()  # returns once none runs here
        return {"node": cluster.node_id, "sessions": len(cluster.owned)}

    async def resume(p: dict[str, Any]) -> dict[str, Any]:
        cluster = node()
        await cluster.resume()
        return {"node": cluster.node_id}

    return {
        "cluster.nodes": Spec(nodes),
        "cluster.move": Spec(move, ("deviceId", "nodeId")),
        "cluster.drain": Spec(drain),
        "cluster.resume": Spec(resume),
    }


def _disconnected() -> ControlError:
    return ControlError(
        "unavailable", "this node's connection to the database is down; try again shortly"
    )
