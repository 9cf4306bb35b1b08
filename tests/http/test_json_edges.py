"""JSON bodies at the edge (issue 13, item 8): nesting has a limit, text must be valid
Unicode in UTF-8; each is a 400 that says which, never a 500.

Before the fix, a 20,000-deep array on the unauthenticated ``/api/messages/send`` or
``/api/dashboard/login`` ended in ``RecursionError`` (500), and ``"\\ud800"`` went on
to SQLite and failed there (500).
"""

from __future__ import annotations

import json

import pytest
from conftest import Running

from wad.text import MAX_JSON_DEPTH, json_too_deep

DASHBOARD = {"X-Wad-Dashboard": "1", "Content-Type": "application/json"}
JSON = {"Content-Type": "application/json"}


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(
    ("path", "headers"),
    [("/api/messages/send", JSON), ("/api/dashboard/login", DASHBOARD)],
)
@pytest.mark.parametrize("depth", [20_000, MAX_JSON_DEPTH + 1])
async def test_deep_json_without_credentials_is_a_400(
    wad: Running, path: str, headers: dict[str, str], depth: int
) -> None:
    body = b'{"deviceId": "dev1", "x": ' + nested(depth) + b"}"
    r = await wad.client.post(path, content=body, headers=headers)
    assert r.status_code == 400
    assert r.json()["error"] == f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep"


async def test_nesting_up_to_the_limit_is_parsed(wad: Running) -> None:
    # The object is one level; the ignored field brings it to the limit exactly.
    body = b'{"deviceId": "dev1", "number": "15550002222", "message": "hi", "x": '
    body += nested(MAX_JSON_DEPTH - 1) + b"}"
    r = await wad.client.post("/api/messages/send", content=body, headers=JSON)
    assert r.status_code == 401  # past the body: no key for dev1


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"text": "[" * 1000, "escaped": '\\"[[[[' * 50}).encode()
    assert not json_too_deep(text)
    assert json_too_deep(b'{"a": "]]]", "b": ' + nested(40) + b"}")


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b'{"deviceId": "dev1", "number": "15550002222", "message": "a\\ud800"}', "lone surrogate"),
        (b'{"deviceId": "dev1", "number": "15550002222", "message": "\\udfff"}', "lone surrogate"),
        (b'{"deviceId": "dev1", "\\ud800": 1}', "lone surrogate"),
        (b'{"deviceId": "dev1", "message": "\xed\xa0\x80"}', "not valid UTF-8"),
        (b'{"deviceId": "dev1", "message": "\xff"}', "not valid UTF-8"),
        ('{"deviceId": "dev1"}'.encode("utf-16"), "not valid UTF-8"),
        (b'{"deviceId": 1' + b"0" * 5000 + b"}", "Malformed JSON body"),
        (b'{"deviceId": "dev1",', "Malformed JSON body"),
    ],
)
async def test_text_that_is_not_valid_unicode_is_a_400(
    wad: Running, raw: bytes, error: str
) -> None:
    r = await wad.client.post("/api/messages/send", content=raw, headers=JSON)
    assert r.status_code == 400
    assert error in r.json()["error"]


async def test_a_surrogate_pair_is_one_character_and_welcome(wad: Running) -> None:
    # "\ud83d\ude00" is how ensure_ascii encoders write 😀: valid, and sent as such.
    await wad.connected_key()
    r = await wad.client.post(
        "/api/simulator/sessions/dev1/incoming",
        headers={**wad.admin, **JSON},
        content=b'{"from": "15550002222", "message": "hi \\ud83d\\ude00"}',
    )
    assert r.status_code == 200, r.text
    r = await wad.client.get("/api/sessions/dev1/messages?direction=in", headers=wad.admin)
    assert r.json()["messages"][0]["body"] == "hi \U0001f600"
