"""What a plugin adds to ``wadctl`` (hook ``wad_ctl_commands``): a subcommand that
calls one control method and prints its result.

Declarative, so that a plugin needs nothing of wadctl's internals: wadctl
builds the subparser, asks ``arguments`` to add the command's arguments, calls
``method`` with ``params(args)`` (params that are ``None`` are left out), and
prints the answer as JSON with ``--json``, else as ``render(result)``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def no_arguments(parser: argparse.ArgumentParser) -> None:
    """A command that takes no arguments."""


def as_json(result: Any) -> str:
    return json.dumps(result, indent=2, ensure_ascii=False)


@dataclass(frozen=True)
class CtlCommand:
    name: str  # ``wadctl NAME ...``
    help: str  # one line, for ``wadctl --help``
    method: str  # the control method it calls
    params: Callable[[argparse.Namespace], dict[str, Any]]
    arguments: Callable[[argparse.ArgumentParser], None] = no_arguments
    render: Callable[[Any], str] = as_json
