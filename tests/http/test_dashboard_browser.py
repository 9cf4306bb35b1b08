"""The dashboard in headless Chromium against a real daemon (simulator engine).

Playwright's sync API drives Debian's chromium (never a downloaded browser);
the daemon is a real ``wad serve`` process on loopback, and the simulator's
virtual phone is driven over its REST controls with httpx. Screenshots of
every page, at desktop and phone sizes, go to ``artifacts/screenshots/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import ADMIN_TOKEN, Process, spawn_daemon
from dashboard_browser import ADMIN, DESKTOP, PHONE, Console, shoot
from playwright.sync_api import Browser, expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

QR_INTERVAL = 3  # seconds: short, so that the test sees a QR code rotate


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Process]:
    # A long first reconnect delay, so that a dropped connection's retry time shows.
    process = spawn_daemon(
        tmp_path,
        "--engine",
        "simulator",
        "--qr-interval",
        str(QR_INTERVAL),
        env={"WAD_BACKOFF_INITIAL": "60"},
    )
    yield process
    process.stop()


def test_link_a_phone_send_and_receive_live(daemon: Process, browser: Browser) -> None:
    context = browser.new_context(viewport=DESKTOP)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=daemon.url)
    page = context.new_page()
    console = Console(page)
    api = httpx.Client(base_url=daemon.url, headers=ADMIN, timeout=10)

    # Signed out: the sign-in form, and nothing of the data.
    page.goto(daemon.url + "/")
    token = page.get_by_label("Admin token")
    expect(token).to_be_focused()
    token.fill("not-the-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong admin token. Check it and try again.")
    # The refused sign-in's 401 is the only console line the browser itself writes.
    assert len(console.errors) == 1 and "401" in console.errors[0], console.errors
    assert page.evaluate("fetch('/api/sessions').then(r => r.status)") == 401
    console.errors.clear()  # the two 401s this test asked for
    shoot(page, "01-sign-in")

    token.fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=re.compile("^Sessions"))).to_be_visible()
    expect(page.get_by_text("No sessions yet")).to_be_visible()
    expect(page.locator("#live")).to_have_text("Live")
    shoot(page, "02-sessions-empty")

    # The form checks the server's deviceId rule before asking.
    device = page.get_by_label("Device ID")
    device.fill("-not valid")
    page.get_by_role("button", name="Create session").click()
    expect(page.locator("#device-error")).to_contain_text("Not a valid device ID")
    assert api.get("/api/sessions").json()["sessions"] == []
    device.fill("sales-phone")
    page.get_by_role("button", name="Create session").click()

    # The session page: a QR code that rotates by itself, with a countdown.
    expect(page).to_have_url(re.compile("#/s/sales-phone$"))
    badge = page.locator(".title-row .badge")
    expect(badge).to_have_text("Waiting for scan")
    qr = page.get_by_alt_text("QR code to scan with WhatsApp")
    expect(qr).to_have_attribute("src", re.compile("^data:image/png;base64,"))
    expect(page.locator(".countdown")).to_contain_text("New code in")
    first = qr.get_attribute("src")
    expect(qr).not_to_have_attribute("src", first or "", timeout=(QR_INTERVAL + 5) * 1000)
    shoot(page, "03-session-qr")

    # Back on the list, a second session created elsewhere shows up live.
    page.get_by_role("link", name="← All sessions").click()
    row = page.locator("tr[data-device='sales-phone']")
    expect(row.locator(".badge")).to_have_text("Waiting for scan")
    assert api.post("/api/sessions", json={"deviceId": "support"}).status_code == 201
    expect(page.locator("tr[data-device='support']")).to_be_visible()
    # One daemon, no cluster: its answers name no node, and the list has no Node column.
    expect(page.locator("table.sessions thead th")).to_have_count(6)
    expect(page.locator("table.sessions thead th", has_text="Node")).to_have_count(0)
    row.get_by_role("link", name="sales-phone").click()

    # The phone scans: the page turns connected without a reload.
    page.evaluate("window.__notReloaded = true")
    r = api.post("/api/simulator/sessions/sales-phone/scan", json={"phoneNumber": "15550001111"})
    assert r.status_code == 200, r.text
    expect(badge).to_have_text("Connected")
    expect(page.locator(".meta")).to_contain_text("+15550001111")
    expect(page.locator(".hist .badge").first).to_have_text("Connected")
    assert page.evaluate("window.__notReloaded") is True

    # A key, shown once, copied.
    page.get_by_role("button", name="Generate key").click()
    dialog = page.get_by_role("dialog")
    key = dialog.get_by_label("API key").input_value()
    assert key.startswith("wad_") and len(key) > 40
    dialog.get_by_role("button", name="Copy").click()
    expect(dialog.get_by_role("status")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == key
    shoot(page, "04-api-key-dialog", full_page=False)
    dialog.get_by_role("button", name="Done").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.locator(".key-now")).to_contain_text(key[:8] + "...")

    # A test message with that key reaches the other phone.
    expect(page.get_by_role("textbox", name="API key")).to_have_value(key)
    page.get_by_role("textbox", name="To (phone number)").fill("+1 555 000 2222")
    page.get_by_role("textbox", name="Message").fill("Hello from the dashboard")
    page.get_by_role("button", name="Send test message").click()
    expect(page.locator(".send .ok-text")).to_contain_text("Sent to +15550002222")
    sent = api.get("/api/simulator/sessions/sales-phone/sent").json()["messages"]
    assert [(m["to"].split("@")[0], m["text"]) for m in sent] == [
        ("15550002222", "Hello from the dashboard")
    ]
    out = page.locator(".message.out").first
    expect(out).to_contain_text("Hello from the dashboard")

    # Receipts and an incoming message arrive live.
    message_id = page.locator(".message.out").first.get_attribute("data-id")
    r = api.post(
        "/api/simulator/sessions/sales-phone/receipt",
        json={"messageId": message_id, "status": "read"},
    )
    assert r.status_code == 200, r.text
    expect(out.locator(".chip")).to_have_text("Read")
    r = api.post(
        "/api/simulator/sessions/sales-phone/incoming",
        json={"from": "15550003333", "message": "Hi, is this the shop?"},
    )
    assert r.status_code == 200, r.text
    incoming = page.locator(".message.in").first
    expect(incoming).to_contain_text("Hi, is this the shop?")
    expect(incoming).to_contain_text("From 15550003333")
    shoot(page, "05-session-connected")

    page.get_by_role("link", name="← All sessions").click()
    row = page.locator("tr[data-device='sales-phone']")
    expect(row.locator(".badge")).to_have_text("Connected")
    expect(row.locator("td[data-label='API key']")).to_have_text("Yes")
    shoot(page, "06-sessions")

    # A second tab on the list sees the deletion live, without a reload.
    watcher = context.new_page()
    watcher_console = Console(watcher)
    watcher.goto(daemon.url + "/#/")
    expect(watcher.locator("tr[data-device='sales-phone']")).to_have_count(1)
    expect(watcher.locator("#live")).to_have_text("Live")
    watcher.evaluate("window.__notReloaded = true")

    # Delete, with confirmation; cancelling keeps it.
    row.get_by_role("link", name="sales-phone").click()
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    assert api.get("/api/sessions/sales-phone").status_code == 200
    page.get_by_role("button", name="Delete").click()
    shoot(page, "07-delete-confirmation", full_page=False)
    page.get_by_role("dialog").get_by_role("button", name="Delete session").click()
    expect(page).to_have_url(re.compile("#/$"))
    expect(page.locator("tr[data-device='sales-phone']")).to_have_count(0)
    assert api.get("/api/sessions/sales-phone").status_code == 404
    expect(watcher.locator("tr[data-device='sales-phone']")).to_have_count(0)
    assert watcher.evaluate("window.__notReloaded") is True
    assert watcher_console.errors == []
    watcher.close()

    # Sign out: the cookie no longer opens anything.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("Admin token")).to_be_visible()
    assert console.errors == []
    assert page.evaluate("fetch('/api/sessions').then(r => r.status)") == 401
    context.close()


def test_link_by_pairing_code_and_keyboard_only(daemon: Process, browser: Browser) -> None:
    page = browser.new_page(viewport=PHONE)
    console = Console(page)
    api = httpx.Client(base_url=daemon.url, headers=ADMIN, timeout=10)
    page.goto(daemon.url + "/")
    # Keyboard only: the token field has the focus; type, Enter; then the form.
    expect(page.get_by_label("Admin token")).to_be_focused()
    page.keyboard.type(ADMIN_TOKEN)
    page.keyboard.press("Enter")
    device = page.get_by_label("Device ID")
    expect(device).to_be_visible()
    device.focus()
    page.keyboard.type("by-code")
    page.keyboard.press("Enter")
    expect(page.locator(".title-row .badge")).to_have_text("Waiting for scan")

    summary = page.get_by_text("Link with a phone number instead")
    summary.focus()
    page.keyboard.press("Enter")
    page.get_by_role("textbox", name="Phone number", exact=True).fill("12")
    page.get_by_role("button", name="Get pairing code").click()
    expect(page.locator("#pair-error")).to_contain_text("6 to 15 digits")
    page.get_by_role("textbox", name="Phone number", exact=True).fill("15550004444")
    page.get_by_role("button", name="Get pairing code").click()
    code = page.locator(".pair-code strong")
    expect(code).to_have_text(re.compile(r"^[A-Z0-9]{4}-[A-Z0-9]{4}$"))
    shoot(page, "08-pairing-code")
    r = api.post("/api/simulator/sessions/by-code/enter-code", json={"code": code.inner_text()})
    assert r.status_code == 200, r.text
    expect(page.locator(".title-row .badge")).to_have_text("Connected")
    expect(page.locator(".meta")).to_contain_text("+15550004444")

    # The connection drops: the error and the next retry show; Restart reconnects now.
    assert api.post("/api/simulator/sessions/by-code/drop").status_code == 200
    badge = page.locator(".title-row .badge")
    expect(badge).to_have_text("Disconnected")
    alert = page.locator(".alert")
    expect(alert).to_contain_text("Last error: connection dropped by the simulator")
    expect(alert).to_contain_text(re.compile(r"Next retry in \d+ s"))
    shoot(page, "09-session-retrying")
    page.get_by_role("button", name="Restart").click()
    expect(badge).to_have_text("Connected")
    expect(alert).to_have_count(0)
    assert console.errors == []

    # Sending with a wrong key: the server's refusal is shown (and is the one 401).
    page.get_by_role("textbox", name="API key").fill("wad_wrong_key_0123456789")
    page.get_by_role("textbox", name="To (phone number)").fill("15550002222")
    page.get_by_role("button", name="Send test message").click()
    expect(page.locator(".send .field-error")).to_contain_text("Not sent: Invalid API key")
    assert len(console.errors) == 1 and "401" in console.errors[0], console.errors
