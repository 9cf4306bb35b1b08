"""Any text, in any field of any endpoint and of the control protocol, gets an answer
below 500 and never a dropped connection; the daemon never exits (issue 13, item 8).

hypothesis generates text of every kind (lone surrogates, control characters,
line separators, byte order marks, quotes, backslashes) into each text field of
each endpoint that takes a body, and sends it to a real ``wad serve`` process
through a pooled client, escaped (``\\ud800``) or as raw bytes that are not valid
UTF-8. A lone surrogate is refused with 400 and says so; so is a body that is not
UTF-8. Before the fix, such text in a send, a caption, an edit, an emoji, a group's
name or a receipt's id was a 500 (``UnicodeEncodeError`` on its way to SQLite), and
the control socket hung up without an answer on ``{"id": "\\ud800", ...}``.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_from_bytes

import httpx
import pytest
from conftest import Process, spawn_daemon
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paired import ADMIN, connected_key, paired_state

from wad import text as wad_text

DEVICE = "fuzz"
PEER = "15550002222"
EXAMPLES = 60
# The dashboard's routes that change something also want its header (CSRF).
JSON_HEADERS = {"Content-Type": "application/json", "X-Wad-Dashboard": "1"}

# Every kind of character, surrogates (category Cs) included, and the usual suspects.
CHARACTERS = st.one_of(
    st.characters(),
    st.characters(categories=["Cs"]),
    st.sampled_from(
        ["\x00", "\n", "\r", "\t", "\x7f", "\u2028", "\ufeff", '"', "\\", "\U0001f600"]
    ),
)
TEXT = st.text(CHARACTERS, max_size=30)
NUMBERISH = st.one_of(TEXT, st.just(PEER), st.integers())


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Process, str, str]]:
    """A daemon process, a connected session with its key, and one message it sent."""
    tmp = tmp_path_factory.mktemp("textfuzz")
    state = paired_state(tmp, DEVICE)
    env = {"WAD_SEND_INTERVAL": "0", "WAD_RATELIMIT_PER_MINUTE": "0"}
    process = spawn_daemon(tmp, "--engine", "simulator", env=env, state_dir=state)
    try:
        key = connected_key(process.url, DEVICE)
        r = httpx.post(
            f"{process.url}/api/sessions/{DEVICE}/messages",
            headers={"Authorization": f"Bearer {key}"},
            json={"to": PEER, "text": "a message to act on"},
        )
        assert r.status_code == 200, r.text
        yield process, key, r.json()["id"]
    finally:
        process.stop()
    assert process.proc.returncode == 0  # it stopped when asked, not before


B64 = "JVBERi0xLjQgZnV6eg=="  # "%PDF-1.4 fuzz"
VCARD = "BEGIN:VCARD\nFN:{}\nEND:VCARD"


def endpoints(message_id: str) -> dict[str, tuple[str, str, bool, dict[str, Any], list[str]]]:
    """Each endpoint that takes a JSON body: (method, path, the session's key (or the
    admin's), a valid body, the dotted paths of its text fields). Each example puts
    hostile text into some of those fields and leaves the others valid, so that it
    reaches as deep as valid text would."""
    s = f"/api/sessions/{DEVICE}"
    sim = f"/api/simulator/sessions/{DEVICE}"
    media = {"data": B64, "mimetype": "application/pdf", "fileName": "f.pdf"}
    return {
        "create session": ("POST", "/api/sessions", False, {"deviceId": "fz"}, ["deviceId"]),
        "set api key": (
            "PUT",
            "/api/sessions/keyfuzz/api-key",
            False,
            {"apiKey": "k" * 20},
            ["apiKey"],
        ),
        "seed send": (
            "POST",
            "/api/messages/send",
            True,
            {"deviceId": DEVICE, "number": PEER, "message": "hi"},
            ["number", "message"],
        ),
        "send text": (
            "POST",
            f"{s}/messages",
            True,
            {"to": PEER, "text": "hi", "mentions": [PEER]},
            ["to", "text", "replyTo", "mentions.0"],
        ),
        "send media": (
            "POST",
            f"{s}/messages",
            True,
            {"type": "document", "to": PEER, "caption": "c", "media": media},
            ["caption", "media.mimetype", "media.fileName", "media.data"],
        ),
        "send location": (
            "POST",
            f"{s}/messages",
            True,
            {"type": "location", "to": PEER, "location": {"latitude": 1.5, "longitude": 2.5}},
            ["location.name", "location.address"],
        ),
        "send contact": (
            "POST",
            f"{s}/messages",
            True,
            {"type": "contact", "to": PEER, "contact": {"displayName": "A", "vcard": VCARD}},
            ["contact.displayName", "contact.vcard"],
        ),
        "reaction": (
            "POST",
            f"{s}/messages/{message_id}/reaction",
            True,
            {"emoji": "+"},
            ["emoji"],
        ),
        "edit": ("PATCH", f"{s}/messages/{message_id}", True, {"text": "hi"}, ["text"]),
        "presence": (
            "POST",
            f"{s}/presence",
            True,
            {"to": PEER, "state": "typing"},
            ["to", "state"],
        ),
        "check numbers": ("POST", f"{s}/contacts/check", True, {"numbers": [PEER]}, ["numbers.0"]),
        "pair code": ("POST", f"{s}/pair-code", False, {"phoneNumber": PEER}, ["phoneNumber"]),
        "dashboard login": ("POST", "/api/dashboard/login", False, {"token": "t"}, ["token"]),
        "dashboard qr": ("POST", "/api/dashboard/qr-image", False, {"code": "2@x"}, ["code"]),
        "webhook": (
            "POST",
            "/api/sessions/hookfuzz/webhooks",
            False,
            {"url": "https://example.com/h", "events": ["message"]},
            ["url", "events.0"],
        ),
        "phone incoming": (
            "POST",
            f"{sim}/incoming",
            False,
            {"from": PEER, "message": "hi"},
            ["from", "message", "chat"],
        ),
        "phone incoming media": (
            "POST",
            f"{sim}/incoming",
            False,
            {"from": PEER, "type": "document", "caption": "c", "media": media},
            ["caption", "media.fileName", "media.mimetype"],
        ),
        "phone group": (
            "POST",
            f"{sim}/groups",
            False,
            {"name": "g", "participants": [PEER]},
            ["name", "participants.0"],
        ),
        "phone receipt": (
            "POST",
            f"{sim}/receipt",
            False,
            {"messageId": message_id, "status": "read"},
            ["messageId", "status"],
        ),
        "phone scan": ("POST", f"{sim}/scan", False, {"phoneNumber": PEER}, ["phoneNumber"]),
        "phone code": ("POST", f"{sim}/enter-code", False, {"code": "12345678"}, ["code"]),
    }


ENDPOINTS = list(endpoints("x"))


def with_text(body: dict[str, Any], where: str, value: Any) -> dict[str, Any]:
    """``body`` (copied) with ``value`` at the dotted path ``where``."""
    out = json.loads(json.dumps(body))
    *parents, last = where.split(".")
    node: Any = out
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return out


def encoded(value: Any, raw: bool) -> bytes:
    """JSON with every character escaped (``\\ud800``), or as raw UTF-8 where a lone
    surrogate becomes bytes that are not valid UTF-8."""
    if raw:
        return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return json.dumps(value).encode()


@pytest.mark.slow
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_any_text_in_any_field_is_answered_below_500(
    fuzzed: tuple[Process, str, str], endpoint: str
) -> None:
    process, key, message_id = fuzzed
    method, path, with_key, valid, fields = endpoints(message_id)[endpoint]
    auth = {"Authorization": f"Bearer {key}"} if with_key else ADMIN
    client = httpx.Client(base_url=process.url, timeout=30)

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        fuzzed_fields=st.lists(st.sampled_from(fields), min_size=1, unique=True),
        values=st.lists(st.one_of(TEXT, st.integers()), min_size=len(fields), max_size=len(fields)),
        raw=st.booleans(),
    )
    def check(fuzzed_fields: list[str], values: list[Any], raw: bool) -> None:
        body = valid
        for where, value in zip(fuzzed_fields, values, strict=False):
            body = with_text(body, where, value)
        data = encoded(body, raw)
        r = client.request(method, path, content=data, headers={**auth, **JSON_HEADERS})
        assert r.status_code < 500, (body, r.text)
        if wad_text.has_lone_surrogate(body):
            assert r.status_code == 400, (body, r.text)
            expected = "not valid UTF-8" if raw else "lone surrogate"
            assert expected in r.json()["error"], (body, r.text)

    with client:
        check()
    assert process.proc.poll() is None


@pytest.mark.slow
def test_any_text_in_a_multipart_send_is_answered_below_500(
    fuzzed: tuple[Process, str, str],
) -> None:
    process, key, _ = fuzzed
    client = httpx.Client(base_url=process.url, timeout=30)
    boundary = "fuzzboundary"

    @settings(max_examples=EXAMPLES, deadline=None)
    @given(
        fields=st.dictionaries(st.sampled_from(["to", "caption", "type", "fileName", "text"]), TEXT)
    )
    def check(fields: dict[str, str]) -> None:
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value.encode("utf-8", "surrogatepass")
            + b"\r\n"
            for name, value in fields.items()
        ]
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f.pdf"\r\n'
            "Content-Type: application/pdf\r\n\r\n".encode()
            + b"%PDF-1.4 fuzz\r\n"
        )
        data = b"".join(parts) + f"--{boundary}--\r\n".encode()
        r = client.post(
            f"/api/sessions/{DEVICE}/messages",
            content=data,
            headers={
                "Authorization": f"Bearer {key}",
                "Content-Type": f"multipart/form-data; boundary={boundary}",
            },
        )
        assert r.status_code < 500, (fields, r.text)

    with client:
        check()
    assert process.proc.poll() is None


@pytest.mark.slow
def test_any_bytes_in_paths_and_queries_are_answered_below_500(
    fuzzed: tuple[Process, str, str],
) -> None:
    process, key, _ = fuzzed
    client = httpx.Client(base_url=process.url, timeout=30)
    segment = st.binary(min_size=1, max_size=20).map(lambda b: quote_from_bytes(b, safe=""))

    @settings(max_examples=EXAMPLES * 2, deadline=None)
    @given(
        where=st.sampled_from(
            [
                "/api/sessions/{}",
                "/api/sessions/{}/messages",
                f"/api/sessions/{DEVICE}/messages?before={{}}",
                f"/api/sessions/{DEVICE}/messages?direction={{}}&limit={{}}",
                f"/api/sessions/{DEVICE}/messages/{{}}/media",
                "/api/events?session={}",
                f"/api/sessions/{DEVICE}/events?types={{}}",
                f"/api/sessions/{DEVICE}/groups/{{}}",
            ]
        ),
        pieces=st.lists(segment, min_size=2, max_size=2),
        as_admin=st.booleans(),
    )
    def check(where: str, pieces: list[str], as_admin: bool) -> None:
        auth = ADMIN if as_admin else {"Authorization": f"Bearer {key}"}
        url = where.format(*pieces)
        if url.startswith("/api/events"):  # a stream: its first answer line is enough
            with client.stream("GET", url, headers=auth) as r:
                assert r.status_code < 500
            return
        r = client.get(url, headers=auth)
        assert r.status_code < 500, (url, r.text)

    with client:
        check()
    assert process.proc.poll() is None


# The control protocol, through the daemon's real Unix socket.

METHODS = st.one_of(
    st.sampled_from(
        [
            "status",
            "sessions.list",
            "sessions.get",
            "sessions.create",
            "sessions.qr",
            "sessions.messages",
            "sessions.pair_code",
            "plugins.list",
            "log_level.set",
        ]
    ),
    TEXT,
)
JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)),
    max_leaves=8,
)
CONTROL_REQUESTS = st.fixed_dictionaries(
    {"id": st.one_of(st.integers(), TEXT), "method": METHODS},
    optional={
        "params": st.dictionaries(
            st.sampled_from(["deviceId", "level", "before", "x"]) | TEXT, JSONISH, max_size=3
        )
    },
)


class ControlLine:
    """A blocking client of the control socket: one line out, one line back."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(10)
        self.sock.connect(str(path))
        self.reader = self.sock.makefile("rb")

    def ask(self, line: bytes) -> dict[str, Any]:
        self.sock.sendall(line + b"\n")
        answer = self.reader.readline()
        assert answer, "the daemon hung up without an answer"
        decoded: dict[str, Any] = json.loads(answer)
        return decoded

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


@pytest.mark.slow
def test_any_control_request_is_answered_and_the_connection_stays(
    fuzzed: tuple[Process, str, str],
) -> None:
    process, _, _ = fuzzed
    conn = ControlLine(process.state_dir.parent / "wad.sock")

    @settings(max_examples=EXAMPLES * 3, deadline=None)
    @given(request=CONTROL_REQUESTS, raw=st.booleans())
    def check(request: dict[str, Any], raw: bool) -> None:
        answer = conn.ask(encoded(request, raw))
        assert ("result" in answer) != ("error" in answer), answer
        if wad_text.has_lone_surrogate(request):
            assert answer["error"]["code"] == "bad_json", answer
        else:
            assert answer.get("error", {}).get("code") != "internal", (request, answer)
        # The same connection still answers.
        assert conn.ask(b'{"id": 0, "method": "status"}')["result"]

    try:
        check()
        # The issue's own example.
        assert conn.ask(b'{"id": "\\ud800", "method": "status"}')["error"]["code"] == "bad_json"
    finally:
        conn.close()
    assert process.proc.poll() is None
