"""Small helpers every route uses: the daemon's service, bodies, replies, auth."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from quart import Response, current_app, request

from wad import text
from wad.auth.principal import Principal
from wad.errors import WadError, bad_request
from wad.http import credentials

M = TypeVar("M", bound=BaseModel)
# json.dumps with options builds an encoder on every call; the answers share one.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def ok(http_status: int = 200, **fields: Any) -> Response:
    """A success answer, encoded here: a ready Response passes quart-schema's
    conversion untouched (it would build a pydantic TypeAdapter for every dict
    answer, a twentieth of a send's time). No route validates its response, so
    nothing is lost; the documented schemas still come from ``document_response``."""
    data = {"success": True, **fields}
    try:
        text = _ENCODER.encode(data)
    except TypeError:  # a value plain json cannot encode (a date...): Quart's encoder can
        text = current_app.json.dumps(data)
    return Response(text, status=http_status, content_type="application/json")


async def body(model: type[M], *, empty_ok: bool = False) -> M:
    """Parse the JSON body into ``model``; every problem is a 400 with a clear message.

    A body must be UTF-8 JSON with valid Unicode in every string (no lone
    surrogate) and at most :data:`wad.text.MAX_JSON_DEPTH` levels of nesting:
    :mod:`wad.text` says why."""
    raw = await request.get_data(cache=True, as_text=False, parse_form_data=False)
    if not raw.strip():
        if not empty_ok:
            raise bad_request("A JSON body is required")
        raw = b"{}"
    if text.json_too_deep(raw):
        raise bad_request(f"The JSON body is nested more than {text.MAX_JSON_DEPTH} levels deep")
    try:  # a good body is parsed and checked in one pass, by pydantic's own parser
        return model.model_validate_json(raw)
    except ValidationError as exc:
        if any(error["type"] == "json_invalid" for error in exc.errors()):
            raise _malformed(raw) from None
    # Valid JSON to pydantic's parser, the stricter one (it refuses lone surrogates
    # and invalid UTF-8); parsed again to name the problem as every route names it.
    try:
        data = json.loads(raw)
    except ValueError:
        raise bad_request("Malformed JSON body") from None
    if not isinstance(data, dict):
        raise bad_request("The JSON body must be an object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise bad_request(f"{where}: {first['msg']}") from None


def _malformed(raw: bytes) -> WadError:
    """The 400 for a body that is not valid JSON, saying why where it is a usual mistake."""
    try:
        decoded = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return bad_request("The body is not valid UTF-8")
    except ValueError:
        return bad_request("Malformed JSON body")
    if text.has_lone_surrogate(decoded):
        return bad_request(
            "Malformed JSON body: a string holds a lone surrogate (\\ud800-\\udfff), "
            "which is not valid Unicode"
        )
    return bad_request("Malformed JSON body")


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def principal() -> Principal:
    """Who is calling; asked once per request and kept on the request."""
    req = request._get_current_object()  # type: ignore[attr-defined]  # once, not per use
    cached: Principal | None = getattr(req, "wad_principal", None)
    if cached is not None:
        return cached
    who = await credentials.authenticate(bearer_token())
    req.wad_principal = who
    return who


async def require_admin() -> None:
    who = await principal()
    if who.is_admin:
        return
    if who.kind == "anonymous":
        raise WadError("unauthorized", _why_unauthorized("admin token", "the admin token"))
    raise WadError("forbidden", "This needs the admin token, not a session's API key")


async def require_session_key(device_id: str) -> None:
    who = await principal()
    if who.holds_key_of(device_id):
        return
    if who.is_admin:
        raise WadError("forbidden", "The admin token cannot send; use the session's API key")
    raise WadError("unauthorized", _why_unauthorized("API key", "this session's API key"))


async def require_admin_or_key(device_id: str) -> None:
    who = await principal()
    if not (who.is_admin or who.holds_key_of(device_id)):
        raise WadError(
            "unauthorized",
            _why_unauthorized("credentials", "the admin token or this session's API key"),
        )


def _why_unauthorized(what: str, wanted: str) -> str:
    """The 401's message: what was wrong, and which credential the route wants."""
    if bearer_token() is None:
        return f"Missing credentials: this needs {wanted}, as 'Authorization: Bearer <token>'"
    return f"Invalid {what}: this needs {wanted}"
