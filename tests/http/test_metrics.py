"""``GET /metrics``: who may scrape it, that it parses as Prometheus text, and that its
figures follow what the daemon does (sessions, messages, webhooks, requests, lag)."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest
import trio
from conftest import Running, make_config, start_daemon
from webhook_receiver import Receiver

from wad.config import ConfigError, load
from wad.engines.simulator.engine import SimulatorEngine
from wad.metrics.registry import Histogram
from wad.runtime import looplag

PHONE = "15550002222"
SAMPLE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_]\w*="(?:[^"\\]|\\.)*",?)*\})?'
    r" (-?[0-9.e+-]+|\+Inf|-Inf|NaN)$"
)
LABEL = re.compile(r'([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"')

Samples = dict[str, dict[frozenset[tuple[str, str]], float]]


def parse(text: str) -> Samples:
    """Parse the text format strictly: every line a comment or a well-formed sample,
    every sample of a family that declared its TYPE, histograms cumulative."""
    samples: Samples = defaultdict(dict)
    types: dict[str, str] = {}
    assert text.endswith("\n")
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert name not in types, f"family {name} declared twice"
            types[name] = kind
            continue
        if line.startswith("#"):
            assert line.startswith("# HELP "), line
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, labels, value = match[1], match[2] or "", match[3]
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in types or types.get(base) == "histogram", f"no TYPE for {name}"
        samples[name][frozenset(LABEL.findall(labels))] = float(value)
    for name, kind in types.items():
        if kind != "histogram":
            continue
        series: dict[frozenset, list[tuple[float, float]]] = defaultdict(list)
        for labels, value in samples[name + "_bucket"].items():
            le = dict(labels)["le"]
            series[labels - {("le", le)}].append((float(le), value))
        for labels, buckets in series.items():
            counts = [v for _, v in sorted(buckets)]
            assert counts == sorted(counts), f"{name} buckets not cumulative"
            assert counts[-1] == samples[name + "_count"][labels]
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get(name, {}).get(frozenset(labels.items()), 0.0)


async def scrape(wad: Running, headers: dict[str, str] | None = None) -> Samples:
    r = await wad.client.get("/metrics", headers=wad.admin if headers is None else headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(r.text)


async def connected(wad: Running, device_id: str = "dev1") -> dict[str, str]:
    """A connected session; returns the headers with its API key."""
    return {"Authorization": f"Bearer {await wad.connected_key(device_id)}"}


async def test_refused_without_the_admin_token(wad: Running) -> None:
    key = await connected(wad)
    r = await wad.client.get("/metrics")
    assert r.status_code == 401 and r.json()["success"] is False
    r = await wad.client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    r = await wad.client.get("/metrics", headers=key)
    assert r.status_code == 403
    # Documented like every other route, with the credential it needs.
    scrape = (await wad.client.get("/openapi.json")).json()["paths"]["/metrics"]["get"]
    assert scrape["security"] == [{"adminToken": []}] and "401" in scrape["responses"]


async def test_figures_follow_what_the_daemon_does(wad: Running) -> None:
    before = await scrape(wad)
    assert value(before, "wad_sessions", state="connected") == 0
    assert value(before, "wad_info", engine="simulator", version=__import__("wad").__version__)
    assert value(before, "process_resident_memory_bytes") > 10_000_000
    assert "wad_event_loop_lag_seconds" in before

    key = await connected(wad)
    await wad.client.post("/api/sessions", json={"deviceId": "idle"}, headers=wad.admin)
    await wad.wait_state("idle", "waiting_qr")
    for i in range(3):
        r = await wad.client.post(
            "/api/messages/send",
            headers=key,
            json={"deviceId": "dev1", "number": PHONE, "message": f"m{i}"},
        )
        assert r.status_code == 200
    r = await wad.client.post(
        "/api/messages/send",
        headers=key,
        json={"deviceId": "dev1", "number": "15550000000", "message": "to nobody"},
    )
    assert r.status_code == 400  # not on WhatsApp: recorded as failed
    for i in range(2):
        r = await wad.client.post(
            "/api/simulator/sessions/dev1/incoming",
            headers=wad.admin,
            json={"from": PHONE, "message": f"in{i}"},
        )
        assert r.status_code == 200
    await wad.client.get("/api/sessions/dev1/no/such/route", headers=wad.admin)

    after = await scrape(wad)
    assert value(after, "wad_sessions", state="connected") == 1
    assert value(after, "wad_sessions", state="waiting_qr") == 1
    assert value(after, "wad_messages", direction="out", status="sent") == 3
    assert value(after, "wad_messages", direction="out", status="failed") == 1
    assert value(after, "wad_messages", direction="in", status="received") == 2
    assert value(after, "wad_events_total", type="message.sent") == 3
    assert value(after, "wad_events_total", type="message") == 2
    # Latency by route pattern, not by raw path; unknown paths share one series.
    assert (
        value(
            after,
            "wad_http_request_duration_seconds_count",
            method="POST",
            route="/api/messages/send",
            status="200",
        )
        == 3
    )
    assert (
        value(
            after,
            "wad_http_request_duration_seconds_count",
            method="POST",
            route="/api/simulator/sessions/<device_id>/incoming",
            status="200",
        )
        == 2
    )
    assert (
        value(
            after,
            "wad_http_request_duration_seconds_count",
            method="GET",
            route="(unmatched)",
            status="404",
        )
        == 1
    )
    assert not any(
        "dev1" in dict(labels).get("route", "")
        for labels in after["wad_http_request_duration_seconds_count"]
    )
    # The first scrape is counted by the second.
    assert (
        value(
            after,
            "wad_http_request_duration_seconds_count",
            method="GET",
            route="/metrics",
            status="200",
        )
        == 1
    )

    assert value(after, "wad_session_reconnects_total", cause="dropped") == 0
    r = await wad.client.post("/api/simulator/sessions/dev1/drop", headers=wad.admin)
    assert r.status_code == 200
    await wad.wait_state("dev1", "connected")
    dropped = await scrape(wad)
    assert value(dropped, "wad_session_reconnects_total", cause="dropped") == 1


async def test_webhook_deliveries_and_retries(tmp_path: Path, nursery: trio.Nursery) -> None:
    receiver = Receiver(answer=lambda n, request: 500 if n == 1 else 200)
    await nursery.start(receiver.serve)
    config = make_config(tmp_path)
    config.plugin_settings["webhooks"] = {
        "allow_networks": "127.0.0.0/8",
        "retry_schedule": "10ms,20ms",
    }
    wad = await start_daemon(nursery, config, SimulatorEngine())
    await connected(wad)
    r = await wad.client.post(
        "/api/sessions/dev1/webhooks",
        headers=wad.admin,
        json={"url": receiver.url, "events": ["message"]},
    )
    assert r.status_code == 201
    worker = wad.daemon.plugins.get_plugin("webhooks").worker
    for i in range(2):
        await wad.client.post(
            "/api/simulator/sessions/dev1/incoming",
            headers=wad.admin,
            json={"from": PHONE, "message": f"in{i}"},
        )
    with trio.fail_after(10):
        while len(receiver.answered()) < 2:
            await worker.wait_recorded()
        while worker.statistics()["unrecorded"] or worker.statistics()["inFlight"]:
            await worker.wait_recorded()
    samples = await scrape(wad)
    assert value(samples, "wad_webhook_deliveries", status="delivered") == 2
    assert value(samples, "wad_webhook_retries", status="delivered") == 1
    assert value(samples, "wad_webhook_worker", figure="attempts") == 3
    await wad.close()


async def test_allowed_addresses_scrape_without_a_token(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    config = make_config(tmp_path, metrics_allow="127.0.0.0/8")
    wad = await start_daemon(nursery, config, SimulatorEngine())
    assert "wad_sessions" in await scrape(wad, headers={})
    # Allowing the address opens /metrics only, nothing else.
    assert (await wad.client.get("/api/sessions")).status_code == 401
    await wad.close()


async def test_an_address_elsewhere_still_needs_the_token(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    config = make_config(tmp_path, metrics_allow="10.0.0.0/8,::1/128")
    wad = await start_daemon(nursery, config, SimulatorEngine())
    assert (await wad.client.get("/metrics")).status_code == 401
    await wad.close()


def test_bad_allow_list_is_refused() -> None:
    with pytest.raises(ConfigError, match="metrics_allow"):
        load({"metrics_allow": "10.0.0.0/8,not-a-net"}, env={})


async def test_lag_monitor_sees_a_blocked_loop(autojump_clock: trio.testing.MockClock) -> None:
    lags: list[float] = []
    got = trio.Event()

    def observe(lag: float) -> None:
        lags.append(lag)
        if len(lags) == 3:
            got.set()

    async with trio.open_nursery() as nursery:
        await nursery.start(looplag.monitor, observe, 1.0)
        await trio.sleep(1.5)
        # Something holds the loop for 4 s without yielding: the next wake-up is late.
        autojump_clock.jump(4.0)
        await got.wait()
        nursery.cancel_scope.cancel()
    assert lags[0] == 0.0
    assert lags[1] == pytest.approx(3.5)
    assert lags[2] == 0.0


def test_histogram_buckets() -> None:
    h = Histogram("x_seconds", "help", (0.1, 1.0))
    for v in (0.05, 0.1, 0.5, 3.0):
        h.observe(v, route="/a")
    text = h.render() + "\n"
    samples = parse("# TYPE x_seconds histogram\n" + text.split("\n", 2)[2])
    assert value(samples, "x_seconds_bucket", route="/a", le="0.1") == 2
    assert value(samples, "x_seconds_bucket", route="/a", le="1") == 3
    assert value(samples, "x_seconds_bucket", route="/a", le="+Inf") == 4
    assert value(samples, "x_seconds_sum", route="/a") == pytest.approx(3.65)


def test_engine_statistics_as_a_dataclass() -> None:
    from wad.engines.neonize.engine import EngineStatistics
    from wad.metrics.registry import render_numbers

    text = (
        render_numbers(
            "wad_engine",
            "help",
            "gauge",
            "figure",
            EngineStatistics(workers_started=3, worker_crashes=1),
        )
        + "\n"
    )
    samples = parse(text)
    assert value(samples, "wad_engine", figure="workers_started") == 3
    assert value(samples, "wad_engine", figure="worker_crashes") == 1
    assert value(samples, "wad_engine", figure="workers_killed") == 0


async def test_plugins_add_families_through_the_hook(wad: Running) -> None:
    """``wad_metrics``: a plugin's families are scraped with the core's (awaited)."""
    from testplugins.figures import FiguresPlugin

    wad.daemon.plugins.register(FiguresPlugin(), name="figures")
    samples = await scrape(wad)
    assert value(samples, "test_scrapes") == 1
    assert "test_session_states" in samples and "wad_sessions" in samples
    assert value(await scrape(wad), "test_scrapes") == 2


async def test_no_webhook_figures_without_the_webhook_plugin(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    """The core reads no plugin's tables: the webhook families come from the plugin."""
    families = ("wad_webhook_deliveries", "wad_webhook_retries", "wad_webhook_worker")
    wad = await start_daemon(nursery, make_config(tmp_path), SimulatorEngine())
    text = (await wad.client.get("/metrics", headers=wad.admin)).text
    assert all(f"# TYPE {name} gauge" in text for name in families)
    await wad.close()
    config = make_config(tmp_path / "other", disable_plugins="webhooks")
    wad = await start_daemon(nursery, config, SimulatorEngine())
    text = (await wad.client.get("/metrics", headers=wad.admin)).text
    assert "# TYPE wad_sessions gauge" in text and "wad_webhook" not in text
    await wad.close()
