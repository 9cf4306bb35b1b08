"""The dashboard's activity charts in headless Chromium against a real daemon: messages
received and sent per hour, every session's on the sessions page and one session's on
its page, counted from the API, then kept current from the live stream."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from conftest import Process, spawn_daemon
from dashboard_browser import (
    ADMIN,
    DESKTOP,
    PEER,
    PHONE,
    Console,
    connect,
    incoming,
    shoot,
    sign_in,
)
from playwright.sync_api import Browser, Locator, Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOT_ON_WHATSAPP = "15550000000"  # the simulator refuses numbers ending in 0000


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Process]:
    process = spawn_daemon(tmp_path, "--engine", "simulator", env={"WAD_SEND_INTERVAL": "0"})
    yield process
    process.stop()


def send(url: str, key: str, device_id: str, number: str = PEER) -> int:
    r = httpx.post(
        url + "/api/messages/send",
        headers={"Authorization": f"Bearer {key}"},
        json={"deviceId": device_id, "number": number, "message": "from a program"},
    )
    return r.status_code


def bars(chart: Locator, direction: str) -> list[int]:
    """Each hour's count of one direction, oldest first, read off the SVG's bars."""
    return [
        int(n)
        for n in chart.locator(f"rect[data-direction='{direction}']").evaluate_all(
            "rects => rects.map(r => r.dataset.count)"
        )
    ]


def expect_counts(chart: Locator, received: int, sent: int) -> None:
    expect(chart).to_have_attribute("data-received", str(received))
    expect(chart).to_have_attribute("data-sent", str(sent))
    expect(chart.locator("[data-total='received']")).to_have_text(str(received))
    expect(chart.locator("[data-total='sent']")).to_have_text(str(sent))
    got_in, got_out = bars(chart, "received"), bars(chart, "sent")
    assert len(got_in) == len(got_out) == 24
    assert (sum(got_in), sum(got_out)) == (received, sent)
    # All of it happened just now: in the last hour (or the one before, at a turn of hour).
    assert sum(got_in[-2:]) == received and sum(got_out[-2:]) == sent


def bar_heights(page: Page, chart: Locator) -> dict[int, float]:
    """The drawn height of the bars, by their count."""
    pairs = chart.locator("rect").evaluate_all(
        "rects => rects.map(r => [Number(r.dataset.count), r.getBBox().height])"
    )
    return {int(count): height for count, height in pairs}


def test_charts_count_messages_in_and_out_live(daemon: Process, browser: Browser) -> None:
    api = httpx.Client(base_url=daemon.url, headers=ADMIN, timeout=10)
    shop = connect(api, "shop", "15550001111")
    desk = connect(api, "help-desk", "15550003333")
    page = browser.new_page(viewport=DESKTOP)
    page.clock.install()  # the page's own clock runs as usual until the test moves it
    console = Console(page)
    sign_in(page, daemon.url)

    # The sessions page: every session's messages, none yet.
    overall = page.locator(".activity")
    expect(overall.get_by_role("heading", name="Messages, last 24 hours")).to_be_visible()
    expect_counts(overall, 0, 0)
    expect(overall.get_by_text("No messages in the last 24 hours")).to_be_visible()
    page.evaluate("window.__notReloaded = true")

    # Received and sent elsewhere, the chart counts them as they happen.
    incoming(api, "shop", 3)
    incoming(api, "help-desk", 1)
    assert send(daemon.url, shop, "shop") == 200
    assert send(daemon.url, shop, "shop") == 200
    assert send(daemon.url, desk, "help-desk") == 200
    assert send(daemon.url, shop, "shop", NOT_ON_WHATSAPP) == 400  # refused: never sent
    expect_counts(overall, 4, 3)
    expect(overall.get_by_text("No messages in the last 24 hours")).to_have_count(0)
    assert page.evaluate("window.__notReloaded") is True
    # Bars are scaled to the busiest hour: 4 fills the plot, 3 is three quarters of it.
    heights = bar_heights(page, overall)
    assert heights[0] == 0 and heights[4] == pytest.approx(96, abs=0.5)
    assert heights[3] == pytest.approx(72, abs=0.5)
    # The figures are also there as a table, for screen readers.
    rows = overall.locator("table tbody tr")
    expect(rows).to_have_count(24)
    shoot(page, "10-sessions-activity")

    # A reload asks the API again: the same counts.
    page.reload()
    expect_counts(page.locator(".activity"), 4, 3)

    # One session's page: its own messages only.
    page.locator("tr[data-device='shop']").get_by_role("link", name="shop").click()
    chart = page.locator(".activity")
    expect_counts(chart, 3, 2)
    page.evaluate("window.__notReloaded = true")
    incoming(api, "help-desk", 2)  # another session's: not counted here
    incoming(api, "shop", 1)
    expect_counts(chart, 4, 2)
    # A message sent from this page's own form is counted too.
    page.get_by_role("textbox", name="API key").fill(shop)
    page.get_by_role("textbox", name="To (phone number)").fill(PEER)
    page.get_by_role("button", name="Send test message").click()
    expect(page.locator(".send .ok-text")).to_contain_text("Sent to")
    expect_counts(chart, 4, 3)
    assert page.evaluate("window.__notReloaded") is True
    # What contacts wrote is text, never markup: no <b> element came from a message.
    expect(page.locator(".message.in").first).to_contain_text("<b>hello</b>")
    assert page.locator(".messages b").count() == 0
    shoot(page, "11-session-activity")

    # The phone layout: the chart is as wide as the screen, its bars all there.
    page.set_viewport_size(PHONE)
    box = chart.locator("svg").bounding_box()
    assert box is not None and 250 < box["width"] <= PHONE["width"]
    expect_counts(chart, 4, 3)

    # Back on the list, the overall counts include what happened meanwhile.
    page.get_by_role("link", name="← All sessions").click()
    overall = page.locator(".activity")
    expect_counts(overall, 7, 4)

    # An hour later the window has moved on by itself: the same counts, an hour older.
    last = overall.locator("rect[data-direction='received']").last
    hour = last.get_attribute("data-hour") or ""
    page.clock.fast_forward("01:00:00")
    expect(last).not_to_have_attribute("data-hour", hour)
    moved = datetime.fromisoformat(last.get_attribute("data-hour") or "")
    assert moved - datetime.fromisoformat(hour) == timedelta(hours=1)
    assert sum(bars(overall, "received")) == 7 and sum(bars(overall, "sent")) == 4
    assert bars(overall, "received")[-1] == 0 and sum(bars(overall, "received")[-3:]) == 7
    # A day later they are out of it.
    page.clock.fast_forward("24:00:00")
    expect(overall).to_have_attribute("data-received", "0")
    expect(overall).to_have_attribute("data-sent", "0")
    assert console.errors == []
