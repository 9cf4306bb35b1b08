"""The control protocol without a socket: framing, request parsing, dispatch, fed bytes."""

from __future__ import annotations

import json

import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from wad.control.protocol import ERROR_CODES, ControlError, Request, RequestDecoder, dispatch
from wad.control.server import ControlServer
from wad.engines.wire import encode
from wad.errors import HTTP_STATUS, WadError, not_found
from wad.sessions.events import EventLog
from wad.store import Store


def errors(items: list) -> list[dict]:
    return [json.loads(item) for item in items if isinstance(item, bytes)]


def test_one_request_per_line():
    items = RequestDecoder().feed(
        b'{"id": 1, "method": "status"}\n'
        b'{"id": "b", "method": "sessions.get", '
        b'"params": {"deviceId": "x"}}\n'
    )
    assert items == [Request(1, "status", {}), Request("b", "sessions.get", {"deviceId": "x"})]


def test_a_request_split_anywhere_waits_for_its_newline():
    decoder = RequestDecoder()
    assert decoder.feed(b'{"id": 7, "met') == []
    assert decoder.pending == len(b'{"id": 7, "met')
    assert decoder.feed(b'hod": "status"}') == []
    assert decoder.feed(b"\n") == [Request(7, "status", {})]
    assert decoder.pending == 0


def test_blank_lines_are_skipped():
    assert RequestDecoder().feed(b"\n  \n\r\n") == []


def test_each_bad_line_gets_its_error_and_the_next_line_still_works():
    items = RequestDecoder().feed(
        b"not json\n"
        b"[1, 2]\n"
        b'{"id": 3}\n'
        b'{"id": 4, "method": "x", "params": [1]}\n'
        b'{"id": true, "method": "x"}\n'
        b"\xff\xfe\n"
        b'{"id": 5, "method": "status"}\n'
    )
    codes = [(e["id"], e["error"]["code"]) for e in errors(items)]
    assert codes == [
        (None, "bad_json"),
        (None, "bad_request"),
        (3, "bad_request"),
        (4, "bad_request"),
        (None, "bad_request"),
        (None, "bad_json"),
    ]
    assert items[-1] == Request(5, "status", {})


def test_deeply_nested_json_is_bad_json_not_a_crash():
    items = RequestDecoder().feed(b"[" * 100_000 + b"\n")
    assert errors(items)[0]["error"]["code"] in ("bad_json", "bad_request")


def test_a_too_long_line_is_answered_once_then_skipped_to_its_newline():
    decoder = RequestDecoder(max_line=100)
    out = decoder.feed(b"x" * 60)
    assert out == []
    out = decoder.feed(b"x" * 60)  # now over the limit: answered, not buffered
    assert [e["error"]["code"] for e in errors(out)] == ["line_too_long"]
    assert decoder.pending == 0
    assert decoder.feed(b"y" * 1000) == []  # still the same line: skipped silently
    assert decoder.pending == 0
    assert decoder.feed(b'yyy\n{"id": 1, "method": "status"}\n') == [Request(1, "status", {})]


def test_a_too_long_line_in_one_chunk_with_its_newline():
    decoder = RequestDecoder(max_line=30)
    out = decoder.feed(b"z" * 50 + b'\n{"id":1,"method":"a"}\n')
    assert [e["error"]["code"] for e in errors(out)] == ["line_too_long"]
    assert out[1] == Request(1, "a", {})


def test_a_line_of_exactly_the_limit_is_accepted():
    line = b'{"id":1,"method":"' + b"m" * 20 + b'"}'
    assert RequestDecoder(max_line=len(line)).feed(line + b"\n") == [Request(1, "m" * 20, {})]
    assert (
        errors(RequestDecoder(max_line=len(line) - 1).feed(line + b"\n"))[0]["error"]["code"]
        == "line_too_long"
    )


def test_every_wad_error_code_is_a_protocol_error_code():
    assert set(HTTP_STATUS) <= set(ERROR_CODES)


