"""How wad's OpenAPI document is built: quart-schema's provider, and what wad adds.

What stock quart-schema 0.25 does differently, and why it is changed here: it
prefixes every operationId with the method (``post_logout`` twice); it inlines a
route's top-level models, which generators then name from the path
(``PutSetApiKeySetApiKey``), so they become named components here; it puts
response headers inside ``content``; it never marks a parameter required.
quart-schema always writes ``"openapi": "3.1.0"``: Swagger UI 5 and
openapi-python-client both read 3.1, so the document stays 3.1. The routes use
:mod:`wad.http.openapi`'s decorators, which set the attributes read here.
"""

from __future__ import annotations

import copy
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel
from quart_schema import OpenAPIProvider
from quart_schema.typing import Model
from quart_schema.validation import DataSource
from werkzeug.routing import Rule

from wad.http.schemas import Error
from wad.validation import DEVICE_ID_PATTERN

__all__ = ["ApiDoc", "Auth", "WadOpenAPIProvider", "merge"]

Auth = Literal["admin", "key", "admin_or_key", "public"]
REF = "#/components/schemas/"
ATTRIBUTE = "_wad_api"
EXTRA = "_wad_api_extra"
MULTIPART = "_wad_api_multipart"
MODELS = "_wad_api_models"  # models named in a description only, added to the components
WEBHOOKS = "WAD_OPENAPI_WEBHOOKS"  # app.config: name -> (model, summary, description)

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "adminToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "The admin token (WAD_ADMIN_TOKEN). The dashboard's sign-in"
        " cookie stands for it too.",
    },
    "sessionKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "A session's API key, from PUT /api/sessions/{device_id}/api-key.",
    },
}
SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "admin": [{"adminToken": []}],
    "key": [{"sessionKey": []}],
    "admin_or_key": [{"adminToken": []}, {"sessionKey": []}],
    "public": [],
}
TAGS = {
    "Sessions": "Create, link, inspect and remove sessions (admin).",
    "Messages": "Send and list messages, act on them (the session's API key).",
    "Contacts and groups": "Who is on WhatsApp, and the groups of the account.",
    "Events": "What happens, as a live stream or a session's recent history.",
    "Webhooks": "Each session's events POSTed to its endpoints (the webhooks plugin).",
    "Dashboard": "What the web dashboard signs in with and asks.",
    "Simulator": "The virtual phone's controls (only with --engine simulator).",
    "System": "Health, plugins and metrics.",
}
ERRORS = {
    400: "Bad input: malformed JSON, a missing or invalid field or parameter",
    401: "Missing or wrong credentials",
    403: "The wrong kind of credential, or a dashboard request that looks forged",
    404: "Not found: no such session (or message, group, webhook...)",
    408: "Fetching the media from its URL took too long",
    409: "It does not fit the current state (exists already, not connected, ...)",
    413: "The body is over its size limit",
    429: "Too many requests; try again after `Retry-After` seconds",
    502: "The media's URL failed: an error answer, no connection, a broken body",
    503: "WhatsApp (the engine) failed or timed out, or a plugin has not started",
}
SUCCESS = {200: "OK", 201: "Created", 202: "Accepted"}
PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "device_id": {
        "description": "the session's deviceId",
        "schema": {"type": "string", "pattern": DEVICE_ID_PATTERN},
    },
    "message_id": {
        "description": "wad's id of the message (`id` of a send's answer or of a listed one)",
        "schema": {"type": "string", "minLength": 1, "maxLength": 128},
    },
    "group_id": {"description": "the group's JID (`...@g.us`)", "schema": {"type": "string"}},
}
SAFE_METHODS = frozenset({"get", "head", "options"})


@dataclass(frozen=True)
class ApiDoc:
    operation_id: str
    tag: str
    auth: Auth
    errors: tuple[int, ...]


