"""The control socket answers text that is not valid Unicode, and JSON nested too
deep, with an error line, and the connection goes on (issue 13, item 8).

Before the fix, ``{"id": "\\ud800", ...}`` parsed, then its answer could not be
encoded, and the connection was dropped without one.
"""

from __future__ import annotations

import json

import pytest
from conftest import Running
from control_client import connect

from wad.control.protocol import Request, parse_line
from wad.text import MAX_JSON_DEPTH


@pytest.mark.parametrize(
    "line",
    [
        b'{"id": "\\ud800", "method": "status"}',
        b'{"id": 1, "method": "status\\udc00"}',
        b'{"id": 1, "method": "sessions.get", "params": {"deviceId": "a\\ud800"}}',
        b'{"id": 1, "method": "sessions.get", "params": {"\\ud800": 1}}',
        b'{"id": 1, "method": "status", "params": {"x": "\xed\xa0\x80"}}',  # surrogatepass bytes
    ],
)
def test_a_lone_surrogate_anywhere_is_bad_json(line: bytes) -> None:
    answer = parse_line(line)
    assert isinstance(answer, bytes)
    decoded = json.loads(answer)  # an answer that can be encoded, and sent
    assert decoded == {
        "id": None,
        "error": {
            "code": "bad_json",
            "message": "invalid JSON: a string holds a lone surrogate, which is not valid Unicode",
        },
    }


def test_nesting_over_the_limit_is_bad_json_and_a_pair_is_fine() -> None:
    deep = b'{"id": 1, "method": "status", "params": {"x": ' + b"[" * 20_000 + b"]" * 20_000
    deep += b"}}"
    answer = json.loads(parse_line(deep))  # type: ignore[arg-type]
    assert answer["error"]["code"] == "bad_json"
    assert str(MAX_JSON_DEPTH) in answer["error"]["message"]
    pair = parse_line(b'{"id": "\\ud83d\\ude00", "method": "status"}')
    assert pair == Request("\U0001f600", "status", {})


async def test_the_connection_answers_on_after_a_surrogate(wad: Running) -> None:
    conn = await connect(wad.daemon.config.control_socket_path())
    try:
        await conn.send_raw(b'{"id": "\\ud800", "method": "status"}\n')
        assert (await conn.line())["error"]["code"] == "bad_json"
        status = await conn.call("status")
        assert status["engine"] == "simulator"
    finally:
        await conn.aclose()
