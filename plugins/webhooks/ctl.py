"""The webhook plugin's ``wadctl`` commands (hook ``wad_ctl_commands``), each a call
of one of its control methods (:mod:`.control`).

wadctl loads this module with the plugin, in its own process: it imports
nothing of the daemon's libraries.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from wad.ctl.render import table
from wad.hooks import CtlCommand
from wad.sessions.event_types import EVENT_TYPES


def listing(items: list[dict[str, Any]]) -> str:
    if not items:
        return "no webhooks"
    return table(
        ("ID", "URL", "EVENTS", "ENABLED"),
        [(w["id"], w["url"], w.get("events") or "all", w.get("enabled")) for w in items],
    )


def _positional(*names: str) -> Callable[[argparse.ArgumentParser], None]:
    def arguments(parser: argparse.ArgumentParser) -> None:
        for name in names:
            parser.add_argument(name)

    return arguments


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    _positional("device_id", "url")(parser)
    parser.add_argument("--events", help=f"comma-separated, of: {', '.join(EVENT_TYPES)}")


def _add_params(args: argparse.Namespace) -> dict[str, Any]:
    events = [e.strip() for e in args.events.split(",") if e.strip()] if args.events else None
    return {"deviceId": args.device_id, "url": args.url, "events": events}


def _added(result: dict[str, Any]) -> str:
    hook = result["webhook"]
    return f"webhook {hook['id']} added; its signing secret (shown only now):\n{hook.get('secret')}"


def commands() -> list[CtlCommand]:
    return [
        CtlCommand(
            "webhooks",
            "list a session's webhooks",
            "webhooks.list",
            params=lambda args: {"deviceId": args.device_id},
            arguments=_positional("device_id"),
            render=lambda result: listing(result["webhooks"]),
        ),
        CtlCommand(
            "webhook-add",
            "add a webhook (its secret is printed once)",
            "webhooks.create",
            params=_add_params,
            arguments=_add_arguments,
            render=_added,
        ),
        CtlCommand(
            "webhook-rm",
            "remove a webhook",
            "webhooks.delete",
            params=lambda args: {"deviceId": args.device_id, "webhookId": args.webhook_id},
            arguments=_positional("device_id", "webhook_id"),
            render=lambda result: "removed",
        ),
    ]
