"""A session's webhooks on its dashboard page, in headless Chromium against a real daemon
and a local receiver (loopback allowed by WAD_WEBHOOK_ALLOW_NETWORKS): added with the
signing secret shown once, their health, a failed delivery redelivered, disabled and
enabled, deleted; by mouse on a desktop and by keyboard on a phone. Without the
webhooks plugin the section is not there."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import Process, spawn_daemon
from dashboard_browser import (
    ADMIN,
    DESKTOP,
    PHONE,
    Console,
    connect,
    incoming,
    receiver_thread,
    shoot,
    sign_in,
)
from playwright.sync_api import Browser, Locator, Page, expect
from webhook_receiver import Received, Receiver

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WAIT = 15_000  # ms: deliveries are polled every 2 s at first


class Switch:
    """The receiver's answers: 500 while failing, else 200."""

    def __init__(self) -> None:
        self.failing = True

    def __call__(self, n: int, request: Received) -> int:
        return 500 if self.failing else 200


@pytest.fixture
def switch() -> Switch:
    return Switch()


@pytest.fixture
def receiver(switch: Switch) -> Iterator[Receiver]:
    with receiver_thread(switch) as receiver:
        yield receiver


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Process]:
    # No retries: a refused delivery fails at once.
    env = {"WAD_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8", "WAD_WEBHOOK_RETRY_SCHEDULE": ""}
    process = spawn_daemon(tmp_path, "--engine", "simulator", env=env)
    yield process
    process.stop()


def figure(row: Locator, kind: str) -> Locator:
    return row.locator(f"[data-health='{kind}']")


def open_session(page: Page, url: str, device_id: str) -> Locator:
    sign_in(page, url)
    page.goto(f"{url}/#/s/{device_id}")
    hooks = page.locator("section.hooks")
    expect(hooks.get_by_role("heading", name="Webhooks")).to_be_visible()
    return hooks


def test_add_redeliver_disable_enable_delete(
    daemon: Process, browser: Browser, receiver: Receiver, switch: Switch
) -> None:
    api = httpx.Client(base_url=daemon.url, headers=ADMIN, timeout=10)
    connect(api, "shop", "15550001111")
    page = browser.new_page(viewport=DESKTOP)
    console = Console(page)
    hooks = open_session(page, daemon.url, "shop")
    expect(hooks.get_by_text("No webhooks yet.")).to_be_visible()

    # The form checks what it can before asking.
    url = hooks.get_by_label("Webhook URL")
    url.fill("ftp://example.com")
    hooks.get_by_role("button", name="Add webhook").click()
    expect(hooks.locator("#hook-error")).to_have_text("Enter an http:// or https:// URL.")
    # The server's refusal is shown as it says it (here: a name that cannot resolve).
    url.fill("https://no-such-host.invalid/hook")
    hooks.get_by_role("button", name="Add webhook").click()
    expect(hooks.locator("#hook-error")).to_contain_text("url:")
    assert api.get("/api/sessions/shop/webhooks").json()["webhooks"] == []

    # Added, for messages only: the secret shows once, focused, in a box of its own.
    target = receiver.url + "/hook?source=<b>wad</b>"
    url.fill(target)
    for label in (
        "Receipts (delivered, read)",
        "Session state changes",
        "QR and pairing codes",
        "History batches",
        "Presence of subscribed contacts",
        "Group members",
        "Group changes",
        "Poll votes",
        "Statuses received",
        "Incoming calls",
        "Calls ended",
    ):
        hooks.get_by_label(label).uncheck()
    hooks.get_by_role("button", name="Add webhook").click()
    box = hooks.get_by_role("region", name="Signing secret of the new webhook")
    secret_field = box.get_by_label("Signing secret")
    expect(secret_field).to_be_focused()
    secret = secret_field.input_value()
    assert secret.startswith("whsec_")
    (listed,) = api.get("/api/sessions/shop/webhooks").json()["webhooks"]
    assert listed["url"] == target and "secret" not in listed
    assert listed["events"] == ["message", "message.sent"]
    row = hooks.locator(f"li[data-webhook='{listed['id']}']")
    # The URL is text: its markup is shown, never made into an element.
    expect(row.locator(".hook-url")).to_have_text(target)
    assert row.locator(".hook-url b").count() == 0
    expect(row.locator(".badge")).to_have_text("Enabled")
    expect(row.locator(".hook-events")).to_have_text("Messages received, Messages sent")
    shoot(page, "12-webhook-secret")
    box.get_by_role("button", name="Dismiss").click()
    expect(box).to_have_count(0)
    expect(url).to_be_focused()
    assert secret not in page.content()
    page.reload()
    expect(page.locator(f"li[data-webhook='{listed['id']}']")).to_be_visible()
    assert secret not in page.content()
    hooks = page.locator("section.hooks")
    row = hooks.locator(f"li[data-webhook='{listed['id']}']")

    # A message arrives, the receiver refuses it: the failure and its error show by
    # themselves.
    incoming(api, "shop", 1)
    expect(figure(row, "failed")).to_have_attribute("data-count", "1", timeout=WAIT)
    expect(figure(row, "delivered")).to_have_attribute("data-count", "0")
    expect(row.locator(".hook-error")).to_contain_text("Last error")
    expect(row.locator(".hook-error")).to_contain_text("500")
    (first,) = receiver.requests
    row.get_by_role("button", name="Failed deliveries (1)").click()
    failed = row.locator(".failed-list li")
    expect(failed).to_have_count(1)
    expect(failed).to_contain_text("Messages received")
    expect(failed).to_contain_text("HTTP 500")
    shoot(page, "13-webhook-failed")

    # Redelivered once the receiver works again: the same event, the same webhook-id.
    switch.failing = False
    failed.get_by_role("button", name="Redeliver").click()
    expect(figure(row, "delivered")).to_have_attribute("data-count", "1", timeout=WAIT)
    expect(failed.locator(".chip")).to_have_text("Redelivered", timeout=WAIT)
    expect(failed).to_contain_text("HTTP 500")  # what failed, not the redelivery's answer
    # Its button is gone: the focus went back to the button that opened the list.
    expect(row.get_by_role("button", name="Failed deliveries (1)")).to_be_focused()
    assert [r.status for r in receiver.requests] == [500, 200]
    assert receiver.requests[1].headers["webhook-id"] == first.headers["webhook-id"]
    assert receiver.requests[1].body == first.body
    shoot(page, "14-webhook-redelivered")

    # Disabled: no more deliveries for new events, until it is enabled again.
    row.get_by_role("button", name="Disable").click()
    expect(row.locator(".badge")).to_have_text("Disabled")
    expect(row.locator(".alert")).to_contain_text("Paused: disabled by an administrator")
    expect(row.get_by_role("button", name="Enable")).to_be_focused()
    expect(failed).to_have_count(1)  # the open list stays open
    assert (
        api.get(f"/api/sessions/shop/webhooks/{listed['id']}").json()["webhook"]["enabled"] is False
    )
    shoot(page, "15-webhook-disabled")
    incoming(api, "shop", 1)
    row.get_by_role("button", name="Enable").click()
    expect(row.locator(".badge")).to_have_text("Enabled")
    expect(row.locator(".alert")).to_have_count(0)
    incoming(api, "shop", 1)
    expect(figure(row, "delivered")).to_have_attribute("data-count", "2", timeout=WAIT)
    assert len(receiver.requests) == 3  # the message sent while disabled never went

    # Deleted, after a confirmation (cancelling keeps it).
    row.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    expect(row).to_be_visible()
    row.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete webhook").click()
    expect(row).to_have_count(0)
    expect(hooks.get_by_text("No webhooks yet.")).to_be_visible()
    expect(url).to_be_focused()
    assert api.get("/api/sessions/shop/webhooks").json()["webhooks"] == []
    # The one console error: the refused add (400) the test asked for.
    assert len(console.errors) == 1 and "400" in console.errors[0], console.errors


