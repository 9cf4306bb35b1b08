"""``wadctl``: the administrator's command line, a client of the daemon's control socket.

Exit codes (stable, for scripts):

====  ===============================================================
0     success
1     the daemon refused the operation (conflict, bad config, ...) or failed
2     bad usage: wrong arguments, or params the daemon rejected
3     the daemon is not running (no socket, or nobody listening on it)
4     not found (no such session, key, webhook, ...)
5     access refused (the socket's permissions, or its uid check)
130   interrupted (Ctrl-C)
====  ===============================================================

What each command does is in :mod:`wad.ctl.commands`; here, its arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from wad import __version__
from wad.ctl import cluster, contacts, plugins, render
from wad.ctl.backup import cmd_backup
from wad.ctl.client import ClientError
from wad.ctl.commands import (
    EXIT_ERROR,
    EXIT_FOR_CODE,
    EXIT_INTERRUPTED,
    EXIT_NOT_FOUND,
    EXIT_NOT_RUNNING,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    Command,
    Out,
    call,
    cmd_call,
    cmd_events,
    cmd_key,
    cmd_qr,
    cmd_set,
    ok,
    simple,
)
from wad.hooks.commands import CtlCommand
from wad.sessions.event_types import EVENT_TYPES, LIVE_TYPES

# Imported by name from here by scripts and tests: the exit codes and the printer.
__all__ = [
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_FOUND",
    "EXIT_NOT_RUNNING",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_USAGE",
    "Out",
    "main",
    "parser",
]


#: ``--json`` after the command too (``wadctl sessions --json``), as after wadctl
#: itself; SUPPRESS keeps the value given before the command when it is absent here.
JSON_AFTER = argparse.ArgumentParser(add_help=False)
JSON_AFTER.add_argument(
    "--json", action="store_true", default=argparse.SUPPRESS, help="print JSON, for scripts"
)


def parser(commands: Sequence[CtlCommand] | None = None) -> argparse.ArgumentParser:
    """wadctl's arguments, with ``commands`` from plugins (None: load the plugins)."""
    p = argparse.ArgumentParser(
        prog="wadctl", description="Control a running wad daemon through its Unix socket."
    )
    p.add_argument("--version", action="version", version=f"wadctl {__version__}")
    p.add_argument(
        "--socket",
        help="control socket path (default: $WAD_CONTROL_SOCKET, "
        "else $RUNTIME_DIRECTORY/wad.sock, else <state dir>/wad.sock)",
    )
    p.add_argument(
        "--state-dir",
        dest="state_dir",
        help="the daemon's --state-dir (default: $WAD_STATE_DIR, else the default folder)",
    )
    p.add_argument("--json", action="store_true", help="print JSON, for scripts")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for an answer")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def cmd(name: str, run: Command, help_: str, *args: str) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help_, parents=[JSON_AFTER])
        for arg in args:
            c.add_argument(arg)
        c.set_defaults(run=run)
        return c

    dev = "device_id"
    cmd("status", simple("status", render.status), "daemon version, uptime, sessions by state")
    cmd(
        "sessions",
        simple("sessions.list", lambda r: render.sessions(r["sessions"])),
        "list sessions",
    )
    cmd(
        "show",
        simple("sessions.get", lambda r: render.pairs(r["session"]), deviceId=dev),
        "one session",
        dev,
    )
    cmd(
        "create",
        simple("sessions.create", ok("created"), deviceId=dev),
        "create a session (it starts pairing)",
        dev,
    )
    cmd(
        "delete",
        simple("sessions.delete", ok("deleted"), deviceId=dev),
        "delete a session and all its data",
        dev,
    )
    cmd(
        "logout",
        simple("sessions.logout", ok("logged out"), deviceId=dev),
        "unlink the device, keep the session",
        dev,
    )
    cmd(
        "restart",
        simple("sessions.restart", ok("restarting"), deviceId=dev),
        "reconnect now (a new QR after logout)",
        dev,
    )
    cmd(
        "ids",
        simple("sessions.ids", render.pairs, deviceId=dev, jid="jid"),
        "a person's phone-number JID and LID, from either (or a phone number)",
        dev,
        "jid",
    )
    settings = cmd(
        "set",
        cmd_set,
        "change a session's settings: NAME=VALUE (rejectCalls=true, newContactDailyCap=50)",
        dev,
    )
    settings.add_argument("settings", nargs="+", metavar="NAME=VALUE")
    key = cmd("key", cmd_key, "set the session's API key (printed once)", dev)
    key.add_argument("--custom", metavar="KEY", help="use this key instead of a generated one")
    cmd(
        "revoke-key",
        simple("keys.revoke", ok("revoked"), deviceId=dev),
        "revoke the session's API key",
        dev,
    )
    qr = cmd("qr", cmd_qr, "draw the QR code until the session connects", dev)
    qr.add_argument("--once", action="store_true", help="draw the current QR and exit")
    qr.add_argument("--invert", action="store_true", help="for terminals with a light background")
    qr.add_argument(
        "--blocks",
        choices=("auto", "half", "sextant"),
        default="auto",
        help="half: two modules a character, square; sextant: six, a third fewer lines "
        "(auto: half when it fits the terminal's height)",
    )
    cmd(
        "pair-code",
        simple("sessions.pair_code", lambda r: r["code"], deviceId=dev, phoneNumber="phone"),
        "link by phone number: print the code to type on the phone",
        dev,
        "phone",
    )
    msgs = cmd(
        "messages",
        simple(
            "sessions.messages",
            lambda r: render.messages(r["messages"]),
            deviceId=dev,
            direction="direction",
            limit="limit",
        ),
        "messages in and out, newest first",
        dev,
    )
    msgs.add_argument("--direction", choices=("in", "out"))
    msgs.add_argument("--limit", type=int)
    contacts.add(cmd)
    cmd(
        "groups",
        simple("groups.list", lambda r: render.groups(r["groups"]), deviceId=dev),
        "the session's groups: subject, participants",
        dev,
    )
    ev = cmd("events", cmd_events, "follow the event stream (Ctrl-C to stop)")
    ev.add_argument("--session", metavar="ID", help="only this session's events")
    ev.add_argument(
        "--type", action="append", choices=EVENT_TYPES + LIVE_TYPES, help="only these types"
    )
    cmd(
        "plugins",
        simple("plugins.list", lambda r: render.plugins(r["plugins"])),
        "loaded plugins and their hooks",
    )
    cmd("reload", simple("reload", ok("reloaded")), "re-read the configuration (as SIGHUP)")
    cmd(
        "log-level",
        simple("log_level.set", lambda r: f"log level {r['level']}", level="level"),
        "change the daemon's log level",
        "level",
    )
    cmd(
        "rotate-admin-token",
        simple("admin_token.rotate", lambda r: r["adminToken"]),
        "replace the REST admin token; the new one is printed once",
    )
    cluster.add(cmd)
    cmd(
        "backup",
        cmd_backup,
        "write a consistent backup of the state folder (a new folder, or .tar/.tar.gz)",
        "path",
    )
    plugins.add(
        sub,
        plugins.load() if commands is None else commands,
        taken=("call", "sim"),
        call=lambda args, method, params: call(args, method, **params),
        parents=[JSON_AFTER],
    )
    raw = cmd("call", cmd_call, "call any control method with JSON params", "method")
    raw.add_argument("params", nargs="?", default="{}", help="a JSON object")
    _sim_parser(sub.add_parser("sim", help="the simulator's virtual phone", parents=[JSON_AFTER]))
    return p


