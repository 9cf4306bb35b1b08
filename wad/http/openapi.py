"""The OpenAPI 3.1 document, generated from the routes, and ``GET /openapi.json``.

Each route names itself with :func:`api`: its operationId, its tag, who may call
it and the errors its work can answer (409, 503...). From that and from the route
itself the provider (:mod:`wad.http.openapi_provider`) adds the errors every such
route can answer: 401/403 for a credential, 400/404 for a path parameter, 400/413
for a body, 400 for a query, 403 for a change under ``/api/`` (a forged dashboard
request), 429 under ``/api/`` (the rate limit); each with the error envelope
:class:`~wad.http.schemas.Error`. quart-schema's ``document_*`` decorators give the
bodies, answers and parameters; the decorators here what they cannot say.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, TypeVar

from pydantic import BaseModel
from quart import Quart, Response, current_app
from quart_schema import QuartSchema, hide

from wad import __version__
from wad.http.openapi_provider import (
    ATTRIBUTE,
    EXTRA,
    MODELS,
    MULTIPART,
    WEBHOOKS,
    ApiDoc,
    Auth,
    WadOpenAPIProvider,
    merge,
)

__all__ = [
    "ENGINE",
    "Auth",
    "api",
    "binary_response",
    "event_stream",
    "extra",
    "install",
    "multipart_body",
    "text_response",
    "webhook",
]

F = TypeVar("F", bound=Callable[..., Any])
#: Errors of a route that calls WhatsApp (the engine): not connected, engine failure.
ENGINE = (409, 503)


def api(operation_id: str, tag: str, auth: Auth, *, errors: Iterable[int] = ()) -> Callable[[F], F]:
    """Name a route's operation, tag it, say who may call it (``admin``, ``key``: the
    session's API key, ``admin_or_key``, ``public``) and which errors its work can
    answer beyond those the provider derives from the route."""
    doc = ApiDoc(operation_id, tag, auth, tuple(errors))

    def decorator(func: F) -> F:
        setattr(func, ATTRIBUTE, doc)
        return func

    return decorator


def extra(operation: dict[str, Any]) -> Callable[[F], F]:
    """Deep-merge ``operation`` into the route's operation object."""

    def decorator(func: F) -> F:
        setattr(func, EXTRA, merge(copy.deepcopy(getattr(func, EXTRA, {})), operation))
        return func

    return decorator


def binary_response(description: str, media_type: str = "*/*") -> Callable[[F], F]:
    """A 200 whose body is a file (of ``media_type``; any type by default)."""
    content = {media_type: {"schema": {"type": "string", "format": "binary"}}}
    return extra({"responses": {"200": {"description": description, "content": content}}})


def text_response(description: str, media_type: str = "text/plain") -> Callable[[F], F]:
    """A 200 whose body is text (of ``media_type``)."""
    content = {media_type: {"schema": {"type": "string"}}}
    return extra({"responses": {"200": {"description": description, "content": content}}})


def event_stream(model: type[BaseModel]) -> Callable[[F], F]:
    """A 200 that is a stream of server-sent events, each `data:` line one ``model``
    (a named component, though no schema can say so in OpenAPI 3.1)."""
    name = model.__name__
    response = {
        "description": f"Server-sent events; each `data:` line is one JSON `{name}`.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
    add_response = extra({"responses": {"200": response}})

    def decorator(func: F) -> F:
        setattr(func, MODELS, [*getattr(func, MODELS, []), model])
        return add_response(func)

    return decorator


def multipart_body(model: type[BaseModel]) -> Callable[[F], F]:
    """The route also takes its body as ``multipart/form-data`` fields (``model``)."""

    def decorator(func: F) -> F:
        setattr(func, MULTIPART, model)
        return func

    return decorator


def webhook(
    app: Quart, name: str, model: type[BaseModel], summary: str, description: str = ""
) -> None:
    """Document a request that wad makes to a subscriber (OpenAPI ``webhooks``)."""
    app.config.setdefault(WEBHOOKS, {})[name] = (model, summary, description)


def install(app: Quart) -> None:
    """quart-schema with wad's provider, and ``GET /openapi.json`` as UTF-8."""
    QuartSchema(
        app,
        info={
            "title": "wad",
            "version": __version__,
            "description": INFO,
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        openapi_path=None,
        swagger_ui_path=None,
        redoc_ui_path=None,
        scalar_ui_path=None,
        openapi_provider_class=WadOpenAPIProvider,
    )
    _pass_responses_through(app)

    hide(app.send_static_file.__func__)  # type: ignore[attr-defined]  # the dashboard's files

    @app.get("/openapi.json")
    @hide
    async def openapi_document() -> Response:
        # Built once: every route is registered before the first request. Written as
        # UTF-8, not ASCII escapes: an emoji escaped as a surrogate pair is refused by
        # YAML loaders that read JSON.
        text = current_app.config.get("WAD_OPENAPI_TEXT")
        if text is None:
            document = current_app.extensions["QUART_SCHEMA"].openapi_provider.schema()
            text = json.dumps(document, ensure_ascii=False, indent=1)
            current_app.config["WAD_OPENAPI_TEXT"] = text
        return Response(text, content_type="application/json; charset=utf-8")


def _pass_responses_through(app: Quart) -> None:
    """A ready :class:`Response` (what :func:`wad.http.helpers.ok` answers) goes
    straight to Quart's ``make_response``: quart-schema's wrapper would look it over
    for a model to convert, find none and hand it on unchanged, at a cost of about
    one per cent of a send. Anything else (a dict, a tuple) is converted as before."""
    converting = app.make_response
    plain = partial(Quart.make_response, app)

    async def make_response(result: Any) -> Any:
        if type(result) is Response:
            return await plain(result)
        return await converting(result)

    app.make_response = make_response  # type: ignore[method-assign]


INFO = """Self-hosted WhatsApp API daemon.

Every error answers `{"success": false, "error": "...", "code": "..."}`: `error` is
for people, `code` a stable machine-readable code (see the `Error` schema for the
list). Session management needs the admin token (`adminToken`); sending and acting
on a session's messages need that session's API key (`sessionKey`). Events reach
you as webhooks (see Webhooks) or as the server-sent stream `GET /api/events`."""
