"""What the dashboard's browser tests share: Debian's chromium driven by Playwright's sync
API (never a downloaded browser), the two viewport sizes, screenshots into
``artifacts/screenshots/``, signing in, the page's console errors, and a webhook
receiver served from a thread (the tests are synchronous, the receiver is trio)."""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from conftest import ADMIN_TOKEN
from playwright.sync_api import Browser, Page, expect, sync_playwright
from webhook_receiver import Received, Receiver

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PEER = "15550002222"


@contextmanager
def launch() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed (bash .ci/run installs Debian's package)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Console:
    """Every console error and uncaught exception of a page."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on(
            "console",
            lambda m: self.errors.append(f"{m.text} {m.location}") if m.type == "error" else None,
        )
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))


def shoot(page: Page, name: str, full_page: bool = True) -> None:
    """The page at desktop and at phone size (full length unless a dialog is open)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("document.getElementById('toasts').replaceChildren(); window.scrollTo(0, 0)")
    size = page.viewport_size
    page.set_viewport_size(DESKTOP)
    page.screenshot(path=SHOTS / f"{name}-desktop.png", full_page=full_page)
    page.set_viewport_size(PHONE)
    page.screenshot(path=SHOTS / f"{name}-phone.png", full_page=full_page)
    page.set_viewport_size(size or DESKTOP)


def sign_in(page: Page, url: str) -> None:
    page.goto(url + "/")
    page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=re.compile("^Sessions"))).to_be_visible()


@contextmanager
def receiver_thread(answer: Callable[[int, Received], int | None]) -> Iterator[Receiver]:
    """A webhook receiver (tests/webhook_receiver.py) on loopback, run by trio in a
    thread of its own until the block ends."""
    receiver = Receiver(answer=answer)
    ready = threading.Event()
    loop: dict[str, Any] = {}

    async def main() -> None:
        loop["token"] = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            loop["scope"] = nursery.cancel_scope
            await nursery.start(receiver.serve)
            ready.set()

    thread = threading.Thread(target=trio.run, args=(main,), daemon=True)
    thread.start()
    if not ready.wait(10):
        pytest.fail("the webhook receiver did not start")
    try:
        yield receiver
    finally:
        trio.from_thread.run_sync(receiver.release.set, trio_token=loop["token"])
        trio.from_thread.run_sync(loop["scope"].cancel, trio_token=loop["token"])
        thread.join(10)


def connect(api: httpx.Client, device_id: str, phone: str) -> str:
    """A connected session with an API key (returned)."""
    assert api.post("/api/sessions", json={"deviceId": device_id}).status_code == 201
    for _ in range(100):  # the simulator shows its first QR code within a few ms
        r = api.post(f"/api/simulator/sessions/{device_id}/scan", json={"phoneNumber": phone})
        if r.status_code == 200:
            break
        assert r.status_code == 409, r.text
    else:
        pytest.fail(f"{device_id} never showed a QR code")
    for _ in range(100):
        if api.get(f"/api/sessions/{device_id}").json()["session"]["connectionState"] == (
            "connected"
        ):
            break
    return api.put(f"/api/sessions/{device_id}/api-key", json={}).json()["apiKey"]


def incoming(api: httpx.Client, device_id: str, n: int) -> None:
    for i in range(n):
        r = api.post(
            f"/api/simulator/sessions/{device_id}/incoming",
            json={"from": PEER, "message": f"<b>hello</b> {i}"},
        )
        assert r.status_code == 200, r.text
