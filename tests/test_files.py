"""Private files: mode 0600 whatever the umask, replaced whole."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from wad.files import open_private, write_private


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0o000)  # the most permissive umask: the mode must not come from it
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_private_is_0600_and_replaces_the_file_whole(
    tmp_path: Path, open_umask: None
) -> None:
    path = tmp_path / "admin.token"
    path.write_text("old, readable by all\n")
    path.chmod(0o644)
    write_private(path, "new\n")
    assert path.read_text() == "new\n"
    assert mode(path) == 0o600
    write_private(path, b"\x00bytes")
    assert path.read_bytes() == b"\x00bytes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["admin.token"]  # no temporary left


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    write_private(path, "old")
    with pytest.raises(TypeError):
        write_private(path, 42)  # type: ignore[arg-type]
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret"]


def test_open_private_is_0600(tmp_path: Path, open_umask: None) -> None:
    with open_private(tmp_path / "media") as f:
        f.write(b"part one, ")
        f.write(b"part two")
    assert (tmp_path / "media").read_bytes() == b"part one, part two"
    assert mode(tmp_path / "media") == 0o600
