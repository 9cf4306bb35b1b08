"""Log lines: plain with syslog priorities under systemd's journal, else timestamped."""

from __future__ import annotations

import logging
import os
import sys

from wad.systemd.journal import JournalFormatter


def setup(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("JOURNAL_STREAM"):
        handler.setFormatter(JournalFormatter("%(name)s: %(message)s"))
    else:
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"
            )
        )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    set_level(level)
    # hypercorn's access log is per request: too loud at INFO for a gateway. So is
    # httpx's line per request it makes (webhook deliveries, a cluster's forwarded
    # requests), whose URLs may carry tokens besides.
    logging.getLogger("hypercorn.access").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)


def set_level(level: str) -> None:
    logging.getLogger().setLevel(level.upper())
