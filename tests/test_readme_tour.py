"""The README's tour, run as a reader runs it: its blocks (each marked ``<!-- tour -->``)
pasted whole into one interactive bash, at the root of a "clone" whose ``.venv`` is the
environment these tests run in, against the real daemon it starts (simulator engine).

The tour must leave nothing behind and every step must work: the shell runs with
``-e`` and ``pipefail``, so the first failing command ends it, and the key outputs
are checked. A README edit that breaks a command fails here."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"<!-- tour -->\n```sh\n(.*?)\n```\n", re.S)

pytestmark = pytest.mark.slow


def tour_blocks() -> list[str]:
    return BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8"))


def test_the_tour_has_its_blocks_in_order() -> None:
    blocks = tour_blocks()
    assert len(blocks) >= 6
    assert "wad serve --engine simulator" in blocks[0] and "healthz" in blocks[0]
    assert 'rm -rf "$TOUR"' in blocks[-1]
    # Marked blocks are all fenced as sh (a marker before another fence would be lost).
    assert (ROOT / "README.md").read_text(encoding="utf-8").count("<!-- tour -->") == len(blocks)


@pytest.fixture
def leftovers(tmp_path: Path) -> Iterator[None]:
    """A tour that fails half-way leaves its daemon and receiver running (the shell's
    jobs are process groups of their own): end those, found by their folder in
    tmp_path, whatever happened."""
    yield
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if proc.name.isdigit() and str(tmp_path).encode() in cmdline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc.name), signal.SIGTERM)


@pytest.mark.usefixtures("leftovers")
def test_the_tour_runs_pasted_whole(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    clone.mkdir()
    (clone / ".venv").symlink_to(Path(sys.prefix))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("WAD_") and k not in ("RUNTIME_DIRECTORY", "STATE_DIRECTORY")
    }
    # The tour's own port is 3100 unless TOUR_HTTP says otherwise: parallel runs differ.
    env.update(TOUR_HTTP=f"127.0.0.1:{free_port()}", TMPDIR=str(scratch), HOME=str(tmp_path))
    script = "\n".join(tour_blocks()) + "\n"
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-i", "-e", "-o", "pipefail"],
        input=script,
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = done.stdout
    assert done.returncode == 0, f"{out[-3000:]}\n{done.stderr[-3000:]}"
    for expected in (
        '{"status":"ok"',
        "tour is waiting_qr",
        "tour is connected",
        '"message":"Hello from the tour"',  # the phone at the other end received it
        '"type":"image"',
        '"type":"document"',
        '"type":"location"',
        '"type":"contact"',
        '"type":"revoke"',
        "the received image is the one sent",
        '"exists":false',
        '"name":"Tour group"',
        '"event":"stream.open","resumed":true',
        "DEVICE ID  STATE",
        "hello through wadctl",
        '{"success":true,"message":"Session deleted"}',
        "the daemon stopped",
    ):
        assert expected in out, f"{expected!r} not in the tour's output:\n{out[-4000:]}"
    # The retried send answered the first send's id, twice the same.
    retried = re.findall(r'"id":"(\w+)","to":"15550002222@s.whatsapp.net","type":"text"', out)
    assert len(retried) != len(set(retried)), out
    # The receiver printed the event it was sent, with its webhook-id.
    assert re.search(
        r'^evt_\w+ \{"id":"evt_\w+","event":"message".*Is the webhook there', out, re.M
    )
    # It cleaned up: its temporary folder is gone, no daemon is left.
    assert list(scratch.iterdir()) == []
