"""The ``wad`` command: ``wad serve`` runs the daemon."""

from __future__ import annotations

import argparse
import contextlib
import functools
import sys
from pathlib import Path

import trio

from . import __version__, logs
from .config import ENGINES, Config, ConfigError, load


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wad", description="Self-hosted WhatsApp API daemon")
    p.add_argument("--version", action="version", version=f"wad {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the daemon")
    serve.add_argument("--config", type=Path, help="TOML configuration file")
    serve.add_argument("--state-dir", dest="state_dir", help="where wad.db and sessions live")
    serve.add_argument("--http", help="HOST:PORT to serve HTTP on (default 127.0.0.1:3000)")
    serve.add_argument("--engine", choices=ENGINES, help="neonize (default) or simulator")
    serve.add_argument("--control-socket", dest="control_socket", help="Unix socket path")
    serve.add_argument("--log-level", dest="log_level", help="DEBUG, INFO, WARNING or ERROR")
    serve.add_argument("--qr-interval", dest="qr_interval", type=float,
                       help="simulator: seconds between QR rotations")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    flags = {k: v for k, v in vars(args).items() if k not in ("command", "config")}
    try:
        config = load(flags, config_file=args.config)
    except ConfigError as exc:
        print(f"wad: {exc}", file=sys.stderr)
        return 2
    logs.setup(config.log_level)
    from .daemon import serve

    def reread() -> Config:
        return load(flags, config_file=args.config)

    with contextlib.suppress(KeyboardInterrupt):
        trio.run(functools.partial(serve, config, reread=reread))
    return 0


if __name__ == "__main__":
    sys.exit(main())
