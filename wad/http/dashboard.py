"""The web dashboard: its page at ``/``, sign-in and sign-out, and what the page
needs to know about the daemon.

The page and its assets (``wad/static``, served at ``/static/...`` and under
versioned URLs by :mod:`wad.http.assets`) hold no data; every piece of data
comes from the admin API, which the page reaches with the sign-in cookie of
:mod:`wad.auth.logins` (the daemon holds the sign-ins: ``DaemonAPI.logins``).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field
from quart import Blueprint, Response, current_app, request
from quart_schema import document_request, document_response, hide

from wad import __version__
from wad.auth.logins import COOKIE, DashboardLogins, refuse_cross_site
from wad.errors import WadError
from wad.http import assets, credentials, schemas
from wad.http.context import daemon as current_daemon
from wad.http.context import services
from wad.http.helpers import body, ok, require_admin
from wad.http.openapi import api
from wad.store.clock import iso_at

bp = Blueprint("dashboard", __name__)

# Everything the page loads comes from this host; QR codes are data: URLs.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}


class Login(schemas.Body):
    token: str = Field(description="the admin token", min_length=1, max_length=1024)


class LoginOpened(schemas.Ok):
    expiresAt: schemas.Timestamp


class DashboardInfo(schemas.Ok):
    version: str
    engine: str
    qrInterval: float = Field(description="seconds a QR code is shown before the next one")
    qrFirstInterval: float = Field(description="seconds the first QR code of a pairing shows")
    expiresAt: schemas.Timestamp | None = Field(
        description="when the dashboard sign-in ends, if by cookie"
    )


@bp.get("/")
@hide
async def page() -> Response:
    """The dashboard's single page; it shows the sign-in form when signed out."""
    # Its assets under versioned URLs (wad.http.assets): an upgrade is seen at once.
    return Response(assets.assets().page(), mimetype="text/html", headers=PAGE_HEADERS)


class LoginState(schemas.Ok):
    signedIn: bool
    # Where the admin token is (its path, never the token), for the sign-in page;
    # None when it comes from WAD_ADMIN_TOKEN.
    tokenFile: str | None = None


@bp.get("/api/dashboard/login")
@api("getDashboardLogin", "Dashboard", "public")
@document_response(LoginState)
async def login_state() -> Response:
    """Whether this browser's dashboard cookie is signed in (no credentials needed: it
    tells nothing else), so the page can show the sign-in form without a failed call."""
    login_id = request.cookies.get(COOKIE)
    file = current_daemon().services.status.admin.file
    return ok(
        signedIn=bool(login_id and _logins().expires(login_id) is not None),
        tokenFile=None if file is None else str(file),
    )


@bp.post("/api/dashboard/login")
@api("dashboardLogin", "Dashboard", "public", errors=[401])
@document_request(Login)
@document_response(LoginOpened)
async def login() -> Response:
    """Sign the dashboard in with the admin token: sets an HttpOnly cookie that stands
    for the admin until `expiresAt`. Needs the `X-Wad-Dashboard: 1` header."""
    refuse_cross_site(request)
    data = await body(Login)
    who = await credentials.authenticate(data.token.strip())
    if not who.is_admin:
        raise WadError("unauthorized", "Wrong admin token")
    logins = _logins()
    old = request.cookies.get(COOKIE)
    if old:
        await logins.close(old)
    login_id, expires = logins.open()
    response = current_app.response_class(
        _json({"success": True, "expiresAt": iso_at(expires, "seconds")}),
        mimetype="application/json",
    )
    response.set_cookie(
        COOKIE,
        login_id,
        max_age=int(logins.lifetime),
        path="/",
        httponly=True,
        samesite="Strict",
        secure=request.scheme == "https",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/api/dashboard/logout")
@api("dashboardLogout", "Dashboard", "public")
@document_response(schemas.Ok)
async def logout() -> Response:
    """Sign the dashboard out: the cookie's login ends at once and the cookie is cleared."""
    refuse_cross_site(request)
    login_id = request.cookies.get(COOKIE)
    if login_id:
        await _logins().close(login_id)
    response = current_app.response_class(
        _json({"success": True, "message": "Signed out"}), mimetype="application/json"
    )
    response.delete_cookie(
        COOKIE, path="/", httponly=True, samesite="Strict", secure=request.scheme == "https"
    )
    return response


@bp.get("/api/dashboard/info")
@api("getDashboardInfo", "Dashboard", "admin")
@document_response(DashboardInfo)
async def info() -> Response:
    """What the dashboard shows about the daemon (admin): version, engine, how long QR
    codes last, and when the cookie sign-in ends."""
    await require_admin()
    daemon = current_daemon()
    engine = daemon.supervisor.engine
    interval = float(getattr(engine, "qr_interval", 20.0))
    # whatsmeow shows its first code for 60 s and each next one for 20 s.
    first = interval if hasattr(engine, "qr_interval") else 60.0
    login_id = request.cookies.get(COOKIE)
    expires = _logins().expires(login_id) if login_id else None
    return ok(
        version=__version__,
        engine=daemon.config.engine,
        qrInterval=interval,
        qrFirstInterval=first,
        expiresAt=iso_at(expires, "seconds") if expires else None,
    )


class QrRequest(schemas.Body):
    code: str = Field(min_length=1, max_length=1024, description="a qrCode from a session.qr event")


class QrImage(schemas.Ok):
    qrImage: str = Field(description="PNG image of the QR code as a data URL")


@bp.post("/api/dashboard/qr-image")
@api("drawQrImage", "Dashboard", "admin")
@document_request(QrRequest)
@document_response(QrImage)
async def qr_image() -> Response:
    """Draw a QR code the page got from a `session.qr` event (admin). Unlike
    `GET .../qr`, this cannot race with the session moving on (a 409)."""
    await require_admin()
    data = await body(QrRequest)
    return ok(qrImage=services().sessions.qr_image(data.code))


def _logins() -> DashboardLogins:
    return current_daemon().logins


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data)
