"""``wadctl backup PATH``: the running daemon writes a consistent backup of its state
folder (see :mod:`wad.store.backup`); restoring is a copy into a stopped daemon's folder
(README, "Backup and restore")."""

from __future__ import annotations

import argparse
import os
from typing import Any

from wad.ctl.client import Client, socket_path
from wad.ctl.commands import Out

__all__ = ["cmd_backup", "describe"]


def cmd_backup(args: argparse.Namespace, out: Out) -> None:
    # The daemon resolves nothing against its own working folder: the path is made
    # absolute here, where the operator typed it.
    path = os.path.abspath(os.path.expanduser(args.path))
    # A large wad.db takes its time: no answer timeout (Ctrl-C still stops waiting).
    with Client(socket_path(args.socket, args.state_dir), timeout=None) as client:
        out.show(client.call("backup", path=path), describe)


def describe(report: dict[str, Any]) -> str:
    sessions = ", ".join(report["sessions"]) or "none"
    return (
        f"backup written to {report['path']}: {report['files']} files, "
        f"{_size(report['bytes'])}, in {report['seconds']:.1f} s\n"
        f"databases (SQLite online backup): {', '.join(report['databases']) or 'none'}\n"
        f"sessions: {sessions}"
    )


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    size = n / 1024
    for unit in ("KiB", "MiB"):
        if size < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"
