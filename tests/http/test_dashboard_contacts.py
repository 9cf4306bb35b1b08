"""The session page's contacts card in headless Chromium against a real daemon
(simulator engine): the virtual network's contacts listed, searched and paged."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import Process, spawn_daemon
from dashboard_browser import ADMIN, DESKTOP, Console, connect, launch, shoot, sign_in
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Process]:
    process = spawn_daemon(tmp_path, "--engine", "simulator")
    yield process
    process.stop()


def test_contacts_card_lists_searches_and_pages(daemon: Process) -> None:
    api = httpx.Client(base_url=daemon.url, headers=ADMIN, timeout=10)
    connect(api, "shop", "15550001111")
    sim = "/api/simulator/sessions/shop/contacts"
    for n in range(30):  # more than a page (25)
        r = api.post(sim, json={"phoneNumber": f"155500020{n:02d}", "name": f"Person {n:02d}"})
        assert r.status_code == 201, r.text
    api.post(sim, json={"phoneNumber": "15550009999", "name": "Zoë's Bikes", "businessName": "Zoë"})

    with launch() as browser:
        page = browser.new_context(viewport=DESKTOP).new_page()
        console = Console(page)
        sign_in(page, daemon.url)
        page.goto(daemon.url + "/#/s/shop")
        card = page.get_by_role("region", name="Contacts")
        rows = card.locator(".contact")
        expect(rows).to_have_count(25)
        expect(rows.first).to_contain_text("Person 00")
        card.get_by_role("button", name="More contacts").click()
        expect(rows).to_have_count(31)
        expect(card.get_by_role("button", name="More contacts")).to_be_hidden()
        shoot(page, "20-contacts")

        search = card.get_by_label("Search contacts")
        search.fill("bikes")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("Zoë's Bikes")
        expect(rows.first).to_contain_text("Business")
        expect(rows.first).to_contain_text("+15550009999")
        search.fill("2007")  # a number
        expect(rows).to_have_count(1)
        expect(rows.first).to_have_text(re.compile("Person 07"))
        search.fill("nobody at all")
        expect(card.get_by_text("No contact matches.")).to_be_visible()
        assert console.errors == []
