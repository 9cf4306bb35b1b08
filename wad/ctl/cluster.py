"""wadctl's cluster commands: ``cluster`` (the nodes: heartbeat age, sessions,
draining), ``move ID NODE`` (a planned handover), ``drain`` (this node hands all its
sessions over) and ``undrain`` (it takes sessions again)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from wad.ctl import render
from wad.ctl.commands import simple

__all__ = ["add"]

#: ``cmd(name, run, help, *positional)`` of wad.ctl.main: one subcommand.
AddCommand = Callable[..., argparse.ArgumentParser]


def nodes(result: dict[str, Any]) -> str:
    me = result["node"]
    rows = [
        (
            ("* " if n["nodeId"] == me else "  ") + n["nodeId"],
            n["url"] or None,
            "live" if n["live"] else "gone",
            n["draining"],
            n["sessions"],
            n.get("maxSessions") or "-",
            f"{n['heartbeatAge']:.1f} s",
        )
        for n in result["nodes"]
    ]
    headings = ("  NODE", "URL", "STATE", "DRAINING", "SESSIONS", "MAX", "HEARTBEAT")
    text = render.table(headings, rows)
    return f"{text}\n(* this node)"


def add(cmd: AddCommand) -> None:
    cmd(
        "cluster",
        simple("cluster.nodes", nodes),
        "the cluster's nodes: heartbeat age, sessions, draining",
    )
    cmd(
        "move",
        simple(
            "cluster.move",
            lambda r: (
                f"moving {r['deviceId']} to {r['nodeId']} (its node stops it, then"
                f" {r['nodeId']} starts it)"
            ),
            deviceId="device_id",
            nodeId="node_id",
        ),
        "a planned handover: the session's node stops it, NODE starts it",
        "device_id",
        "node_id",
    )
    cmd(
        "drain",
        simple("cluster.drain", lambda r: f"{r['node']} drained: it runs no session"),
        "this node hands every session over and takes none (before maintenance)",
    )
    cmd(
        "undrain",
        simple("cluster.resume", lambda r: f"{r['node']} takes sessions again"),
        "undo a drain: this node takes sessions again",
    )
