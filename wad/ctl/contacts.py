"""wadctl's commands for a session's contacts and blocklist: ``contacts SESSION
[QUERY]``, ``blocklist SESSION``, ``block SESSION JID``, ``unblock SESSION JID``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from wad.ctl import render
from wad.ctl.commands import Command, simple

__all__ = ["add"]

#: ``cmd(name, run, help, *positional)`` of wad.ctl.main: one subcommand.
AddCommand = Callable[..., argparse.ArgumentParser]


def contacts(result: dict[str, Any]) -> str:
    items = result["contacts"]
    if not items:
        return "no contacts"
    rows = [(c["jid"], c.get("name"), c.get("pushName"), c.get("businessName")) for c in items]
    text = render.table(("JID", "NAME", "PUSH NAME", "BUSINESS"), rows)
    if result.get("nextCursor"):
        text += f"\nmore: --cursor {result['nextCursor']}"
    return text


def blocklist(result: dict[str, Any]) -> str:
    return "\n".join(result["jids"]) or "nobody is blocked"


def _changed(verb: str) -> Callable[[dict[str, Any]], str]:
    return lambda result: f"{verb} {result['jid']}"


def add(cmd: AddCommand) -> None:
    dev = "device_id"
    listing: Command = simple(
        "contacts.list",
        contacts,
        deviceId=dev,
        query="query",
        limit="limit",
        cursor="cursor",
    )
    c = cmd("contacts", listing, "the session's contacts; QUERY searches names and numbers", dev)
    c.add_argument("query", nargs="?", help="part of a name, push name or number")
    c.add_argument("--limit", type=int)
    c.add_argument("--cursor", help="the next page (printed under a full one)")
    cmd(
        "blocklist",
        simple("contacts.blocklist", blocklist, deviceId=dev),
        "who the session's account has blocked",
        dev,
    )
    cmd(
        "block",
        simple("contacts.block", _changed("blocked"), deviceId=dev, jid="jid"),
        "block a contact (a phone number or a JID)",
        dev,
        "jid",
    )
    cmd(
        "unblock",
        simple("contacts.unblock", _changed("unblocked"), deviceId=dev, jid="jid"),
        "unblock a contact",
        dev,
        "jid",
    )
