"""Stored XSS through media: a WhatsApp contact sends an HTML or SVG "document" with a
script and no file name; a signed-in admin opens its media URL in a real Chromium.

The planted script, had it run on wad's origin, would set the page's title at once
and then use the admin's cookie to create a session named ``pwned``. Neither
happens: the answer is a download (``attachment``, ``application/octet-stream``).
And even a browser that rendered the bytes anyway gets ``sandbox``: the same
document served with wad's headers but its original type does not run, while
without them (the control) it does.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import Process, follow_state, spawn_daemon
from dashboard_browser import ADMIN, sign_in
from playwright.sync_api import Browser, Route
from playwright.sync_api import Error as PlaywrightError

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STEAL = (
    "document.title = 'pwned';"
    "fetch('/api/sessions').then(r => r.text()).then(t => fetch('/api/sessions', {"
    "method: 'POST', headers: {'Content-Type': 'application/json', 'X-Wad-Dashboard': '1'},"
    "body: JSON.stringify({deviceId: 'pwned'})}));"
)
HTML = f"<html><head><title>untouched</title></head><body><script>{STEAL}</script></body></html>"
SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg"><title>untouched</title>'
    f"<script>{STEAL}</script></svg>"
)
PLANTED = {"text/html": HTML, "image/svg+xml": SVG}


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Process]:
    process = spawn_daemon(tmp_path, "--engine", "simulator")
    yield process
    process.stop()


def plant(api: httpx.Client) -> dict[str, str]:
    """A linked session receives each planted document, with no file name; their
    media URLs by type."""
    assert api.post("/api/sessions", json={"deviceId": "dev1"}).status_code == 201
    follow_state(api, "dev1", "waiting_qr")
    scanned = api.post("/api/simulator/sessions/dev1/scan", json={"phoneNumber": "15550001111"})
    assert scanned.status_code == 200, scanned.text
    follow_state(api, "dev1", "connected")
    urls = {}
    for mimetype, text in PLANTED.items():
        r = api.post(
            "/api/simulator/sessions/dev1/incoming",
            json={
                "from": "15550002222",
                "type": "document",
                "media": {"data": base64.b64encode(text.encode()).decode(), "mimetype": mimetype},
            },
        )
        assert r.status_code == 200, r.text
        messages = api.get("/api/sessions/dev1/messages?direction=in").json()["messages"]
        urls[mimetype] = f"/api/sessions/dev1/messages/{messages[0]['id']}/media"
    return urls


def test_planted_html_and_svg_never_run_on_the_origin(daemon: Process, browser: Browser) -> None:
    api = httpx.Client(base_url=daemon.url, headers=ADMIN, timeout=10)
    urls = plant(api)
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    sign_in(page, daemon.url)

    for mimetype, url in urls.items():
        r = api.get(url)
        assert r.status_code == 200 and r.text == PLANTED[mimetype]
        assert r.headers["content-type"] == "application/octet-stream"
        assert r.headers["content-disposition"].startswith("attachment; filename=")
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["content-security-policy"] == "default-src 'none'; sandbox"

        # The admin opens the link: Chromium downloads the file, the page stays the
        # dashboard and nothing of the document ran.
        opened = context.new_page()
        with opened.expect_download() as download:
            with contextlib.suppress(PlaywrightError):  # the navigation becomes a download
                opened.goto(daemon.url + url)
            assert opened.title() != "pwned", f"the planted {mimetype} ran on wad's origin"
        saved = download.value
        assert Path(saved.path()).read_text() == PLANTED[mimetype]
        assert saved.suggested_filename.endswith((".html", ".svg"))
        opened.close()

        # Defence in depth: a browser that renders it as its claimed type anyway (here
        # forced through an interception that restores the type and drops the
        # attachment) still runs no script under wad's CSP.
        assert render_title(context, daemon.url + url, mimetype, keep_policy=True) == "untouched"

    # The dashboard's tab still works and no script created anything with its cookie.
    assert page.evaluate("fetch('/api/sessions').then(r => r.status)") == 200
    assert [s["deviceId"] for s in api.get("/api/sessions").json()["sessions"]] == ["dev1"]
    # The control: the same bytes without wad's headers do run, so the checks above can fail.
    for mimetype, url in urls.items():
        assert render_title(context, daemon.url + url, mimetype, keep_policy=False) == "pwned"
    context.close()


def render_title(context, url: str, mimetype: str, *, keep_policy: bool) -> str:
    """Open ``url`` with its answer rewritten to be rendered as ``mimetype``: with wad's
    CSP and nosniff kept, or with every security header of wad's answer dropped."""

    def rewrite(route: Route) -> None:
        answer = route.fetch()
        headers = {
            k: v
            for k, v in answer.headers.items()
            if k.lower() not in ("content-type", "content-disposition", "content-length")
        }
        if not keep_policy:
            headers.pop("content-security-policy", None)
        headers["content-type"] = mimetype
        route.fulfill(status=200, headers=headers, body=answer.body())

    page = context.new_page()
    page.route(url, rewrite)
    page.goto(url)
    # A script that runs, runs while the document is parsed: before goto returns.
    title = page.title()
    page.close()
    return title
