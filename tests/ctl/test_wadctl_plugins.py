"""wadctl commands from plugins (hook ``wad_ctl_commands``): found through the entry
points without a daemon, run against a real one, never replacing wadctl's own."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import trio
from conftest import Running
from testplugins.figures import FiguresPlugin

from wad.ctl import plugins
from wad.ctl.main import Out, parser


def test_the_webhook_commands_come_from_the_plugin() -> None:
    commands = {c.name: c for c in plugins.load()}
    assert {"webhooks", "webhook-add", "webhook-rm"} <= commands.keys()
    assert commands["webhook-add"].method == "webhooks.create"
    assert "webhook-add" not in _names(parser(()))  # not wadctl's own any more
    assert "webhook-add" in _names(parser())


def test_a_plugin_cannot_replace_a_command(capsys: pytest.CaptureFixture[str]) -> None:
    p = parser(FiguresPlugin().wad_ctl_commands())
    assert "a plugin's command 'status' is already defined" in capsys.readouterr().err
    assert p.parse_args(["status"]).run.__qualname__.startswith("simple")
    assert p.parse_args(["recent", "dev1"]).device_id == "dev1"


async def test_a_plugin_command_calls_its_method(
    wad: Running, capsys: pytest.CaptureFixture[str]
) -> None:
    await wad.connected_key("dev1")
    with wad.daemon.events.subscribe() as events:
        for i in range(3):
            wad.engine.link("dev1").deliver("15550002222", f"in {i}")
        stored = 0
        async for event in events:
            stored += event.type == "message"
            if stored == 3:
                break
    sock = str(wad.daemon.config.control_socket_path())
    p = parser(FiguresPlugin().wad_ctl_commands())
    capsys.readouterr()
    for argv, human in (
        (["recent", "dev1", "--limit", "2"], True),
        (["--json", "recent", "dev1"], False),
    ):
        args = p.parse_args(["--socket", sock, *argv])
        await trio.to_thread.run_sync(args.run, args, Out(args.json))
        printed = capsys.readouterr().out
        if human:
            assert printed == "2 messages\n"
        else:
            assert len(json.loads(printed)["messages"]) == 3


def test_a_core_command_loads_no_plugin(tmp_path) -> None:
    """wadctl's own commands start without importing any plugin (a second saved)."""
    probe = (
        "import sys; from wad.ctl.main import main; "
        f"code = main(['--socket', {str(tmp_path / 'none.sock')!r}, 'status']); "
        "print(code, sorted(m for m in sys.modules if m.startswith(('wad_plugins', 'quart'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split("\n")[0] == "3 []"  # not running; nothing of the plugins


def _names(p) -> set[str]:
    return plugins.subcommands(p)