def test_by_keyboard_on_a_phone(daemon: Process, browser: Browser, receiver: Receiver) -> None:
    api = httpx.Client(base_url=daemon.url, headers=ADMIN, timeout=10)
    connect(api, "shop", "15550001111")
    page = browser.new_page(viewport=PHONE)
    console = Console(page)
    hooks = open_session(page, daemon.url, "shop")

    url = hooks.get_by_label("Webhook URL")
    url.focus()
    page.keyboard.type(receiver.url + "/phone")
    page.keyboard.press("Enter")  # submits the form
    box = hooks.get_by_role("region", name="Signing secret of the new webhook")
    expect(box.get_by_label("Signing secret")).to_be_focused()
    page.keyboard.press("Tab")
    expect(box.get_by_role("button", name="Copy")).to_be_focused()
    page.keyboard.press("Tab")
    expect(box.get_by_role("button", name="Dismiss")).to_be_focused()
    page.keyboard.press("Enter")
    expect(box).to_have_count(0)
    expect(url).to_be_focused()
    (hook,) = api.get("/api/sessions/shop/webhooks").json()["webhooks"]
    assert hook["url"] == receiver.url + "/phone"
    row = hooks.locator("li.hook")
    expect(row.locator(".hook-events")).to_have_text("All events")

    # Disable and enable with the keyboard: the focus stays on the button as it turns.
    row.get_by_role("button", name="Disable").focus()
    page.keyboard.press("Enter")
    expect(row.locator(".badge")).to_have_text("Disabled")
    expect(row.get_by_role("button", name="Enable")).to_be_focused()
    page.keyboard.press("Enter")
    expect(row.locator(".badge")).to_have_text("Enabled")
    expect(row.get_by_role("button", name="Disable")).to_be_focused()

    # Nothing overflows the phone's width.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], width
    shoot(page, "16-webhooks-phone")

    # Deliveries keep being counted while the page is open (the receiver fails: 500).
    incoming(api, "shop", 2)
    expect(row.locator("[data-health='failed']")).to_have_attribute(
        "data-count", re.compile("^[1-9]"), timeout=WAIT
    )
    assert console.errors == []


def test_no_section_without_the_plugin(tmp_path: Path, browser: Browser) -> None:
    process = spawn_daemon(
        tmp_path, "--engine", "simulator", env={"WAD_DISABLE_PLUGINS": "webhooks"}
    )
    try:
        api = httpx.Client(base_url=process.url, headers=ADMIN, timeout=10)
        assert "webhooks" not in {p["name"] for p in api.get("/api/plugins").json()["plugins"]}
        connect(api, "shop", "15550001111")
        page = browser.new_page(viewport=DESKTOP)
        console = Console(page)
        sign_in(page, process.url)
        page.goto(f"{process.url}/#/s/shop")
        expect(page.locator(".activity")).to_be_visible()
        expect(page.locator(".title-row .badge")).to_have_text("Connected")
        expect(page.locator("section.hooks")).to_be_hidden()
        assert console.errors == []
    finally:
        process.stop()
