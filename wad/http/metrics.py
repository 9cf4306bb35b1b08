"""``GET /metrics``: the Prometheus scrape target, and the request latency hooks.

Who may scrape: a caller with the admin token (Prometheus sends it with
``authorization: {credentials_file: ...}``), or, without a token, a client
whose address is in ``metrics_allow`` (``WAD_METRICS_ALLOW``, CIDRs; empty by
default, so by default only the admin token opens it).

Plugins add their own families through the ``wad_metrics`` hook (the webhook
plugin's deliveries and its worker's figures).
"""

from __future__ import annotations

import ipaddress
import time
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import trio
from quart import Blueprint, Response, request

from wad.hooks import calls as hooks
from wad.http.context import daemon as current_daemon
from wad.http.helpers import require_admin
from wad.http.openapi import api, text_response
from wad.metrics import registry as metrics
from wad.sessions.states import STATES

if TYPE_CHECKING:
    from wad.hooks import DaemonAPI

bp = Blueprint("metrics", __name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UNMATCHED = "(unmatched)"


@lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def _address_allowed(daemon: DaemonAPI) -> bool:
    allowed = _networks(tuple(daemon.config.metrics_allow))
    if not allowed or not request.remote_addr:
        return False
    try:
        address = ipaddress.ip_address(request.remote_addr)
    except ValueError:  # a Unix socket peer has no IP address
        return False
    return any(address in network for network in allowed)


@bp.get("/metrics")
@api("getMetrics", "System", "admin")
@text_response("The metrics, in Prometheus' text format")
async def scrape() -> Response:
    """Every metric, in the Prometheus text format (admin, or an allowed address)."""
    daemon = current_daemon()
    if not _address_allowed(daemon):
        await require_admin()
    return Response(await collect(daemon), content_type=CONTENT_TYPE)


async def collect(daemon: DaemonAPI) -> str:
    if daemon.store.dialect == "sqlite":  # on a connection of its own, in a thread
        store_counts = await trio.to_thread.run_sync(metrics.count_messages, daemon.config.db_path)
    else:
        store_counts = await daemon.store.read(lambda q: metrics.message_counts(q.db))
    parts = [
        metrics.family(
            "wad_info",
            "gauge",
            "The daemon's version and engine.",
            [((("engine", daemon.config.engine), ("version", _version())), 1)],
        ),
        metrics.render_sessions(daemon.supervisor.counts(), STATES),
        metrics.render_messages(store_counts),
        *daemon.metrics.render_live(),
        metrics.render_numbers(
            "wad_event_subscribers",
            "Live event subscribers.",
            "gauge",
            "kind",
            daemon.events.statistics(),
        ),
        metrics.render_numbers(
            "wad_faults_total",
            "Failures contained to one item (an engine event, a received message, a pass of"
            " a session's task), by cause; each is also logged once with its session.",
            "counter",
            "cause",
            daemon.supervisor.faults.statistics(),
        ),
        metrics.render_numbers(
            "wad_incoming_total",
            "Received messages by stage: received (taken from the engines), stored, duplicate"
            " (already stored), reduced, dropped; undecryptable (the sender's phone is asked"
            " to send it again). received = stored + duplicate + reduced + dropped.",
            "counter",
            "stage",
            daemon.supervisor.inbound.statistics(),
        ),
    ]
    engine_stats = getattr(daemon.supervisor.engine, "statistics", None)
    if engine_stats is not None:
        parts.append(
            metrics.render_numbers(
                "wad_engine",
                "The engine's own figures: with neonize, worker processes started,"
                " running, crashed (ended unasked: killed, panicked) and killed after the grace.",
                "gauge",
                "figure",
                engine_stats(),
            )
        )
    http = getattr(daemon, "http", None)  # the running server (none in a bare app)
    if http is not None:
        parts.append(
            metrics.render_numbers(
                "wad_http",
                "HTTP connections accepted (since start), open, refused over max_connections"
                " (since start); requests running, large bodies being read.",
                "gauge",
                "figure",
                http.statistics(),
            )
        )
    if daemon.config.database_url is not None:  # a node of a cluster
        from wad.http import cluster_metrics

        parts += cluster_metrics.render(daemon)
    parts += await hooks.metrics(daemon)
    parts.append(metrics.render_process(daemon.metrics.started))
    return metrics.render(parts)


def _version() -> str:
    from wad import __version__

    return __version__


def observe_request(histogram: metrics.Histogram, req: Any, response: Any, started: float) -> None:
    """Time a request, labelled by its route pattern (never the raw path, so the
    number of series stays bounded); called last after every request by
    :mod:`wad.api.around`."""
    rule = req.url_rule
    histogram.observe(
        time.perf_counter() - started,
        method=req.method,
        route=rule.rule if rule is not None else UNMATCHED,
        status=str(response.status_code),
    )
