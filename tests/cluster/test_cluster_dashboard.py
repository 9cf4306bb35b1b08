"""The dashboard of a cluster in headless Chromium: two real ``wad serve`` nodes on one
PostgreSQL database; the session list (on either node) shows which node runs each
session, and a session's page names its node."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ADMIN_TOKEN
from daemons import ADMIN, Node, spawn
from dashboard_browser import Console, shoot, sign_in
from playwright.sync_api import Browser, expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DEVICES = ["north", "south", "east", "west"]


def _listed(url: str) -> dict[str, dict[str, Any]]:
    r = httpx.get(url + "/api/sessions", headers=ADMIN, timeout=10)
    r.raise_for_status()
    return {s["deviceId"]: s for s in r.json()["sessions"]}


def _until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.1)  # other processes decide (a placement): polled


@pytest.fixture
def nodes(tmp_path: Path, pg_url: str) -> Iterator[list[Node]]:
    started = [spawn(tmp_path / name, name, pg_url, "--engine", "simulator") for name in "ab"]
    try:
        for node in started:

            def answers(node: Node = node) -> bool:
                assert node.alive, node.log.read_text()
                try:
                    return httpx.get(node.url + "/healthz", timeout=1).status_code == 200
                except httpx.TransportError:
                    return False

            _until(answers, 60, f"node {node.name} answers")
        yield started
    finally:
        for node in started:
            if node.alive:
                node.terminate()
        for node in started:
            try:
                node.proc.wait(15)
            except Exception:
                node.kill()


def test_the_session_list_shows_each_sessions_node(nodes: list[Node], browser: Browser) -> None:
    a, b = nodes
    for i, device in enumerate(DEVICES):  # created through both nodes
        r = httpx.post(nodes[i % 2].url + "/api/sessions", headers=ADMIN, json={"deviceId": device})
        assert r.status_code == 201, r.text

    def placed() -> bool:
        listed = _listed(a.url)
        return all(listed.get(d, {}).get("connectionState") == "waiting_qr" for d in DEVICES)

    _until(placed, 30, "every session running on a node")
    owners = {d: s["node"] for d, s in _listed(a.url).items()}
    assert Counter(owners.values()) == {"a": 2, "b": 2}, owners

    page = browser.new_page()
    console = Console(page)
    sign_in(page, a.url)
    for node in nodes:  # either node's dashboard shows the whole cluster
        # Signed in on a, the browser is signed in on b as well: its cookie (a
        # cookie is the host's, whatever the port) is good on every node.
        page.goto(node.url + "/")
        table = page.locator("table.sessions")
        expect(table.locator("thead th")).to_have_text(
            ["Device", "State", "Node", "Phone", "API key", "Created", "Last error"]
        )
        for device, owner in owners.items():
            cell = page.locator(f"tr[data-device='{device}'] td[data-label='Node']")
            expect(cell).to_have_text(owner)
    shoot(page, "cluster-sessions")

    # A session's own page names its node too: one that the other node runs, its
    # requests forwarded there with the sign-in's cookie, which every node accepts.
    device = next(d for d, owner in owners.items() if owner == a.name)
    page.locator(f"tr[data-device='{device}']").get_by_role("link", name=device).click()
    expect(page.locator(".meta")).to_contain_text(f"Node{a.name}")
    assert console.errors == []
    page.close()


def test_a_sign_in_on_one_node_serves_every_node(nodes: list[Node]) -> None:
    # nginx in front sends each request to any node: the cookie must hold on each.
    a, b = nodes
    dash = {"X-Wad-Dashboard": "1"}
    r = httpx.post(a.url + "/api/dashboard/login", json={"token": ADMIN_TOKEN}, headers=dash)
    assert r.status_code == 200, r.text
    cookie = {"Cookie": f"wad_dashboard={r.cookies['wad_dashboard']}"}
    r = httpx.post(b.url + "/api/sessions", json={"deviceId": "solo"}, headers={**cookie, **dash})
    assert r.status_code == 201, r.text
    _until(lambda: _listed(a.url).get("solo", {}).get("node") is not None, 30, "solo placed")
    for node in nodes:  # read on both: on one node directly, forwarded from the other
        r = httpx.get(node.url + "/api/sessions/solo", headers=cookie, timeout=10)
        assert r.status_code == 200, r.text
        assert httpx.get(node.url + "/api/dashboard/info", headers=cookie).status_code == 200
    forged = {"Cookie": "wad_dashboard=" + r.request.headers["cookie"].split("=", 1)[1][:-1] + "0"}
    assert httpx.get(b.url + "/api/sessions", headers=forged).status_code == 401
    # Signing out on b ends it there, and the browser drops the cookie it was
    # answered; a copy of the cookie is refused by a a moment later (in that moment
    # a had not heard of it yet).
    r = httpx.post(b.url + "/api/dashboard/logout", headers={**cookie, **dash})
    signed_out = time.monotonic()
    assert r.status_code == 200 and "max-age=0" in r.headers["set-cookie"].lower()
    assert httpx.get(b.url + "/api/dashboard/info", headers=cookie).status_code == 401
    _until(
        lambda: httpx.get(a.url + "/api/dashboard/info", headers=cookie).status_code == 401,
        2,
        "the sign-out on b heard by a",
    )
    print(f"signed out on b: refused by a {(time.monotonic() - signed_out) * 1000:.0f} ms after")
    for node in nodes:
        assert httpx.get(node.url + "/api/sessions", headers=cookie).status_code == 401
