"""The dashboard shows the lifecycle: a replaced session's `conflict`, a ban with its end,
a `degraded` flag, live as they happen (headless Chromium, a real daemon on loopback, the
simulator's scenario routes). Screenshots go to ``artifacts/screenshots/``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import Process, spawn_daemon
from dashboard_browser import ADMIN, DESKTOP, Console, shoot, sign_in
from playwright.sync_api import Browser, expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Process]:
    process = spawn_daemon(tmp_path, "--engine", "simulator")
    yield process
    process.stop()


def connect(api: httpx.Client, device: str, phone: str) -> None:
    assert api.post("/api/sessions", json={"deviceId": device}).status_code == 201
    for _ in range(200):  # the session shows its QR within milliseconds
        if api.get(f"/api/sessions/{device}").json()["session"]["connectionState"] == "waiting_qr":
            break
    r = api.post(f"/api/simulator/sessions/{device}/scan", json={"phoneNumber": phone})
    assert r.status_code == 200, r.text


def test_conflict_banned_and_degraded_are_shown(daemon: Process, browser: Browser) -> None:
    api = httpx.Client(base_url=daemon.url, headers=ADMIN, timeout=10)
    page = browser.new_context(viewport=DESKTOP).new_page()
    console = Console(page)
    sign_in(page, daemon.url)
    for device, phone in (
        ("taken", "15550001001"),
        ("punished", "15550001002"),
        ("flaky", "15550001003"),
    ):
        connect(api, device, phone)
    rows = page.locator("table.sessions tbody tr")
    for device in ("taken", "punished", "flaky"):
        row = rows.filter(has=page.get_by_role("link", name=device))
        expect(row.locator("[data-state]")).to_have_text("Connected")

    # Each scenario, seen live on the list (the page reloads on session.status events).
    assert api.post("/api/simulator/sessions/taken/replace").status_code == 200
    assert (
        api.post(
            "/api/simulator/sessions/punished/ban",
            json={"seconds": 3600, "code": "BLOCKED_BY_USERS"},
        ).status_code
        == 200
    )
    assert (
        api.post("/api/simulator/sessions/flaky/keepalive", json={"failing": True}).status_code
        == 200
    )
    taken = rows.filter(has=page.get_by_role("link", name="taken"))
    expect(taken.locator('[data-state="conflict"]')).to_have_text("Replaced by another client")
    punished = rows.filter(has=page.get_by_role("link", name="punished"))
    expect(punished.locator('[data-state="banned"]')).to_have_text("Banned by WhatsApp")
    until = api.get("/api/sessions/punished").json()["session"]["bannedUntil"]
    expect(punished.locator(f'[data-banned-until="{until}"]')).to_contain_text("until")
    expect(punished).to_contain_text("BLOCKED_BY_USERS")
    flaky = rows.filter(has=page.get_by_role("link", name="flaky"))
    expect(flaky.locator('[data-flag="degraded"]')).to_have_text("Degraded")
    expect(flaky.locator('[data-state="connected"]')).to_be_visible()
    shoot(page, "sessions-lifecycle")

    # The session page: the ban's badge, its end counted down, and the reason.
    page.get_by_role("link", name="punished").click()
    head = page.locator(".page-head")
    expect(head.locator('[data-state="banned"]')).to_be_visible()
    expect(head.locator("[data-banned-until]")).to_contain_text("until")
    expect(page.locator(".alert")).to_contain_text("The ban ends in")
    expect(page.locator(".alert")).to_contain_text("BLOCKED_BY_USERS")
    shoot(page, "session-banned")

    # Keep-alives restored: the flag goes, live.
    page.goto(daemon.url + "/#/s/flaky")
    expect(page.locator('.page-head [data-flag="degraded"]')).to_be_visible()
    assert (
        api.post("/api/simulator/sessions/flaky/keepalive", json={"failing": False}).status_code
        == 200
    )
    expect(page.locator('.page-head [data-flag="degraded"]')).to_have_count(0)
    expect(page.locator('.page-head [data-state="connected"]')).to_be_visible()
    assert console.errors == []
