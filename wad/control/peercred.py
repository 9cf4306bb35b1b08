"""Who is on the other end of a Unix socket (``SO_PEERCRED``), and may they in.

Allowed: uid 0, the daemon's own uid, and members of the control group: by
the peer's primary gid, its supplementary groups (``/proc/<pid>/status``), or
the group's member list.
"""

from __future__ import annotations

import grp
import os
import pwd
import socket
import struct
from dataclasses import dataclass

_UCRED = struct.Struct("3i")  # pid, uid, gid


@dataclass(frozen=True)
class Peer:
    pid: int
    uid: int
    gid: int


def peer_of(sock: socket.socket) -> Peer:
    data = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    return Peer(*_UCRED.unpack(data))


def group_id(name: str) -> int | None:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return None


def supplementary_groups(pid: int) -> set[int]:
    """The groups of a live process; empty when it is gone or not readable."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("Groups:"):
                    return {int(g) for g in line.split()[1:]}
    except (OSError, ValueError):
        pass
    return set()


def _listed_member(uid: int, gid: int) -> bool:
    try:
        user = pwd.getpwuid(uid).pw_name
        return user in grp.getgrgid(gid).gr_mem
    except KeyError:
        return False


def allowed(peer: Peer, group: str | None, own_uid: int | None = None) -> bool:
    own_uid = os.geteuid() if own_uid is None else own_uid
    if peer.uid in (0, own_uid):
        return True
    gid = group_id(group) if group else None
    if gid is None:
        return False
    return peer.gid == gid or gid in supplementary_groups(peer.pid) or _listed_member(peer.uid, gid)
