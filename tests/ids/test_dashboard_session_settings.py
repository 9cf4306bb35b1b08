"""A session's proxy (masked) and history mode on its dashboard page, in headless
Chromium against a real daemon process: what the page shows never has the password."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import Process, spawn_daemon
from dashboard_browser import ADMIN, Console, sign_in
from playwright.sync_api import Browser, expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Process]:
    process = spawn_daemon(tmp_path, "--engine", "simulator")
    yield process
    process.stop()


def test_the_session_page_shows_the_masked_proxy_and_history(
    daemon: Process, browser: Browser
) -> None:
    api = httpx.Client(base_url=daemon.url, headers=ADMIN, timeout=10)
    body = {"deviceId": "px", "proxy": "socks5://alice:t0p-secret@proxy.example:1080"}
    assert api.post("/api/sessions", json={**body, "history": "recent"}).status_code == 201
    page = browser.new_page()
    console = Console(page)
    sign_in(page, daemon.url)
    page.goto(f"{daemon.url}/#/s/px")
    expect(page.locator("dd.proxy")).to_have_text("socks5://alice:***@proxy.example:1080")
    expect(page.locator("dd.history-mode")).to_have_text("recent")
    assert "t0p-secret" not in page.content()
    api.patch("/api/sessions/px", json={"proxy": None, "history": "full"})
    page.reload()
    expect(page.locator("dd.proxy")).to_have_text("none")
    expect(page.locator("dd.history-mode")).to_have_text("full")
    assert console.errors == []
