"""The bash completion in contrib/ knows every wadctl command, and works in bash."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from wad.ctl.main import parser

COMPLETION = Path(__file__).resolve().parents[2] / "contrib" / "bash-completion" / "wadctl"


def _choices(p: argparse.ArgumentParser) -> set[str]:
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()


def _subparser(p: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]
    raise KeyError(name)


def _words(variable: str) -> set[str]:
    match = re.search(rf'local {variable}="([^"]*)"', COMPLETION.read_text())
    assert match, variable
    return set(match.group(1).split())


def test_every_command_and_sim_action_is_completed():
    p = parser()
    assert _words("commands") == _choices(p)
    assert _words("sim_actions") == _choices(_subparser(p, "sim"))


def complete(line: str) -> list[str]:
    """What bash offers for ``line`` (the cursor at its end)."""
    words = line.split(" ")
    script = (
        f"source {COMPLETION}\n"
        f"COMP_WORDS=({' '.join(repr(w) for w in words)})\n"
        f"COMP_CWORD={len(words) - 1}\n"
        "_wadctl\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(
        ["bash", "--norc", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    return sorted(w for w in done.stdout.split("\n") if w)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_completion_runs_in_bash():
    assert complete("wadctl si") == ["sim"]
    assert complete("wadctl --json re") == ["reload", "restart", "revoke-key"]
    assert complete("wadctl sim ") == sorted(_choices(_subparser(parser(), "sim")))
    assert complete("wadctl qr dev --") == ["--blocks", "--help", "--invert", "--once"]
    assert complete("wadctl qr dev --blocks ") == ["auto", "half", "sextant"]
    assert complete("wadctl log-level W") == ["WARNING"]
    assert complete("wadctl sim receipt dev msg ") == ["delivered", "played", "read"]
