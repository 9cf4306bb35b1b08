"""The ``wad`` command: ``wad serve`` runs the daemon."""

from __future__ import annotations

import argparse
import contextlib
import errno
import functools
import logging
import os
import sys
from pathlib import Path

import trio

from wad import __version__
from wad.config import ENGINES, Config, ConfigError, load
from wad.control.socketfile import ControlSocketError
from wad.errors import StorageFull
from wad.lockfile import FolderLocked
from wad.runtime import logs


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wad", description="Self-hosted WhatsApp API daemon")
    p.add_argument("--version", action="version", version=f"wad {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the daemon")
    serve.add_argument("--config", type=Path, help="TOML configuration file")
    serve.add_argument("--state-dir", dest="state_dir", help="where wad.db and sessions live")
    serve.add_argument("--http", help="HOST:PORT to serve HTTP on (default 127.0.0.1:3000)")
    serve.add_argument(
        "--database", dest="database_url", help="postgresql://... (default: the embedded SQLite)"
    )
    serve.add_argument("--engine", choices=ENGINES, help="neonize (default) or simulator")
    serve.add_argument("--control-socket", dest="control_socket", help="Unix socket path")
    serve.add_argument("--log-level", dest="log_level", help="DEBUG, INFO, WARNING or ERROR")
    serve.add_argument(
        "--qr-interval",
        dest="qr_interval",
        type=float,
        help="simulator: seconds between QR rotations",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # Whatever the daemon, its libraries and its workers create (the database and its
    # WAL, whatsmeow's stores, media) is wad's user's alone; the control socket is
    # made group-accessible (0660) on purpose (wad.control.socketfile).
    os.umask(0o077)
    flags = {k: v for k, v in vars(args).items() if k not in ("command", "config")}
    try:
        config = load(flags, config_file=args.config)
    except ConfigError as exc:
        print(f"wad: {exc}", file=sys.stderr)
        return 2
    logs.setup(config.log_level)
    from wad.runtime.serve import serve

    def reread() -> Config:
        return load(flags, config_file=args.config)

    try:
        with contextlib.suppress(KeyboardInterrupt):
            trio.run(functools.partial(serve, config, reread=reread))
    except ConfigError as exc:  # found while starting (the admin token's file)
        logging.getLogger("wad").error("cannot start: %s", exc)
        return 2
    except Exception as exc:
        reason = _cannot_start(exc, config.http)
        if reason is None:
            raise
        logging.getLogger("wad").error("cannot start: %s", reason)
        return 1
    return 0


def _cannot_start(exc: BaseException, http: str) -> str | None:
    """A one-line reason when the daemon failed to start for a cause outside it (its
    control socket taken, its HTTP port in use, its state folder held by another daemon,
    a folder it may not write, a full disk), else None:
    a bug keeps its traceback."""
    if isinstance(exc, BaseExceptionGroup):
        reasons = [_cannot_start(e, http) for e in exc.exceptions]
        return "; ".join(r for r in reasons if r) if all(reasons) else None
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return f"{http} is already in use (choose another with --http HOST:PORT)"
    if isinstance(exc, ControlSocketError | FolderLocked | StorageFull | OSError):
        return str(exc)
    return None


if __name__ == "__main__":
    sys.exit(main())
