"""``/metrics``' cluster families, on a node of a cluster only: this node's part
(``ClusterNode.statistics()``) and the requests it forwarded to other nodes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from quart import current_app

from wad.metrics import registry as metrics

if TYPE_CHECKING:
    from wad.hooks import DaemonAPI


def render(daemon: DaemonAPI) -> list[str]:
    parts: list[str] = []
    cluster = daemon.supervisor.cluster
    if cluster is not None:
        stats = cluster.statistics()
        parts.append(
            metrics.family(
                "wad_cluster_node",
                "gauge",
                "This node of the cluster, by its id.",
                [((("node", stats.node_id),), 1)],
            )
        )
        figures: dict[str, float] = {
            "connected": int(stats.connected),
            "draining": int(stats.draining),
            "owned": stats.owned,
            "fences": stats.fences,
            "reconnects": stats.reconnects,
        }
        if stats.heartbeat_age is not None:
            figures["heartbeat_age_seconds"] = stats.heartbeat_age
        parts.append(
            metrics.render_numbers(
                "wad_cluster",
                "This node in the cluster: connected (its lock connection is up), draining,"
                " owned (sessions it runs), fences and reconnects since start,"
                " heartbeat_age_seconds (since the last successful heartbeat was sent).",
                "gauge",
                "figure",
                figures,
            )
        )
    forwarder = current_app.config.get("WAD_FORWARDER")
    if forwarder is not None:
        parts.append(
            metrics.render_numbers(
                "wad_cluster_forwarded_total",
                "Requests for sessions of other nodes since start: forwarded (answered by"
                " the owner), failed (the owner did not answer), no_owner (none came"
                " within the wait: answered 503).",
                "counter",
                "outcome",
                forwarder.figures,
            )
        )
    return parts
