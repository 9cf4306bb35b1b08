"""What runs around every request, as ONE hook before it and ONE after it.

Quart awaits each registered hook on every request, through its context-local
proxies; on the send path the five hooks this replaces cost more than their
work. Before: the request's timing starts, and an API request asks the
rate-limit hook (``wad_rate_limit``). After: the rate-limit headers, the
headers of the dashboard's static files, the ``WWW-Authenticate`` challenge
of a 401, and last the timing, so that it covers the other hooks too.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from quart import Quart, request

from wad.hooks import calls as hooks
from wad.http import assets, credentials, metrics
from wad.http.helpers import principal

if TYPE_CHECKING:
    from wad.hooks import DaemonAPI


def install(app: Quart, daemon: DaemonAPI) -> None:
    """Register the two hooks; before any other hook, so the timing covers them."""
    histogram = daemon.metrics.requests

    @app.before_request
    async def before() -> Any:
        req = request._get_current_object()  # type: ignore[attr-defined]
        req.wad_started = time.perf_counter()
        if not req.path.startswith("/api/"):
            return None
        who = await principal()
        if who.kind == "anonymous":
            key = f"addr:{req.remote_addr}"
        else:
            key = f"{who.kind}:{who.device_id or ''}"
        decision = hooks.rate_limit(daemon, who, "http", key)
        if decision is None:
            return None
        req.wad_rate = decision
        if not decision.allowed:
            error = {"success": False, "error": "Too many requests", "code": "rate_limited"}
            return error, 429, decision.headers()
        return None

    @app.after_request
    async def after(response: Any) -> Any:
        req = request._get_current_object()  # type: ignore[attr-defined]
        decision = getattr(req, "wad_rate", None)
        if decision is not None and decision.allowed:
            response.headers.update(decision.headers())
        if req.path.startswith("/static/"):
            assets.static_headers(response)
        if response.status_code == 401:  # every 401, a plugin's too
            response.headers.setdefault("WWW-Authenticate", credentials.challenge())
        started = getattr(req, "wad_started", None)
        if started is not None:
            metrics.observe_request(histogram, req, response, started)
        return response
