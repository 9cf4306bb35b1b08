"""The files in systemd/: checked by systemd's own tools where they are installed."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "systemd"
UNIT_FILES = ("wad.service", "wad.socket", "wad-control.socket")


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed")
    return path


def installed_copy(tmp_path: Path) -> Path:
    """The units as an operator would install them, but with ExecStart= pointing at
    this virtualenv's ``wad`` (verify insists that the program exists)."""
    wad = Path(sys.executable).parent / "wad"
    assert wad.exists(), "the wad command is not installed in this virtualenv"
    folder = tmp_path / "units"
    folder.mkdir()
    for name in UNIT_FILES:
        text = (UNITS / name).read_text()
        if name == "wad.service":
            assert "ExecStart=/opt/wad/bin/wad serve\n" in text
            text = text.replace("ExecStart=/opt/wad/bin/wad", f"ExecStart={wad}")
        (folder / name).write_text(text)
    return folder


def test_verify_every_unit(tmp_path: Path) -> None:
    analyze = need("systemd-analyze")
    folder = installed_copy(tmp_path)
    done = subprocess.run(
        [analyze, "verify", "--man=no", *(str(folder / n) for n in UNIT_FILES)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # verify exits 0 even for unknown or unparsable settings (it ignores them with a
    # warning): any output at all is a finding.
    assert done.returncode == 0, done.stderr
    assert done.stdout + done.stderr == "", done.stdout + done.stderr


def test_verify_notices_a_broken_unit(tmp_path: Path) -> None:
    """The check above can fail: a misspelt setting is reported."""
    analyze = need("systemd-analyze")
    folder = installed_copy(tmp_path)
    service = folder / "wad.service"
    service.write_text(service.read_text().replace("NoNewPrivileges=", "NoNewPrivilege="))
    done = subprocess.run(
        [analyze, "verify", "--man=no", str(service)], capture_output=True, text=True, timeout=60
    )
    assert "Unknown key" in done.stderr and "NoNewPrivilege" in done.stderr


def exposure(path: Path) -> float:
    analyze = need("systemd-analyze")
    done = subprocess.run(
        [analyze, "security", "--offline=true", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", done.stdout)
    assert match, done.stdout + done.stderr
    return float(match.group(1))


def test_security_exposure_at_most_2() -> None:
    assert exposure(UNITS / "wad.service") <= 2.0


def test_exposure_measure_is_sensitive(tmp_path: Path) -> None:
    """Without its sandboxing section the same unit scores far worse."""
    text = (UNITS / "wad.service").read_text()
    bare = text.split("# Sandboxing")[0] + "\n[Install]\nWantedBy=multi-user.target\n"
    (tmp_path / "wad.service").write_text(bare)
    assert exposure(tmp_path / "wad.service") > 5.0


def test_unit_settings_the_issue_asks_for() -> None:
    service = (UNITS / "wad.service").read_text()
    for line in (
        "Type=notify",
        "NotifyAccess=main",
        "Restart=on-failure",
        "User=wad",
        "Group=wad",
        "StateDirectory=wad",
        "RuntimeDirectory=wad",
        "UMask=0077",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "MemoryDenyWriteExecute=yes",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "CapabilityBoundingSet=\n",
    ):
        assert line in service, line
    assert re.search(r"^WatchdogSec=\d+s$", service, re.M)
    http = (UNITS / "wad.socket").read_text()
    control = (UNITS / "wad-control.socket").read_text()
    assert "ListenStream=127.0.0.1:3000" in http and "FileDescriptorName=http" in http
    assert "ListenStream=/run/wad/wad.sock" in control
    assert "FileDescriptorName=control" in control and "SocketMode=0660" in control


def test_sysusers_and_tmpfiles_apply_to_an_empty_root(tmp_path: Path) -> None:
    sysusers = need("systemd-sysusers")
    tmpfiles = need("systemd-tmpfiles")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    subprocess.run(
        [sysusers, f"--root={root}", str(UNITS / "wad.sysusers")],
        check=True,
        capture_output=True,
        timeout=60,
    )
    passwd = {
        line.split(":")[0]: line.split(":")
        for line in (root / "etc/passwd").read_text().splitlines()
    }
    groups = {
        line.split(":")[0]: line.split(":")
        for line in (root / "etc/group").read_text().splitlines()
    }
    assert passwd["wad"][6] == "/usr/sbin/nologin"
    assert "wad" in groups["wad-admin"][3].split(",")
    subprocess.run(
        [tmpfiles, f"--root={root}", "--create", str(UNITS / "wad.tmpfiles")],
        check=True,
        capture_output=True,
        timeout=60,
    )
    state = (root / "var/lib/wad").stat()
    assert state.st_mode & 0o777 == 0o700
    assert state.st_uid == int(passwd["wad"][2])
    assert (root / "run/wad").is_dir()


def test_example_settings_are_real_settings(tmp_path: Path) -> None:
    from wad.config import load

    config = load(env={"HOME": str(tmp_path)}, config_file=UNITS / "wad.toml.example")
    assert config.http == "127.0.0.1:3000"
    names = re.findall(r"^#?(WAD_[A-Z_]+)=", (UNITS / "wad.env.example").read_text(), re.M)
    assert names
    env = {name: "" for name in names}
    fields = {"WAD_" + f.upper() for f in vars(config)}
    assert set(env) <= fields, set(env) - fields
