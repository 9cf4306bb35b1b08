"""The session page's groups card in headless Chromium against a real daemon
(simulator engine): the groups with their participant counts, updated live."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import Process, spawn_daemon
from dashboard_browser import ADMIN, DESKTOP, Console, connect, shoot, sign_in
from playwright.sync_api import Browser, expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Process]:
    process = spawn_daemon(tmp_path, "--engine", "simulator")
    yield process
    process.stop()


def test_the_groups_card_lists_and_follows_the_groups(daemon: Process, browser: Browser) -> None:
    api = httpx.Client(base_url=daemon.url, headers=ADMIN, timeout=10)
    key = connect(api, "team", "15557770001")
    as_key = {"Authorization": f"Bearer {key}"}
    r = api.post(
        "/api/sessions/team/groups",
        headers=as_key,
        json={"subject": "Ops <b>night</b>", "participants": ["15550002222", "15550003333"]},
    )
    assert r.status_code == 201, r.text

    page = browser.new_context(viewport=DESKTOP).new_page()
    console = Console(page)
    sign_in(page, daemon.url)
    page.goto(daemon.url + "/#/s/team")
    card = page.get_by_role("region", name="Groups")
    rows = card.locator("tbody tr")
    expect(rows).to_have_count(1)
    # The subject is text, never markup.
    expect(rows.nth(0).get_by_role("rowheader")).to_have_text("Ops <b>night</b>")
    expect(rows.nth(0).locator("td")).to_have_text("3")

    # A group created meanwhile shows up by itself (its group.participants event).
    r = api.post(
        "/api/sessions/team/groups", headers=as_key, json={"subject": "Alpha", "participants": []}
    )
    assert r.status_code == 201, r.text
    expect(rows).to_have_count(2)
    expect(rows.nth(0).get_by_role("rowheader")).to_have_text("Alpha")
    expect(rows.nth(0).locator("td")).to_have_text("1")
    shoot(page, "session-groups")

    # Leaving one takes it off the list.
    gid = r.json()["group"]["id"]
    assert api.post(f"/api/sessions/team/groups/{gid}/leave", headers=as_key).status_code == 200
    expect(rows).to_have_count(1)
    assert console.errors == []
