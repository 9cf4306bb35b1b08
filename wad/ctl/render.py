"""What wadctl prints for people: tables, key/value blocks, events, QR codes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import qrcode

#: Two QR rows per text line: (top dark, bottom dark) -> character, for a dark
#: terminal (light modules drawn, dark ones left as the background).
_HALF = {(True, True): " ", (True, False): "▄", (False, True): "▀", (False, False): "█"}
#: The quiet zone, in modules. One is what phone scanners (WhatsApp's among them)
#: need in practice on a terminal, and every two modules cost a line of an 80x24 screen.
QR_BORDER = 1
#: Longest cell of a table before it is shortened with "…" (``wadctl show ID`` and
#: ``--json`` print whole values).
CELL_MAX = 48


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in cells:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "-"
    return str(value)


def pairs(data: dict[str, Any]) -> str:
    width = max((len(k) for k in data), default=0)
    return "\n".join(f"{k.ljust(width)}  {_cell(v)}" for k, v in data.items())


def sessions(items: list[dict[str, Any]]) -> str:
    if not items:
        return "no sessions"
    return table(
        ("DEVICE ID", "STATE", "PHONE", "API KEY", "CREATED", "LAST ERROR"),
        [
            (
                s["deviceId"],
                state_text(s),
                s.get("phoneNumber"),
                s.get("hasApiKey"),
                s.get("createdAt"),
                _short(s.get("lastError")),
            )
            for s in items
        ],
    )


def state_text(session: dict[str, Any]) -> str:
    """The state, and what qualifies it: ``connected (degraded)``, ``banned until ...``."""
    text = str(session["connectionState"])
    if session.get("degraded"):
        text += " (degraded)"
    if session.get("bannedUntil"):
        text += f" until {session['bannedUntil']}"
    return text


def _short(value: str | None) -> str | None:
    if value is None or len(value) <= CELL_MAX:
        return value
    return value[: CELL_MAX - 1] + "…"


def messages(items: list[dict[str, Any]]) -> str:
    if not items:
        return "no messages"
    return table(
        ("CREATED", "DIR", "PEER", "TYPE", "STATUS", "ID", "BODY"),
        [
            (
                m.get("createdAt"),
                m.get("direction"),
                m.get("peer"),
                m.get("type"),
                m.get("status"),
                m.get("id"),
                _short(m.get("body") or m.get("error")),
            )
            for m in items
        ],
    )


def records(items: list[dict[str, Any]]) -> str:
    """A table of any list of flat objects: a column for each key holding a plain value."""
    if not items:
        return "none"
    keys = list(
        dict.fromkeys(
            k for item in items for k, v in item.items() if isinstance(v, str | int | float | None)
        )
    )
    rows = [[_short(_text(item.get(k))) for k in keys] for item in items]
    return table([k.upper() for k in keys], rows)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def duration(seconds: float) -> str:
    """``1m 3s``, ``2h 5m``, ``3d 4h``; under a minute with a tenth (``4.2 s``)."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s"


def status(data: dict[str, Any]) -> str:
    head = {k: v for k, v in data.items() if k != "sessions"}
    if isinstance(head.get("uptime"), int | float):
        head["uptime"] = duration(head["uptime"])
    counts = data.get("sessions", {})
    lines = [pairs(head), "sessions:"]
    lines += [f"  {state}: {n}" for state, n in counts.items()]
    return "\n".join(lines)


def plugins(items: list[dict[str, Any]]) -> str:
    return table(
        ("NAME", "VERSION", "BUILT-IN", "HOOKS"),
        [(p["name"], p.get("version"), p.get("builtin"), p.get("hooks")) for p in items],
    )


def event(ev: dict[str, Any]) -> str:
    payload = ev.get("payload", {})
    if ev.get("event") == "session.status":
        detail = payload.get("state", "")
        if payload.get("lastError"):
            detail += f" ({payload['lastError']})"
    elif ev.get("event") == "session.qr":
        detail = f"pair code {payload['pairCode']}" if payload.get("pairCode") else "new QR code"
    else:
        detail = " ".join(
            f"{k}={v}"
            for k, v in payload.items()
            if isinstance(v, str | int | float) and k != "media"
        )
    return (
        f"{ev.get('timestamp', '')} {ev.get('session', '')} #{ev.get('seq', '')} "
        f"{ev.get('event', '')} {detail}".rstrip()
    )


def qr_matrix(code: str) -> list[list[bool]]:
    """The QR code's modules (True = dark), quiet zone included."""
    qr = qrcode.QRCode(border=QR_BORDER, error_correction=qrcode.constants.ERROR_CORRECT_L)
    qr.add_data(code)
    qr.make(fit=True)
    return qr.get_matrix()


def qr_text(code: str, invert: bool = False, blocks: str = "half") -> str:
    """The code drawn with ``blocks``: ``half`` (two module rows a line, square modules)
    or ``sextant`` (two columns and three rows a character: a third fewer lines, for a
    real WhatsApp code on 24 lines). Light modules are drawn, so it reads on a dark
    terminal; ``invert`` draws the dark ones (for light terminals)."""
    matrix = qr_matrix(code)
    if invert:
        matrix = [[not m for m in row] for row in matrix]
    if blocks == "sextant":
        return _sextants(matrix)
    if len(matrix) % 2:
        matrix.append(list(matrix[0]))  # one more row of quiet zone
    return "\n".join(
        "".join(_HALF[top, bottom] for top, bottom in zip(upper, lower, strict=True))
        for upper, lower in zip(matrix[::2], matrix[1::2], strict=True)
    )


def qr_size(code: str, blocks: str = "half") -> tuple[int, int]:
    """(columns, lines) the drawing of ``code`` takes."""
    modules = len(qr_matrix(code))
    if blocks == "sextant":
        return -(-modules // 2), -(-modules // 3)
    return modules, -(-modules // 2)


def sextant(bits: int) -> str:
    """The character whose sextants ``bits`` are inked: bit 0 top left, 1 top right,
    2 middle left, 3 middle right, 4 bottom left, 5 bottom right. Unicode's sextant
    block (U+1FB00) leaves out the four patterns that older blocks already have."""
    if bits == 0:
        return " "
    if bits == 0b111111:
        return "█"
    if bits == 0b010101:
        return "▌"
    if bits == 0b101010:
        return "▐"
    return chr(0x1FB00 + bits - 1 - (bits > 0b010101) - (bits > 0b101010))


def _sextants(matrix: list[list[bool]]) -> str:
    light_row = [False] * len(matrix[0])  # quiet zone: light, drawn
    rows = matrix + [light_row] * (-len(matrix) % 3)
    rows = [row + [False] * (len(row) % 2) for row in rows]
    lines = []
    for top in range(0, len(rows), 3):
        chars = []
        for left in range(0, len(rows[0]), 2):
            bits = 0
            for k, (dy, dx) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1))):
                if not rows[top + dy][left + dx]:  # light modules are the ink
                    bits |= 1 << k
            chars.append(sextant(bits))
        lines.append("".join(chars))
    return "\n".join(lines)


def groups(items: list[dict[str, Any]]) -> str:
    """A session's groups: id, subject, how many participants, how many admins."""
    rows = [
        (
            g.get("id"),
            g.get("name"),
            len(g.get("participants", [])),
            sum(1 for p in g.get("participants", []) if p.get("isAdmin") or p.get("isSuperAdmin")),
        )
        for g in items
    ]
    return table(("GROUP", "SUBJECT", "PARTICIPANTS", "ADMINS"), rows) if rows else "no groups"
