"""The services' shape: each one calls the public lookup and the others' public
methods, never another object's privates; the core knows nothing of the simulator."""

from __future__ import annotations

import ast
from pathlib import Path

import wad

ROOT = Path(wad.__file__).parent
SERVICES = ROOT / "services"
# Everything that calls a service: the services themselves, the doors, the
# simulator's operations and routes, the built-in plugins.
CALLERS = [
    SERVICES,
    ROOT / "http",
    ROOT / "control",
    ROOT / "engines" / "simulator" / "operations.py",
    ROOT / "engines" / "simulator" / "control.py",
    ROOT / "engines" / "simulator" / "routes.py",
    ROOT.parent / "plugins",
]
# werkzeug's proxy names its one public accessor with an underscore.
ALLOWED = {"_get_current_object"}


def _modules(*places: Path) -> list[Path]:
    found: list[Path] = []
    for place in places:
        found.extend(sorted(place.rglob("*.py")) if place.is_dir() else [place])
    return found


def _private_reads(path: Path) -> list[str]:
    """``x._name`` where ``x`` is not ``self``, ``cls`` or ``super()``: reaching into
    another object."""
    reads = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Attribute):
            continue
        name = node.attr
        if not name.startswith("_") or name.startswith("__") or name in ALLOWED:
            continue
        if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
            continue
        if ast.unparse(node.value) == "super()":  # a subclass extending its own base
            continue
        reads.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    return reads


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_callers_reach_no_privates() -> None:
    modules = _modules(*CALLERS)
    assert len(modules) > 20  # the places above exist
    reads = [read for path in modules for read in _private_reads(path)]
    assert reads == []


def test_the_check_sees_a_private_read(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f(service, self):\n    return service._session(self._row)\n")
    assert _private_reads(sample) == ["sample.py:2: service._session"]


def test_core_services_do_not_know_the_simulator() -> None:
    for path in _modules(SERVICES):
        simulator = {name for name in _imports(path) if name.startswith("wad.engines.simulator")}
        assert simulator == set(), path


def test_service_modules_stay_small() -> None:
    sizes = {path.name: len(path.read_text().splitlines()) for path in _modules(SERVICES)}
    assert {name: size for name, size in sizes.items() if size > 400} == {}
    assert not (SERVICES / "service.py").exists() and not (SERVICES / "messaging.py").exists()
