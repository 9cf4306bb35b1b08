"""``/docs`` in headless Chromium against a real daemon (simulator engine): Swagger UI 5
renders the document offline under the page's CSP, and "Try it out" sends a message
that the simulated phone receives.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import ADMIN_TOKEN, Process, spawn_daemon
from dashboard_browser import SHOTS, Console
from event_stream import SessionEvents
from playwright.sync_api import Browser, expect

from wad.engines.simulator.engine import CREDENTIALS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DEVICE = "docs-phone"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# Generous: Swagger UI's bundle is 1.5 MB of script, slow to start on a busy machine.
WAIT = 30_000
# Reports every CSP violation of the page, which the console may not show.
CSP_WATCH = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", e =>
  window.cspViolations.push(e.effectiveDirective + " " + e.blockedURI));
"""


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Process]:
    folder = tmp_path / "state" / "sessions" / DEVICE
    folder.mkdir(parents=True)
    # Already paired with the simulated network: it connects without a QR code.
    (folder / CREDENTIALS).write_text(
        '{"phoneNumber": "15550001111", "jid": "15550001111:7@s.whatsapp.net"}'
    )
    process = spawn_daemon(tmp_path, "--engine", "simulator", env={"WAD_SEND_INTERVAL": "0"})
    yield process
    process.stop()


def test_try_it_out_sends_through_the_simulator(daemon: Process, browser: Browser) -> None:
    with SessionEvents(daemon.url, DEVICE) as events:
        r = httpx.post(daemon.url + "/api/sessions", headers=ADMIN, json={"deviceId": DEVICE})
        assert r.status_code == 201
        events.wait_state("connected")
    key = httpx.put(f"{daemon.url}/api/sessions/{DEVICE}/api-key", headers=ADMIN, json={}).json()[
        "apiKey"
    ]

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(WAIT)
    page.add_init_script(CSP_WATCH)
    console = Console(page)
    hosts: set[str] = set()
    page.on("request", lambda req: hosts.add(urlsplit(req.url).netloc or req.url.split(":")[0]))
    response = page.goto(daemon.url + "/docs")
    assert response is not None and response.ok
    assert "script-src 'self';" in response.headers["content-security-policy"]
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("wad", timeout=WAIT)
    expect(page.locator(".swagger-ui .info .version-stamp")).to_contain_text(
        "OAS 3.1", timeout=WAIT
    )

    # Authorize with the session's key (the sessionKey scheme), not the admin token.
    page.locator(".scheme-container button.authorize").click()
    scheme = page.locator(".modal-ux .auth-container").filter(has_text="sessionKey")
    scheme.locator("input").fill(key)
    scheme.get_by_role("button", name="Apply credentials").click()
    expect(scheme.get_by_role("heading", name="Authorized")).to_be_visible(timeout=WAIT)
    page.locator(".modal-ux .close-modal").click()

    # The send operation: Try it out, the path and body filled in, Execute.
    block = page.locator("#operations-Messages-sendMessage")
    block.locator(".opblock-summary").first.click()
    block.get_by_role("button", name="Try it out").click()
    block.locator('tr[data-param-name="device_id"] input').fill(DEVICE)
    text = "Hello from Swagger UI 👋"
    body = json.dumps({"to": "15550002222", "text": text}, ensure_ascii=False)
    block.locator("textarea.body-param__text").fill(body)
    block.get_by_role("button", name="Execute").click()
    status = block.locator(".live-responses-table .response .response-col_status").first
    expect(status).to_have_text("200", timeout=WAIT)
    answer = block.locator(".live-responses-table .response-col_description pre").first
    expect(answer).to_contain_text('"status": "sent"', timeout=WAIT)
    sent_id = json.loads(answer.inner_text())["id"]
    SHOTS.mkdir(parents=True, exist_ok=True)
    answer.scroll_into_view_if_needed()
    page.screenshot(path=SHOTS / "docs-try-it-out.png", full_page=False)

    received = httpx.get(f"{daemon.url}/api/simulator/sessions/{DEVICE}/sent", headers=ADMIN)
    assert [(m["id"], m["text"]) for m in received.json()["messages"]] == [(sent_id, text)]
    # Nothing came from anywhere but the daemon; nothing was blocked or went wrong.
    assert hosts <= {urlsplit(daemon.url).netloc, "blob"}, hosts
    assert page.evaluate("window.cspViolations") == []
    assert console.errors == []
    # The curl line Swagger UI shows carries the session's key as a bearer token.
    assert re.search(r"Authorization: Bearer wad_", block.locator(".curl").inner_text())
