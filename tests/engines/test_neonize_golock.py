"""The readers-writer discipline around neonize's Go library (wad.engines.neonize.golock),
under the real library, offline.

The stress load (``go_stress.py``: a dozen clients started, stopped and queried from many
threads at once in one process) runs in a process of its own: without the discipline Go
kills that process with its ``concurrent map`` fatal error within the time bound; with
it, the same load runs clean for the same time. ``WAD_GO_LOCK_OFF=1`` runs the second
test without the discipline, to see it fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from wad.engines.neonize.golock import RWLock

STRESS = Path(__file__).with_name("go_stress.py")
SECONDS = 20  # the unlocked run dies within ~1 s; the locked one runs 20 s clean
FATAL = "fatal error: concurrent map"
# Unlocked, the race ends the process one of several ways, each Go's runtime giving
# up: the map check usually, a torn map read sometimes (a nil dereference, a fault).
GO_CRASHES = (FATAL, "fatal error:", "panic:", "unexpected signal", "SIGSEGV")


def stress(folder: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(STRESS), str(folder), "--seconds", str(SECONDS), *flags],
        capture_output=True,
        text=True,
        timeout=SECONDS + 60,
    )


@pytest.mark.slow
def test_without_the_discipline_go_kills_the_process(tmp_path: Path) -> None:
    run = stress(tmp_path, "--unlocked")
    assert run.returncode != 0, run.stdout
    assert any(crash in run.stderr for crash in GO_CRASHES), run.stderr[-2000:]


@pytest.mark.slow
def test_with_the_discipline_the_same_load_runs_clean(tmp_path: Path) -> None:
    flags = ("--unlocked",) if os.environ.get("WAD_GO_LOCK_OFF") == "1" else ()
    run = stress(tmp_path, *flags)
    assert FATAL not in run.stderr
    assert run.returncode == 0, run.stderr[-2000:]
    counts = json.loads(run.stdout.splitlines()[-1])
    assert counts["connects"] >= 24 and counts["stops"] >= counts["connects"]


def _in_a_process(code: str) -> str:
    """Run ``code`` with the door installed, in a process of its own (a Go panic there
    must not end the test run); return its stdout."""
    prelude = "from wad.engines.neonize import golock\ngolock.install()\n"
    run = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


@pytest.mark.slow
def test_every_function_of_the_library_goes_through_the_door() -> None:
    out = _in_a_process(
        """
        from neonize._binder import gocode
        from neonize.client import NewClient
        names = [n for n, f in vars(gocode).items() if callable(f) and n[0].isupper()]
        unwrapped = [n for n in names if type(getattr(gocode, n)).__name__ != "_Wrapped"]
        print(sorted(unwrapped))
        # one looked up later (not declared by neonize) is wrapped too
        del gocode.__dict__["IsConnected"]
        print(type(gocode.IsConnected).__name__)
        # neonize's garbage-collection hook reaches Go through the same attribute
        client = NewClient(name="/nonexistent/x.db", uuid="gone")
        print(client._stop_finalizer.peek()[2][1] is gocode)
        """
    )
    assert out.splitlines() == [
        "['FreeBytesStruct', 'FreeString', 'GetVersion']",
        "_Wrapped",
        "True",
    ]


@pytest.mark.slow
def test_a_call_for_a_client_go_does_not_hold_is_refused_not_a_panic(tmp_path: Path) -> None:
    """GetMe on a uuid Go does not know dereferences nil and panics the process."""
    out = _in_a_process(
        f"""
        from neonize.client import NewClient
        from neonize.exc import NeonizeError
        client = NewClient(name={str(tmp_path / "w.db")!r}, uuid="nobody")
        client._stop_finalizer.detach()
        try:
            client.get_me()
        except NeonizeError as exc:
            print(type(exc).__name__)
        client.stop()  # Stop of an unknown client is fine in Go, and allowed
        print("stopped")
        """
    )
    assert out.splitlines() == ["GoRefused", "stopped"]


def test_a_writer_waits_for_readers_and_keeps_new_ones_out() -> None:
    lock = RWLock()
    lock.acquire_shared()
    order: list[str] = []
    writer = threading.Thread(
        target=lambda: (lock.acquire_exclusive(), order.append("writer"), lock.release_exclusive())
    )
    writer.start()
    while not lock.statistics()["writers_waiting"]:
        threading.Event().wait(0.001)
    reader = threading.Thread(
        target=lambda: (lock.acquire_shared(), order.append("reader"), lock.release_shared())
    )
    reader.start()
    assert order == []  # the writer waits for the first reader; the second waits behind it
    lock.release_shared()
    writer.join(5)
    reader.join(5)
    assert order == ["writer", "reader"]
    assert lock.statistics() == {"readers": 0, "writer": 0, "writers_waiting": 0}
