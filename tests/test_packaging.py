"""pyproject lists every package (setuptools warns at install about a folder it does
not, and leaves it out of a wheel)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def folders(top: Path, name: str) -> set[str]:
    found = {name}
    for path in top.rglob("*"):
        # A folder with files of its own (one left with only __pycache__ after a move
        # is not a package).
        if (
            path.is_dir()
            and "__pycache__" not in path.parts
            and any(child.is_file() for child in path.iterdir())
        ):
            found.add(".".join([name, *path.relative_to(top).parts]))
    return found


def test_every_folder_of_wad_and_the_builtin_plugins_is_a_listed_package() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["package-dir"] == {"wad_plugins": "plugins"}
    expected = folders(ROOT / "wad", "wad") | folders(ROOT / "plugins", "wad_plugins")
    assert sorted(setuptools["packages"]) == sorted(expected)