class WadOpenAPIProvider(OpenAPIProvider):
    def operation_id(self, method: str, path: str, func: Callable[..., Any]) -> str | None:
        doc: ApiDoc | None = getattr(func, ATTRIBUTE, None)
        if doc is not None:
            return doc.operation_id
        # A plugin's route without api(): still unique, marked undocumented.
        return re.sub(r"\W", "_", f"{method.lower()}_{func.__module__}_{func.__name__}")

    def build_path_parameter(self, name: str, converter: Any) -> dict[str, Any]:
        parameter = super().build_path_parameter(name, converter)
        parameter.update(copy.deepcopy(PATH_PARAMETERS.get(name, {})))
        return parameter

    def build_querystring_parameters(
        self, model: type[Model]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        return _parameters(model, "query")

    def build_headers_parameters(
        self, model: type[Model]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        return _parameters(model, "header")

    def build_request_body(
        self, model: type[Model], source: DataSource
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        body, definitions = super().build_request_body(model, source)
        for media in body["content"].values():
            media["schema"] = _hoist(model, media["schema"], definitions)
        body["required"] = True
        return body, definitions

    def build_response_object(
        self, model: type[Model], headers_model: type[Model] | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        response, definitions = super().build_response_object(model, headers_model)
        headers = response["content"].pop("headers", None)
        if headers is not None:  # stock puts them inside content
            response["headers"] = headers
        media = response["content"]["application/json"]
        media["schema"] = _hoist(model, media["schema"], definitions)
        return response, definitions

    def build_paths(self, rule: Rule) -> tuple[dict[str, Any], dict[str, Any]]:
        paths, components = super().build_paths(rule)
        func = self._app.view_functions[rule.endpoint]
        doc: ApiDoc | None = getattr(func, ATTRIBUTE, None)
        multipart = getattr(func, MULTIPART, None)
        for model in getattr(func, MODELS, []):
            _hoist(model, _schema(model, "serialization", components), components)
        for item in paths.values():
            for method, stock in list(item.items()):
                operation = copy.deepcopy(stock)  # stock shares one dict between methods
                _describe(operation, func)
                responses = {str(k): v for k, v in operation.pop("responses").items()}
                for status, response in responses.items():
                    response["description"] = response["description"] or SUCCESS.get(
                        int(status), "OK"
                    )
                operation["responses"] = responses
                if multipart is not None:
                    form, form_components = self.build_request_body(
                        multipart, DataSource.FORM_MULTIPART
                    )
                    operation.setdefault("requestBody", {"content": {}, "required": True})
                    operation["requestBody"]["content"].update(form["content"])
                    components.update(form_components)
                    form_schema = components[multipart.__name__]
                    form_schema["properties"] = {  # form fields are left out, never null
                        k: _not_nullable(v) for k, v in form_schema["properties"].items()
                    }
                merge(operation, copy.deepcopy(getattr(func, EXTRA, {})))
                if doc is None:
                    operation["x-wad-undocumented"] = True
                    operation["responses"].setdefault("default", {"description": "Undocumented"})
                else:
                    operation["tags"] = [doc.tag]
                    operation["security"] = copy.deepcopy(SECURITY[doc.auth])
                    for error in sorted(_errors(doc, rule, method, operation)):
                        operation["responses"].setdefault(str(error), _error_response(error))
                if not operation["parameters"]:
                    del operation["parameters"]
                item[method] = operation
        return paths, components

    def schema(self) -> dict[str, Any]:
        document = super().schema()
        schemas = document["components"]["schemas"]
        # Here, not through quart-schema: its scheme classes have no description.
        document["components"]["securitySchemes"] = copy.deepcopy(SECURITY_SCHEMES)
        _hoist(Error, _schema(Error, "serialization", schemas), schemas)
        webhooks = self._app.config.get(WEBHOOKS, {})
        if webhooks:
            document["webhooks"] = {
                name: _webhook(model, summary, description, schemas)
                for name, (model, summary, description) in webhooks.items()
            }
        used = [
            op["tags"][0]
            for item in document["paths"].values()
            for op in item.values()
            if op.get("tags")
        ]
        document["tags"] = [
            {"name": name, **({"description": TAGS[name]} if name in TAGS else {})}
            for name in [*TAGS, *sorted(set(used) - set(TAGS))]
            if name in used
        ]
        ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"operationIds used twice: {duplicates}")
        return document


def _errors(doc: ApiDoc, rule: Rule, method: str, operation: dict[str, Any]) -> set[int]:
    """The error statuses this operation can answer."""
    errors = set(doc.errors)
    if doc.auth in ("admin", "key"):
        errors |= {401, 403}
    elif doc.auth == "admin_or_key":
        errors.add(401)
    if rule.arguments:
        errors |= {400, 404}
    if "requestBody" in operation:
        errors |= {400, 413}
    if any(p["in"] in ("query", "header") for p in operation.get("parameters", [])):
        errors.add(400)
    if rule.rule.startswith("/api/"):
        errors.add(429)
        if method not in SAFE_METHODS:
            errors.add(403)
    return errors


def _error_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": ERRORS.get(status, "Error"),
        "content": {"application/json": {"schema": {"$ref": REF + "Error"}}},
    }
    if status == 429:
        response["headers"] = {
            "Retry-After": {
                "description": "seconds to wait before trying again",
                "schema": {"type": "integer"},
            }
        }
    return response


def _describe(operation: dict[str, Any], func: Callable[..., Any]) -> None:
    """Summary: the docstring's first sentence; description: the rest, one line a
    paragraph (stock cuts the summary at the first line break)."""
    operation.pop("summary", None)
    operation.pop("description", None)
    text = inspect.getdoc(func)
    if not text:
        return
    paragraphs = [" ".join(p.split()) for p in text.split("\n\n") if p.strip()]
    summary, rest = _first_sentence(paragraphs[0])
    operation["summary"] = summary
    more = [part[0].upper() + part[1:] for part in [rest, *paragraphs[1:]] if part]
    if more:
        operation["description"] = "\n\n".join(more)


def _first_sentence(text: str) -> tuple[str, str]:
    """Split at the first '.', ';' or ':' that ends a clause outside parentheses."""
    depth = 0
    for i, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and char in ".;:" and text[i + 1 : i + 2] in (" ", ""):
            return text[:i], text[i + 1 :].strip()
    return text, ""


def _parameters(
    model: type[Model], where: Literal["query", "header"]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(f"parameters are described by pydantic models, not {model!r}")
    schema = model.model_json_schema(by_alias=True, ref_template=REF + "{model}")
    definitions: dict[str, Any] = schema.pop("$defs", {})
    required = set(schema.get("required", []))
    parameters = []
    for name, prop in schema["properties"].items():
        prop = _not_nullable(prop)
        prop.pop("title", None)
        parameter: dict[str, Any] = {"name": name, "in": where, "schema": prop}
        if "description" in prop:
            parameter["description"] = prop.pop("description")
        if name in required:
            parameter["required"] = True
        parameters.append(parameter)
    return parameters, definitions


def _not_nullable(prop: dict[str, Any]) -> dict[str, Any]:
    """A parameter is left out rather than sent as null: ``str | None = None`` is a
    plain optional string (Swagger UI would otherwise offer the text "null")."""
    prop = dict(prop)
    options = prop.get("anyOf")
    if isinstance(options, list) and {"type": "null"} in options:
        rest = [o for o in options if o != {"type": "null"}]
        del prop["anyOf"]
        if len(rest) == 1:
            prop.update(rest[0])
        else:
            prop["anyOf"] = rest
    if prop.get("default", ...) is None:
        del prop["default"]
    return prop


def _schema(
    model: type[BaseModel], mode: Literal["validation", "serialization"], into: dict[str, Any]
) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=REF + "{model}", mode=mode)
    for name, definition in schema.pop("$defs", {}).items():
        _add(into, name, definition)
    return schema


def _hoist(model: Any, schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """A top-level model as a named component, and a reference to it."""
    name = getattr(model, "__name__", None)
    if name is None or "$ref" in schema:
        return schema
    _add(definitions, name, {**schema, "title": name})
    return {"$ref": REF + name}


def _add(definitions: dict[str, Any], name: str, schema: dict[str, Any]) -> None:
    if name in definitions and definitions[name] != schema:
        raise ValueError(f"two different schemas are named {name!r}")
    definitions[name] = schema


def _webhook(
    model: type[BaseModel], summary: str, description: str, schemas: dict[str, Any]
) -> dict[str, Any]:
    body = _hoist(model, _schema(model, "serialization", schemas), schemas)
    operation: dict[str, Any] = {
        "operationId": f"receive{model.__name__}",
        "summary": summary,
        "tags": ["Webhooks"],
        "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        "responses": {"2XX": {"description": "Delivered: any 2xx answer counts"}},
    }
    if description:
        operation["description"] = description
    return {"post": operation}


def merge(into: dict[str, Any], more: dict[str, Any]) -> dict[str, Any]:
    for key, value in more.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = value
    return into