def _sim_parser(sim: argparse.ArgumentParser) -> None:
    dev = "device_id"
    sub = sim.add_subparsers(dest="sim_command", required=True, metavar="ACTION")

    def act(name: str, run: Command, help_: str, *args: str) -> None:
        c = sub.add_parser(name, help=help_, parents=[JSON_AFTER])
        for arg in args:
            c.add_argument(arg)
        c.set_defaults(run=run)

    act(
        "scan",
        simple("sim.scan", ok("scanned"), deviceId=dev, phoneNumber="phone"),
        "the phone scans the QR code",
        dev,
        "phone",
    )
    act(
        "incoming",
        simple(
            "sim.incoming",
            lambda r: r["waId"],
            deviceId=dev,
            **{"from": "sender", "message": "text"},
        ),
        "a phone writes to the session",
        dev,
        "sender",
        "text",
    )
    act("drop", simple("sim.drop", ok("dropped"), deviceId=dev), "the connection drops", dev)
    act(
        "unlink",
        simple("sim.unlink", ok("unlinked"), deviceId=dev),
        "the phone removes the linked device",
        dev,
    )
    act(
        "receipt",
        simple(
            "sim.receipt",
            ok("receipt delivered"),
            deviceId=dev,
            messageId="message_id",
            status="status",
        ),
        "report a sent message delivered, read or played",
        dev,
        "message_id",
        "status",
    )
    act(
        "enter-code",
        simple("sim.enter_code", ok("linked"), deviceId=dev, code="code"),
        "the phone's user types the pairing code",
        dev,
        "code",
    )
    act(
        "sent",
        simple("sim.sent", lambda r: render.records(r["messages"]), deviceId=dev),
        "what the session sent",
        dev,
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    core = parser(())
    args = (core if plugins.names_own_command(argv, core) else parser()).parse_args(argv)
    out = Out(args.json)
    try:
        code = args.run(args, out)
        return EXIT_OK if code is None else code
    except ClientError as exc:
        hint = (
            " (the sim commands need a daemon run with --engine simulator)"
            if exc.code == "unknown_method" and args.command == "sim"
            else ""
        )
        print(f"wadctl: {exc.message}{hint}", file=sys.stderr)
        return EXIT_FOR_CODE.get(exc.code, EXIT_ERROR)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        sys.stderr.close()  # the reader went away (wadctl events | head): not an error
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
