"""Who may use the control socket: SO_PEERCRED against real processes of other uids.

The socket is an abstract-namespace one (no file, so no file permissions): the
uid check is the only guard the child meets. Children drop privileges with
``setpriv``, so these tests need root.
"""

from __future__ import annotations

import functools
import grp
import json
import logging
import os
import shutil
import socket
import sys

import pytest
import trio

from wad.control import peercred
from wad.control.server import serve_control

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv to run a child as another uid",
)

CHILD = """
import json, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1].encode().replace(b"@", b"\\0", 1))
try:
    s.sendall(b'{"id": 1, "method": "status"}\\n')
except BrokenPipeError:
    pass  # refused peers are answered and hung up on at once: the answer is waiting
data = b""
while not data.endswith(b"\\n"):
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
print(json.dumps({"pid": os.getpid(), "answer": json.loads(data)}))
"""


async def serve_abstract(nursery: trio.Nursery, daemon) -> str:
    name = f"@wad-test-{os.getpid()}-{id(daemon)}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(name.replace("@", "\0", 1))
    sock.listen(16)
    await nursery.start(functools.partial(serve_control, daemon, sock=sock))
    return name


async def run_as(address: str, *setpriv: str) -> tuple[int, dict]:
    """The child's pid and the daemon's answer to its ``status`` request."""
    proc = await trio.run_process(
        ["setpriv", *setpriv, sys.executable, "-I", "-c", CHILD, address],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    return out["pid"], out["answer"]


async def test_another_uid_is_refused_and_logged(wad, nursery, caplog):
    address = await serve_abstract(nursery, wad.daemon)
    caplog.set_level(logging.WARNING, logger="wad.control.server")
    pid, answer = await run_as(address, "--reuid", "65534", "--regid", "65534", "--clear-groups")
    assert answer["error"]["code"] == "refused"
    assert "result" not in answer
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert any(f"pid {pid} uid 65534" in line for line in refusals), refusals


async def test_root_is_let_in(wad, nursery):
    address = await serve_abstract(nursery, wad.daemon)
    _, answer = await run_as(address, "--reuid", "0", "--regid", "0", "--keep-groups")
    assert answer["result"]["engine"] == "simulator"


async def test_members_of_the_control_group_are_let_in(wad, nursery):
    group = grp.getgrnam("users")  # present on every Debian system
    wad.daemon.config.control_group = group.gr_name
    address = await serve_abstract(nursery, wad.daemon)
    _, answer = await run_as(
        address, "--reuid", "65534", "--regid", "65534", "--groups", str(group.gr_gid)
    )
    assert answer["result"]["engine"] == "simulator"
    # The same uid without the group stays out.
    _, answer = await run_as(address, "--reuid", "65534", "--regid", "65534", "--clear-groups")
    assert answer["error"]["code"] == "refused"


def test_allowed_rules():
    me = os.geteuid()
    assert peercred.allowed(peercred.Peer(1, 0, 0), None, own_uid=1000)
    assert peercred.allowed(peercred.Peer(1, 1000, 1000), None, own_uid=1000)
    assert not peercred.allowed(peercred.Peer(1, 4242, 4242), None, own_uid=me or 1000)
    assert not peercred.allowed(
        peercred.Peer(1, 4242, 4242), "no-such-group-here", own_uid=me or 1000
    )
    users = grp.getgrnam("users").gr_gid
    assert peercred.allowed(peercred.Peer(1, 4242, users), "users", own_uid=me or 1000)
