"""Run a command under the restrictions of systemd/wad.service that can be applied
without systemd as PID 1 (the test machine is a container). Needs root.

``python tests/harden.py --writable DIR [--writable DIR ...] -- COMMAND...``

In order:
- ``UMask=0077``: the umask;
- ``MemoryDenyWriteExecute=yes``: the kernel's ``PR_SET_MDWE`` with "refuse exec
  gain" (Linux 6.3+), inherited by every child and kept across exec. systemd's own
  seccomp filter refuses the same thing: a mapping both writable and executable,
  and making writable memory executable later;
- a private mount and PID namespace (unshare) in which, like ``ProtectSystem=strict``
  plus ``StateDirectory=``/``RuntimeDirectory=``, the whole tree is read-only but
  the ``--writable`` folders; ``ProtectHome=yes`` (empty read-only /home and
  /root); ``ProtectProc=invisible`` + ``ProcSubset=pid`` (a /proc of its own with
  ``hidepid=invisible,subset=pid``);
- ``User=``/``Group=`` an unprivileged user (nobody), no supplementary groups,
  ``NoNewPrivileges=yes``, ``CapabilityBoundingSet=`` (empty) — setpriv.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shlex
import sys

PR_SET_MDWE = 65
PR_MDWE_REFUSE_EXEC_GAIN = 1
NOBODY = 65534


def set_mdwe() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_MDWE) failed (Linux 6.3+ needed)")


def protect_home(interpreter: str) -> list[str]:
    """Empty, read-only /home and /root. Where this Python itself lives under one of
    them (a test machine's pyenv; a server's /opt/wad does not), its folder alone is
    brought back, read-only, through a staging tmpfs."""
    commands = []
    stage = next(d for d in ("/srv", "/media", "/opt", "/mnt") if os.path.isdir(d))
    for home in ("/home", "/root"):
        if not os.path.isdir(home):
            continue
        keep = interpreter if interpreter.startswith(home + "/") else None
        if keep:
            commands += [
                f"mount -t tmpfs tmpfs {stage}",
                f"mkdir {stage}/keep",
                f"mount --bind {shlex.quote(keep)} {stage}/keep",
            ]
        commands.append(f"mount -t tmpfs -o mode=755 tmpfs {home}")
        if keep:
            commands += [
                f"(umask 022; mkdir -p {shlex.quote(keep)})",
                f"mount --bind -o ro {stage}/keep {shlex.quote(keep)}",
                f"umount -l {stage}",
            ]
        commands.append(f"mount -o remount,ro {home}")
    return commands


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--writable", action="append", default=[])
    parser.add_argument("command", nargs="+")
    args = parser.parse_args()
    os.umask(0o077)
    set_mdwe()
    mounts = [f"mount --bind {shlex.quote(d)} {shlex.quote(d)}" for d in args.writable]
    mounts.append("mount -o remount,bind,ro /")
    mounts += protect_home(os.path.realpath(sys.base_prefix))
    mounts.append("mount -t proc -o hidepid=invisible,subset=pid proc /proc")
    drop = [
        "setpriv",
        f"--reuid={NOBODY}",
        f"--regid={NOBODY}",
        "--clear-groups",
        "--no-new-privs",
        "--inh-caps=-all",
        "--ambient-caps=-all",
        "--bounding-set=-all",
        "--",
        *args.command,
    ]
    # Safety first: mount nothing unless this shell is PID 1 of the new namespaces
    # (else the mounts would change the machine's own tree).
    script = (
        'set -e; [ "$$" = 1 ] || { echo "not in a new namespace" >&2; exit 1; }; '
        + "; ".join(mounts)
        + "; exec "
        + shlex.join(drop)
    )
    unshare = [
        "unshare",
        "--mount",
        "--pid",
        "--fork",
        "--propagation",
        "private",
        "--",
        "/bin/bash",
        "-c",
        script,
    ]
    os.execvp(unshare[0], unshare)  # noqa: S606


if __name__ == "__main__":
    sys.exit(main())
