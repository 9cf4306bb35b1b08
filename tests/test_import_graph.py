"""The import graph: no cycle among wad's modules, and a neonize worker without trio.

Every import counts, also those under ``if TYPE_CHECKING:`` and those inside a
function: a cycle hidden there still ties the modules into one knot that can
only be understood, tested and moved together.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Source folder -> the package name it is installed as.
PACKAGES = {"wad": "wad", "plugins": "wad_plugins"}
#: What a neonize worker must never load: the daemon's libraries (README: footprint).
NOT_IN_WORKER = ("trio", "attrs", "sortedcontainers", "quart", "pluggy", "apsw", "hypercorn")


def module_files() -> dict[str, Path]:
    """Every module of wad and of the built-in plugins, by its dotted name."""
    found: dict[str, Path] = {}
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = [package, *path.relative_to(ROOT / folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imported(name: str, path: Path, known: set[str]) -> Iterator[str]:
    """The known modules that ``name`` imports, wherever in the file the import is."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from pkg import mod`` imports the module pkg.mod; ``from mod import x``
            # imports mod.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in known:  # ``import a.b.c`` of a known ``a.b``
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    known = set(files)
    return {name: set(imported(name, path, known)) for name, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as ``[a, b, ..., a]``, or None (depth-first, colouring nodes)."""
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(node: str) -> list[str] | None:
        path.append(node)
        on_path.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt in on_path:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in done:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        on_path.discard(node)
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


def test_the_graph_is_read() -> None:
    """The parser sees the imports it must: absolute, relative, under TYPE_CHECKING."""
    graph = import_graph()
    assert len(graph) > 60
    assert "wad.hooks.specs" in graph["wad.hooks.host"]
    assert "wad.hooks.api" in graph["wad.hooks.specs"]  # a TYPE_CHECKING import
    assert "wad_plugins.webhooks.db" in graph["wad_plugins.webhooks"]


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_doors_and_plugins_never_import_the_runtime() -> None:
    """HTTP, the control server, systemd, wadctl and the plugins see ``DaemonAPI``;
    only the CLI wires the daemon (``wad.runtime.serve``)."""
    graph = import_graph()
    doors = ("wad.http", "wad.control", "wad.systemd", "wad.ctl", "wad.hooks", "wad_plugins")
    offenders = {
        name: sorted(t for t in targets if t.startswith("wad.runtime"))
        for name, targets in graph.items()
        if name.startswith(doors)
    }
    assert {n: t for n, t in offenders.items() if t} == {}
    importers = sorted(n for n, targets in graph.items() if "wad.runtime.serve" in targets)
    assert importers == ["wad.cli"]


def test_the_worker_imports_no_trio() -> None:
    """``python -m wad.worker`` loads neither trio nor the daemon's other libraries."""
    probe = (
        "import sys, wad.worker, wad.engines.neonize.worker; "
        f"print(','.join(m for m in {NOT_IN_WORKER!r} if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "", f"the worker imports {done.stdout.strip()}"
