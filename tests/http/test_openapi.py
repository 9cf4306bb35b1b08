"""The OpenAPI document: valid, UTF-8, and true to every route of a real daemon.

The route coverage walks ``app.url_map`` of the daemon's own app: every route is an
operation of the document (or one of the few pages and files that are no API), and
each operation is then asked, over HTTP, what it answers without a credential,
with the wrong kind of credential, for a session that does not exist and for a
malformed body; every such answer must be a documented status, with the error
envelope and a code that fits the status.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from conftest import Process, Running

from wad.errors import ERROR_CODES, HTTP_STATUS, code_for_status
from wad.http.app import create_app
from wad.sessions.event_types import EVENT_TYPES

# Pages and files, not API operations: the dashboard, Swagger UI, the document itself.
NOT_OPERATIONS = {
    "/",
    "/static/<path:filename>",
    "/static/v/<version>/<path:name>",
    "/docs",
    "/docs/init.js",
    "/docs/static/<path:name>",
    "/openapi.json",
}
PLACEHOLDERS = {
    "message_id": "nosuchmessage",
    "group_id": "120363000000000000@g.us",
    "webhook_id": "wh_000000000000000000000000",
    "delivery_id": "1",
    "jid": "15550002222",
    "chat": "15550002222@s.whatsapp.net",
    "channel_id": "120363000000000001@newsletter",
}
ERROR_REF = {"$ref": "#/components/schemas/Error"}
# A body that passes validation, for the operation that reads its body before the
# credential (the seed's send names its session in the body).
# Wrong tokens come from a loopback address per operation: wad locks out an
# address after 10 failed credentials (README, "Security").
GUESSERS = itertools.count(10)
VALID_BODY = {"sendText": b'{"deviceId": "dev1", "number": "15550002222", "message": "hi"}'}


def test_the_document_is_utf8_and_the_validator_finds_nothing(
    wad_process: Process, tmp_path: Path
) -> None:
    r = httpx.get(wad_process.url + "/openapi.json")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    text = r.content.decode("utf-8")  # strict: not valid UTF-8 raises
    # No escaped surrogates (YAML loaders refuse a pair): characters are written as such.
    assert not re.search(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}", text)
    assert "👍" in text
    document = json.loads(text)
    assert document["openapi"] == "3.1.0"
    saved = tmp_path / "openapi.json"
    saved.write_bytes(r.content)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_spec_validator",
            "--validation-errors",
            "all",
            "--schema",
            "3.1",
            str(saved),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    print(result.stdout, result.stderr)
    assert result.returncode == 0 and result.stdout.strip() == f"{saved}: OK", result


def test_operations_are_named_typed_and_secured(wad_process: Process) -> None:
    document = httpx.get(wad_process.url + "/openapi.json").json()
    operations = {
        op["operationId"]: (method, path, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
    }
    for wanted in ("createSession", "getSessionQr", "sendMessage", "logoutSession"):
        assert wanted in operations
    assert "dashboardLogout" in operations and "post_logout" not in operations
    schemes = document["components"]["securitySchemes"]
    assert schemes["adminToken"]["scheme"] == schemes["sessionKey"]["scheme"] == "bearer"
    assert "security" not in document  # per operation only
    assert operations["getHealth"][2]["security"] == []
    assert operations["dashboardLogin"][2]["security"] == []
    assert operations["createSession"][2]["security"] == [{"adminToken": []}]
    assert operations["sendMessage"][2]["security"] == [{"sessionKey": []}]
    # Every body and answer a named component: no inline object a generator must name.
    for _, _, op in operations.values():
        bodies = [*op.get("requestBody", {}).get("content", {}).values()]
        bodies += [m for r in op["responses"].values() for m in r.get("content", {}).values()]
        for media in bodies:
            schema = media["schema"]
            assert "$ref" in schema or schema.get("type") == "string", (op["operationId"], schema)
    schemas = document["components"]["schemas"]
    assert not [name for name in schemas if "_" in name or "[" in name]
    error = schemas["Error"]
    assert error["required"] == ["success", "error", "code"]
    assert error["properties"]["code"]["enum"] == list(ERROR_CODES)
    session = schemas["SessionSummary"]["properties"]
    assert session["createdAt"]["format"] == "date-time"
    # Parameters, with types, limits and defaults.
    params = {p["name"]: p for p in operations["listMessages"][2]["parameters"]}
    assert params["limit"]["schema"] == {
        "default": 50,
        "maximum": 200,
        "minimum": 1,
        "type": "integer",
    }
    assert params["direction"]["schema"]["enum"] == ["in", "out"]
    assert params["device_id"]["in"] == "path" and params["device_id"]["required"] is True
    send = operations["sendMessage"][2]
    assert [p["name"] for p in send["parameters"] if p["in"] == "header"] == ["Idempotency-Key"]
    stream = {p["name"]: p for p in operations["streamEvents"][2]["parameters"]}
    assert stream["Last-Event-ID"]["in"] == "header" and stream["session"]["in"] == "query"
    deliveries = {p["name"] for p in operations["listDeliveries"][2]["parameters"]}
    assert {"status", "limit", "before"} <= deliveries
    # Multipart upload and binary download.
    upload = send["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert schemas[upload["$ref"].rsplit("/", 1)[1]]["properties"]["file"]["format"] == "binary"
    media = operations["downloadMedia"][2]["responses"]["200"]["content"]
    assert media == {"*/*": {"schema": {"type": "string", "format": "binary"}}}
    # The events: one discriminated union, shared by the webhooks and the stream.
    event = schemas["Event"]
    assert event["discriminator"]["propertyName"] == "event"
    # Every stored event type has its schema, and only those.
    assert set(event["discriminator"]["mapping"]) == set(EVENT_TYPES)
    assert {"session.status", "message", "group.participants", "poll.vote"} <= set(EVENT_TYPES)
    hook = document["webhooks"]["event"]["post"]["requestBody"]["content"]["application/json"]
    assert hook["schema"] == {"$ref": "#/components/schemas/Event"}
    listed = schemas["EventList"]["properties"]["events"]["items"]
    assert listed == {"$ref": "#/components/schemas/Event"}
    assert "stream.open" in schemas["LiveEvent"]["discriminator"]["mapping"]
    assert "LiveEvent" in operations["streamEvents"][2]["responses"]["200"]["description"]


async def test_every_route_is_documented_with_every_status_it_answers(wad: Running) -> None:
    document = (await wad.client.get("/openapi.json")).json()
    key = await wad.connected_key("dev1")
    other_key = await wad.connected_key("dev2", "15550003333")
    app = create_app(wad.daemon)  # the same routes as the daemon's own app
    seen = 0
    for rule in app.url_map.iter_rules():
        if rule.rule in NOT_OPERATIONS:
            continue
        path = re.sub(r"<(?:[^:<>]*:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            operation = document["paths"].get(path, {}).get(method.lower())
            assert operation is not None, f"{method} {path} is not in the document"
            assert "x-wad-undocumented" not in operation, f"{method} {path} has no @api"
            seen += 1
            await _check(wad, rule.arguments, method, path, operation, key, other_key)
    assert seen >= 45


async def _check(
    wad: Running,
    arguments: set[str],
    method: str,
    path: str,
    operation: dict[str, Any],
    key: str,
    other_key: str,
) -> None:
    name = operation["operationId"]
    documented = operation["responses"]
    for status, response in documented.items():
        if status.startswith(("4", "5")):
            assert response["content"] == {"application/json": {"schema": ERROR_REF}}, name
    security = operation["security"]
    needs = {scheme for option in security for scheme in option}
    # What the rule says must be there, whatever the probes below reach.
    if needs:
        assert "401" in documented, name
    if needs and needs != {"adminToken", "sessionKey"}:
        assert "403" in documented, name
    if "device_id" in arguments:
        assert {"400", "404"} <= set(documented), name
    if "requestBody" in operation:
        assert {"400", "413"} <= set(documented), name
    if path.startswith("/api/"):
        assert "429" in documented, name

    def url(device_id: str) -> str:
        values = {**PLACEHOLDERS, "device_id": device_id}
        return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)

    async def ask(
        device_id: str,
        headers: dict[str, str],
        body: bytes | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> int:
        # X-Wad-Dashboard: the dashboard's own routes refuse a request without it.
        base = {"Content-Type": "application/json", "X-Wad-Dashboard": "1"}
        r = await (client or wad.client).request(
            method, url(device_id), headers={**base, **headers}, content=body
        )
        assert str(r.status_code) in documented, (name, r.status_code, r.text[:300])
        if r.status_code >= 400:
            answer = r.json()
            assert answer["success"] is False and answer["error"], (name, answer)
            assert answer["code"] in ERROR_CODES, (name, answer)
            expected = {c for c, s in HTTP_STATUS.items() if s == r.status_code}
            assert answer["code"] in expected | {code_for_status(r.status_code)}, (name, answer)
        return r.status_code

    admin = wad.admin
    as_key = {"Authorization": f"Bearer {key}"}
    valid = VALID_BODY.get(name, b"{}")
    if needs:
        assert await ask("dev1", {}, valid) == 401, name
        source = f"127.0.0.{next(GUESSERS) % 240 + 10}"
        transport = httpx.AsyncHTTPTransport(local_address=source)
        async with httpx.AsyncClient(base_url=wad.url, transport=transport) as guesser:
            wrong = {"Authorization": "Bearer wrong"}
            assert await ask("dev1", wrong, valid, guesser) == 401, name
    if needs == {"adminToken"}:
        assert await ask("dev1", as_key, valid) == 403, name
    if needs == {"sessionKey"}:
        assert await ask("dev1", admin, valid) == 403, name
        # Another session's key is no key of this one.
        if "device_id" in arguments:
            assert await ask("dev1", {"Authorization": f"Bearer {other_key}"}, valid) == 401
    right = as_key if needs == {"sessionKey"} else admin
    if name == "streamEvents":
        return  # with a credential it streams for as long as the client stays
    if "device_id" in arguments and needs != {"sessionKey"}:
        # An empty body may be refused (400) before the session is looked up.
        wanted = {400, 404} if "requestBody" in operation else {404}
        assert await ask("nosuch", right, b"{}") in wanted, name
    if "device_id" in arguments:
        assert await ask("bad!id", right, b"{}") in (400, 404), name
    if "requestBody" in operation:
        assert await ask("dev1", right, b'{"unterminated') == 400, name
