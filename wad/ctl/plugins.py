"""The ``wadctl`` commands that plugins add (hook ``wad_ctl_commands``).

wadctl loads the plugins through the same ``wad.plugins`` entry points as the
daemon, in its own process, without starting anything. A plugin that cannot
be loaded costs only its own commands (with a warning), not the whole of
wadctl, and a plugin's command can never replace one of wadctl's.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any, Protocol

from wad.hooks import calls
from wad.hooks.commands import CtlCommand
from wad.hooks.host import PluginHost


class Printer(Protocol):
    """wadctl's output: JSON with ``--json``, else the human form."""

    def show(self, result: Any, human: Callable[[Any], str] | str | None = None) -> None: ...


#: Runs a command: the parsed arguments and the printer, an exit code or None (0).
Runner = Callable[[argparse.Namespace, Printer], int | None]
#: Calls a control method with params (``None`` values left out) and gives its result.
Caller = Callable[[argparse.Namespace, str, dict[str, Any]], Any]


def warn(text: str) -> None:
    print(f"wadctl: {text}", file=sys.stderr)


def load() -> list[CtlCommand]:
    """Every enabled plugin's commands."""
    host = PluginHost()
    for ep in host.entry_points():
        try:
            host.load_entry_point(ep)
        except Exception as exc:  # a broken third-party plugin must not break wadctl
            warn(f"plugin {ep.name} not loaded, its commands are missing: {exc}")
    return calls.ctl_commands(host)


def names_own_command(argv: Sequence[str], own: argparse.ArgumentParser) -> bool:
    """Whether ``argv`` names one of wadctl's own commands (those of ``own``), which
    need no plugin: loading the plugins imports them, and the libraries they use."""
    pre = argparse.ArgumentParser(add_help=False)
    for option in ("--socket", "--state-dir", "--timeout"):
        pre.add_argument(option)
    pre.add_argument("--json", action="store_true")
    pre.add_argument("command", nargs="?")
    known, _ = pre.parse_known_args(argv)
    return known.command in subcommands(own)


def subcommands(parser: argparse.ArgumentParser) -> set[str]:
    # argparse has no public way to list a parser's subcommands.
    return {
        name
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
        for name in action.choices
    }


def add(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    commands: Iterable[CtlCommand],
    taken: Collection[str],
    call: Caller,
    parents: Sequence[argparse.ArgumentParser] = (),
) -> None:
    """A subparser for each command whose name is free."""
    for command in commands:
        if command.name in taken or command.name in sub.choices:
            warn(f"a plugin's command {command.name!r} is already defined; skipped")
            continue
        parser = sub.add_parser(command.name, help=command.help, parents=list(parents))
        command.arguments(parser)
        parser.set_defaults(run=_runner(command, call))


def _runner(command: CtlCommand, call: Caller) -> Runner:
    def run(args: argparse.Namespace, out: Printer) -> None:
        out.show(call(args, command.method, command.params(args)), command.render)

    return run
