"""The ``backup`` control method: the daemon, which holds ``wad.db``, copies its state
folder consistently (:mod:`wad.store.backup`) in a worker thread, one backup at a time.

The path is the daemon's to write, as the daemon's user: ``wadctl backup`` makes a
relative path absolute from its own working folder before asking."""

from __future__ import annotations

import errno
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from wad.control.protocol import ControlError
from wad.control.spec import Spec
from wad.store.backup import BackupError, backup_state

if TYPE_CHECKING:
    from wad.hooks import DaemonAPI

__all__ = ["methods"]

log = logging.getLogger(__name__)


def methods(daemon: DaemonAPI) -> dict[str, Spec]:
    running = trio.Lock()

    async def backup(p: dict[str, Any]) -> dict[str, object]:
        if not isinstance(p["path"], str):
            raise ControlError("bad_request", "path must be a string")
        if running.locked():
            raise ControlError("conflict", "a backup is already being written")
        async with running:
            dest = Path(p["path"])
            try:
                report = await trio.to_thread.run_sync(backup_state, daemon.config.state_dir, dest)
            except BackupError as exc:
                raise ControlError("bad_request", str(exc)) from None
            except OSError as exc:
                # A folder the daemon may not write (systemd's sandbox), a full disk.
                code = "storage_full" if exc.errno == errno.ENOSPC else "forbidden"
                raise ControlError(code, f"cannot write {dest}: {exc.strerror}") from None
        log.info(
            "backup written to %s: %d files, %d bytes, %d sessions",
            report.path,
            report.files,
            report.bytes,
            len(report.sessions),
        )
        return report.to_json()

    return {"backup": Spec(backup, ("path",))}
