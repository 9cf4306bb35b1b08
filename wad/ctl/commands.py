"""What wadctl's commands do: call the daemon, print the answer (:class:`Out`), and
the commands that follow a stream (``qr``, ``events``). ``wad.ctl.main`` maps
them to arguments."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Callable
from typing import Any

from wad.ctl import render
from wad.ctl.client import Client, ClientError, socket_path

# wadctl's exit codes (documented in wad.ctl.main).
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_NOT_RUNNING, EXIT_NOT_FOUND, EXIT_REFUSED = range(6)
EXIT_INTERRUPTED = 130

EXIT_FOR_CODE = {
    "not_running": EXIT_NOT_RUNNING,
    "not_found": EXIT_NOT_FOUND,
    "refused": EXIT_REFUSED,
    "bad_request": EXIT_USAGE,
    "unknown_method": EXIT_USAGE,
}

Command = Callable[[argparse.Namespace, "Out"], int | None]


class Out:
    """Prints results: JSON for scripts (``--json``), else the human form."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def show(self, result: Any, human: Callable[[Any], str] | str | None = None) -> None:
        if self.as_json:
            print(json.dumps(result, indent=2, ensure_ascii=False), flush=True)
        elif callable(human):
            print(human(result), flush=True)
        elif human is not None:
            print(human, flush=True)

    def line(self, obj: Any, human: str) -> None:
        print(json.dumps(obj, ensure_ascii=False) if self.as_json else human, flush=True)


def client_for(args: argparse.Namespace, timeout: float | None = None) -> Client:
    return Client(
        socket_path(args.socket, args.state_dir),
        timeout=args.timeout if timeout is None else timeout,
    )


def call(args: argparse.Namespace, method: str, **params: Any) -> Any:
    with client_for(args) as client:
        return client.call(method, **{k: v for k, v in params.items() if v is not None})


def simple(method: str, human: Callable[[Any], str] | str | None = None, **fields: str) -> Command:
    """A command that calls ``method`` with params taken from argument names."""

    def run(args: argparse.Namespace, out: Out) -> None:
        params = {param: getattr(args, attr) for param, attr in fields.items()}
        out.show(call(args, method, **params), human)

    return run


def cmd_qr(args: argparse.Namespace, out: Out) -> int:
    """Draw the QR, redraw it on rotation, until the session connects (or Ctrl-C)."""
    device = args.device_id
    with client_for(args, timeout=None) as events, client_for(args) as client:
        stream = events.subscribe(deviceId=device, events=["session.qr", "session.status"])
        session = client.call("sessions.get", deviceId=device)["session"]
        state = session["connectionState"]
        if state == "connected":
            out.line({"deviceId": device, "state": state}, f"{device} is already connected")
            return EXIT_OK
        if state in ("stopped", "logged_out"):
            raise _at_rest(device, state)
        try:
            _draw_qr(args, out, client.call("sessions.qr", deviceId=device)["qrCode"])
        except ClientError as exc:
            if exc.code != "conflict":
                raise
            out.line(
                {"deviceId": device, "state": state}, f"waiting for a QR code ({device} is {state})"
            )
            _waiting(out, device, state, session.get("lastError"))
        if args.once:
            return EXIT_OK
        for event in stream:
            payload = event["payload"]
            if event["event"] == "session.qr" and payload.get("qrCode"):
                _draw_qr(args, out, payload["qrCode"])
            elif event["event"] == "session.qr" and payload.get("pairCode"):
                out.line(payload, f"pairing code: {payload['pairCode']}")
            elif event["event"] == "session.status":
                state = payload["state"]
                if state == "connected":
                    out.line(
                        {"deviceId": device, "state": state, **payload},
                        f"{device} connected as {payload.get('phoneNumber') or '?'}",
                    )
                    return EXIT_OK
                if state in ("stopped", "logged_out"):
                    raise _at_rest(device, state)
                _waiting(out, device, state, payload.get("lastError"))
    return EXIT_ERROR


def _waiting(out: Out, device: str, state: str, error: str | None) -> None:
    """While there is no QR, why: a session that keeps failing says so each time."""
    if error:
        out.line(
            {"deviceId": device, "state": state, "lastError": error},
            f"waiting: {error} ({device} is {state})",
        )


def _at_rest(device: str, state: str) -> ClientError:
    return ClientError(
        "conflict", f"{device} is {state}: run 'wadctl restart {device}' for a new QR"
    )


def _draw_qr(args: argparse.Namespace, out: Out, code: str) -> None:
    if out.as_json:
        out.line({"qrCode": code}, "")
        return
    clear = "\x1b[2J\x1b[H" if sys.stdout.isatty() else ""
    then = "shown once, not redrawn" if args.once else "redrawn when it rotates, Ctrl-C to stop"
    blocks = qr_blocks(args.blocks, code)
    head = f"Scan with WhatsApp > Linked devices for {args.device_id} ({then}):"
    if blocks == "sextant":
        _, lines = render.qr_size(code, "half")
        head += f"\n(small blocks; if they show as boxes: --blocks half, {lines + 2} lines)"
    print(f"{clear}{head}", flush=True)
    print(render.qr_text(code, invert=args.invert, blocks=blocks), flush=True)


def qr_blocks(choice: str, code: str) -> str:
    """``auto``: half blocks (square modules, in every terminal font) when the code and
    its heading fit the terminal's height, else sextants, a third fewer lines: a real
    WhatsApp code (about 240 characters, QR version 9-10, 55-59 modules with the quiet
    zone) takes 28-30 lines in half blocks, 19-20 in sextants. Not a terminal: 80x24."""
    if choice != "auto":
        return choice
    _, lines = render.qr_size(code, "half")
    # The heading, the code, and the line the cursor ends on.
    return "half" if lines + 2 <= shutil.get_terminal_size((80, 24)).lines else "sextant"


def cmd_events(args: argparse.Namespace, out: Out) -> int:
    params: dict[str, Any] = {}
    if args.session:
        params["deviceId"] = args.session
    if args.type:
        params["events"] = args.type
    with client_for(args, timeout=None) as client:
        for event in client.subscribe(**params):
            out.line(event, render.event(event))
    return EXIT_OK


def cmd_key(args: argparse.Namespace, out: Out) -> None:
    result = call(args, "keys.set", deviceId=args.device_id, apiKey=args.custom)
    out.show(result, result["apiKey"])


def cmd_set(args: argparse.Namespace, out: Out) -> None:
    """``wadctl set DEVICE rejectCalls=true newContactDailyCap=50 ...``: each value read
    as JSON when it is JSON (true, 50, null), else as a string."""
    changes: dict[str, Any] = {}
    for item in args.settings:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise ClientError("bad_request", f"expected NAME=VALUE, not {item!r}")
        try:
            changes[name] = json.loads(raw)
        except ValueError:
            changes[name] = raw
    result = call(args, "sessions.update", deviceId=args.device_id, **changes)
    out.show(result, lambda r: render.pairs(r["session"]))


def cmd_call(args: argparse.Namespace, out: Out) -> None:
    try:
        params = json.loads(args.params)
    except ValueError as exc:
        raise ClientError("bad_request", f"PARAMS is not JSON: {exc}") from None
    if not isinstance(params, dict):
        raise ClientError("bad_request", "PARAMS must be a JSON object")
    out.show(call(args, args.method, **params), lambda r: json.dumps(r, indent=2))


def ok(text: str) -> Callable[[Any], str]:
    """The human form of a command whose answer says nothing more than that it worked."""
    return lambda result: text
