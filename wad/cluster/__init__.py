"""A wad cluster on PostgreSQL: which node runs which session (issue 20).

Modules, one concern each, lowest first:

- ``timing``: the lease (5 s) and how often a node acts;
- ``keys``: the advisory lock keys (a stable 64-bit hash of the device id);
- ``runner``: ``SessionRunner``, what the cluster asks of the daemon;
- ``connection``: the lock connection (psycopg in threads; keepalives over TCP);
- ``schema``: the ``nodes`` and ``owners`` tables, numbered migrations;
- ``registry``: nodes register, heartbeat, drain, leave;
- ``ownership``: claim, release, move (the advisory lock and the ``owners`` row);
- ``placement``: free sessions to the least loaded node, gentle rebalancing;
- ``lease``: the owner's own clock for fencing;
- ``owners``: which node runs each session, read through the store (the lists);
- ``node``: ``ClusterNode``, the task that ties them together.

The guarantee: a session runs on one node at a time. An owner fences (stops all its
sessions) within ``lease / 2`` of its last successful heartbeat by its own clock;
another node claims only with the session's advisory lock and a row whose owner
released it or whose lease expired by the server's clock.
"""

from __future__ import annotations

from .node import ClusterNode, LeaseLost, MoveRefused, NodeStatistics
from .registry import NodeIdInUse, NodeRow
from .runner import SessionRunner
from .timing import LEASE, Timing

__all__ = [
    "LEASE",
    "ClusterNode",
    "LeaseLost",
    "MoveRefused",
    "NodeIdInUse",
    "NodeRow",
    "NodeStatistics",
    "SessionRunner",
    "Timing",
]