async def test_dispatch_maps_results_and_errors():
    async def ok(params):
        return {"echo": params}

    async def missing(params):
        raise not_found("Session not found")

    async def refused(params):
        raise ControlError("bad_config", "broken file")

    async def broken(params):
        raise RuntimeError("a bug")

    async def unserialisable(params):
        return {"x": object()}

    methods = {
        "ok": ok,
        "missing": missing,
        "refused": refused,
        "broken": broken,
        "odd": unserialisable,
    }

    async def answer(method: str) -> dict:
        return json.loads(await dispatch(methods, Request(9, method, {"a": 1})))

    assert await answer("ok") == {"id": 9, "result": {"echo": {"a": 1}}}
    assert await answer("missing") == {
        "id": 9,
        "error": {"code": "not_found", "message": "Session not found"},
    }
    assert (await answer("refused"))["error"]["code"] == "bad_config"
    internal = await answer("broken")
    assert internal["error"]["code"] == "internal"
    assert "a bug" not in internal["error"]["message"]  # no internals leak out
    assert (await answer("odd"))["error"]["code"] == "internal"
    assert (await answer("nope"))["error"]["code"] == "unknown_method"


def test_wad_error_codes_keep_their_code():
    assert WadError("conflict", "x").code == "conflict"


# -- the conversation over an in-memory stream (no socket), with trio's virtual clock ----


def _server(tmp_path, **kw) -> ControlServer:
    async def status(params):
        return {"ok": True}

    return ControlServer({"status": status}, EventLog(Store(tmp_path / "t.db")), None, **kw)


async def test_idle_connections_time_out(tmp_path, autojump_clock):
    server = _server(tmp_path, idle_timeout=30)
    client, end = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.converse, end)
        await client.send_all(b'{"id": 1, "method": "status"}\n')
        assert json.loads(await client.receive_some()) == {"id": 1, "result": {"ok": True}}
        start = trio.current_time()
        line = json.loads(await client.receive_some())
        assert line["error"]["code"] == "idle_timeout"
        assert trio.current_time() - start >= 30


async def test_a_half_request_does_not_hold_the_connection_forever(tmp_path, autojump_clock):
    server = _server(tmp_path, idle_timeout=5)
    client, end = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.converse, end)
        await client.send_all(b'{"id": 1, "meth')
        assert json.loads(await client.receive_some())["error"]["code"] == "idle_timeout"


# -- properties of the framing --------------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
_requests = st.builds(
    lambda i, m, p: {"id": i, "method": m, "params": p},
    st.integers() | st.text(max_size=20),
    st.text(min_size=1, max_size=30),
    st.dictionaries(st.text(max_size=10), _json_values, max_size=4),
)


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@settings(max_examples=200, deadline=None)
@given(st.lists(_requests, min_size=1, max_size=8), st.lists(st.integers(0, 10**6)))
def test_any_chunking_of_valid_lines_decodes_identically(requests, cuts):
    data = b"".join(encode(r) for r in requests)
    whole = RequestDecoder().feed(data)
    decoder = RequestDecoder()
    pieces = [item for chunk in _chunks(data, cuts) for item in decoder.feed(chunk)]
    expected = [Request(r["id"], r["method"], r["params"]) for r in requests]
    assert whole == pieces == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=10), st.integers(8, 400))
def test_arbitrary_bytes_only_ever_give_requests_or_protocol_errors(chunks, limit):
    decoder = RequestDecoder(max_line=limit)
    for chunk in chunks:
        for item in decoder.feed(chunk):  # never raises
            if isinstance(item, bytes):
                line = json.loads(item)
                assert item.endswith(b"\n") and item.count(b"\n") == 1
                assert line["error"]["code"] in ERROR_CODES
            else:
                assert isinstance(item, Request)
        assert decoder.pending <= limit  # memory stays bounded by the limit


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=500), _requests)
def test_after_any_garbage_a_newline_resyncs(garbage, request):
    decoder = RequestDecoder(max_line=200)
    decoder.feed(garbage)
    items = decoder.feed(b"\n" + encode(request))
    assert (
        items[-1] == Request(request["id"], request["method"], request["params"])
        or len(encode(request)) > 200
    )
