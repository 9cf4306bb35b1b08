"""The sign-in page tells a new operator where the admin token is: the token file's
path when the daemon keeps one (never the token), else that it is WAD_ADMIN_TOKEN's
value. In headless Chromium against real daemons (simulator engine)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import ADMIN_TOKEN, Process, spawn_daemon
from dashboard_browser import DESKTOP, Console, launch, shoot
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_sign_in_page_names_the_token_file(tmp_path: Path, wad_process: Process) -> None:
    state = tmp_path / "filed" / "state"
    state.mkdir(parents=True)
    token_file = state / "admin.token"
    token_file.write_text(ADMIN_TOKEN + "\n")
    token_file.chmod(0o600)
    # An empty WAD_ADMIN_TOKEN is no token: the daemon reads its file.
    filed = spawn_daemon(
        tmp_path / "filed", "--engine", "simulator", env={"WAD_ADMIN_TOKEN": ""}, state_dir=state
    )
    try:
        with launch() as browser:
            page = browser.new_page(viewport=DESKTOP)
            console = Console(page)
            page.goto(filed.url + "/")
            expect(page.locator("#token-file")).to_have_text(str(token_file))
            help_text = page.locator("#token-help")
            expect(help_text).to_contain_text("on the server (cat it there)")
            assert ADMIN_TOKEN not in page.content()
            # However long the path, it stays inside the sign-in card.
            card = page.locator("form.login").bounding_box()
            path_box = page.locator("#token-file").bounding_box()
            assert card and path_box
            assert path_box["x"] + path_box["width"] <= card["x"] + card["width"]
            shoot(page, "signin-token-file")
            # The token read from that file signs in.
            page.get_by_label("Admin token").fill(token_file.read_text().strip())
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("heading", name=re.compile("^Sessions"))).to_be_visible()

            # A daemon given WAD_ADMIN_TOKEN has no file to name.
            env_page = browser.new_page(viewport=DESKTOP)
            env_console = Console(env_page)
            env_page.goto(wad_process.url + "/")
            expect(env_page.locator("#token-help")).to_contain_text(
                "It is the value of WAD_ADMIN_TOKEN the daemon was started with."
            )
            expect(env_page.locator("#token-file")).to_have_count(0)
            assert console.errors == [] and env_console.errors == []
    finally:
        filed.stop()
