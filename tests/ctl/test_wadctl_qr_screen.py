"""``wadctl qr`` as a phone sees it: drawn in an 80x24 tmux pane, the pane captured
(``tmux capture-pane``), its characters painted as pixels (light blocks white on a
dark terminal), and the picture decoded by zbarimg into the code the daemon shows.

A real WhatsApp code (``2@<ref>,<noise key>,<identity key>,<adv secret>``, about 240
characters) is QR version 9-10: 55-59 modules with the quiet zone, 28-30 lines in
half blocks, too tall for 24 lines; in sextants it takes 19-20 lines and 28-30
columns. Both sizes are decoded here, and the half blocks in a taller pane."""

from __future__ import annotations

import base64
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import ADMIN_TOKEN, Process, spawn_daemon
from PIL import Image, ImageDraw

from wad.ctl import render

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("zbarimg") is None or shutil.which("tmux") is None,
        reason="needs zbarimg and tmux (Debian's zbar-tools and tmux; bash .ci/run installs them)",
    ),
]

CELL_W, CELL_H = 6, 12  # pixels a character: a terminal cell is about twice as tall as wide
SEXTANT_ROWS = ((0, 4), (4, 8), (8, 12))
SEXTANT_COLS = ((0, 3), (3, 6))


def ink(ch: str) -> list[tuple[int, int, int, int]]:
    """The lit rectangles (x0, y0, x1, y1) of one cell showing ``ch``."""
    full = (0, 0, CELL_W, CELL_H)
    shapes = {
        "█": [full],
        "▀": [(0, 0, CELL_W, CELL_H // 2)],
        "▄": [(0, CELL_H // 2, CELL_W, CELL_H)],
        "▌": [(0, 0, CELL_W // 2, CELL_H)],
        "▐": [(CELL_W // 2, 0, CELL_W, CELL_H)],
    }
    if ch in shapes:
        return shapes[ch]
    for bits in range(1, 63):
        if render.sextant(bits) == ch:
            return [
                (x0, y0, x1, y1)
                for k in range(6)
                if bits >> k & 1
                for (y0, y1), (x0, x1) in [(SEXTANT_ROWS[k // 2], SEXTANT_COLS[k % 2])]
            ]
    return []  # text, spaces: the dark background


def screen_to_png(screen: str, path: Path) -> None:
    lines = screen.split("\n")
    width = max(len(line) for line in lines)
    image = Image.new("L", (width * CELL_W, len(lines) * CELL_H), 0)
    draw = ImageDraw.Draw(image)
    for row, line in enumerate(lines):
        for col, ch in enumerate(line):
            for x0, y0, x1, y1 in ink(ch):
                x, y = col * CELL_W, row * CELL_H
                draw.rectangle((x + x0, y + y0, x + x1 - 1, y + y1 - 1), fill=255)
    image.resize((image.width * 3, image.height * 3), Image.Resampling.NEAREST).save(path)


def zbar(path: Path) -> list[str]:
    done = subprocess.run(
        ["zbarimg", "--raw", "-q", "-Sdisable", "-Sqrcode.enable", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return [line for line in done.stdout.splitlines() if line]


class Pane:
    """A detached tmux server of the test's own, one pane of a given size."""

    def __init__(self, tmp_path: Path, columns: int, lines: int) -> None:
        self.socket = str(tmp_path / "tmux.sock")
        self.size = (str(columns), str(lines))
        self.env = {**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TERM": "xterm-256color"}

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-u", "-f", "/dev/null", "-S", self.socket, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def run(self, command: list[str]) -> str:
        """Run ``command`` in the pane; the screen once it has drawn and exited."""
        marker = "=qr-done="
        shell = shlex.join(command) + f"; echo {marker}; read line"
        self.tmux("new-session", "-d", "-x", self.size[0], "-y", self.size[1], "sh", "-c", shell)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # a process outside the test: poll its screen
            screen = self.tmux("capture-pane", "-p")
            if marker in screen:
                return screen.split(marker)[0]
            time.sleep(0.1)
        raise AssertionError(f"nothing drawn in 30 s:\n{screen}")

    def close(self) -> None:
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], env=self.env, check=False)


@pytest.fixture
def pane(tmp_path: Path) -> Iterator[Pane]:
    pane = Pane(tmp_path, 80, 24)
    yield pane
    pane.close()


def whatsapp_shaped() -> str:
    """A code shaped like WhatsApp's: a ref of 104 characters, then three 32-byte keys."""

    def b64(n: int) -> str:
        return base64.b64encode(os.urandom(n)).decode()

    return f"2@{b64(78)},{b64(32)},{b64(32)},{b64(32)}"


def draw_command(code: str, blocks: str = "auto") -> list[str]:
    """wadctl's own drawing (heading included) of any code, as ``wadctl qr`` prints it."""
    script = (
        "import argparse, sys; from wad.ctl.commands import Out, _draw_qr; "
        "_draw_qr(argparse.Namespace(once=True, blocks=sys.argv[2], invert=False, "
        "device_id='dev'), Out(False), sys.argv[1])"
    )
    return [sys.executable, "-c", script, code, blocks]


def check_screen(screen: str, code: str, tmp_path: Path, lines: int = 24) -> None:
    rows = screen.rstrip("\n").split("\n")
    assert len(rows) <= lines and all(len(r) <= 80 for r in rows)
    assert rows[0].startswith("Scan with WhatsApp"), screen  # the heading is on screen
    screen_to_png(screen, tmp_path / "screen.png")
    assert zbar(tmp_path / "screen.png") == [code], screen


def test_a_real_sized_code_fits_80x24_in_sextants(pane: Pane, tmp_path: Path) -> None:
    code = whatsapp_shaped()
    assert 235 <= len(code) <= 245
    columns, lines = render.qr_size(code, "half")
    assert (columns, lines) in ((55, 28), (59, 30))  # half blocks: too tall for 24 lines
    screen = pane.run(draw_command(code))
    assert "small blocks" in screen
    check_screen(screen, code, tmp_path)


def test_half_blocks_in_a_tall_pane(tmp_path: Path) -> None:
    code = whatsapp_shaped()
    tall = Pane(tmp_path, 80, 34)
    try:
        screen = tall.run(draw_command(code))
    finally:
        tall.close()
    assert "small blocks" not in screen
    assert set("".join(screen.split("\n")[1:])) <= set("▀▄█ ")
    check_screen(screen, code, tmp_path, lines=34)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Process]:
    process = spawn_daemon(tmp_path, "--engine", "simulator", "--qr-interval", "120")
    yield process
    process.stop()


def test_wadctl_qr_in_80x24_is_decoded(daemon: Process, pane: Pane, tmp_path: Path) -> None:
    api = httpx.Client(
        base_url=daemon.url + "/api", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert api.post("/sessions", json={"deviceId": "dev"}).status_code == 201
    for _ in range(100):
        qr = api.get("/sessions/dev/qr")
        if qr.status_code == 200:
            break
        time.sleep(0.05)  # the session starts pairing in the daemon's own time
    code = qr.json()["qrCode"]
    sock = str(tmp_path / "wad.sock")
    screen = pane.run(
        [sys.executable, "-m", "wad.ctl.main", "--socket", sock, "qr", "dev", "--once"]
    )
    assert "not redrawn" in screen
    check_screen(screen, code, tmp_path)


def test_half_blocks_of_a_real_sized_code_do_not_fit_80x24(pane: Pane, tmp_path: Path) -> None:
    """Why auto picks sextants on 24 lines: in half blocks the top of the code scrolls
    off the screen and no scanner can read what is left."""
    code = whatsapp_shaped()
    screen = pane.run(draw_command(code, "half"))
    assert not screen.startswith("Scan with WhatsApp")
    screen_to_png(screen, tmp_path / "cut.png")
    assert zbar(tmp_path / "cut.png") == []
