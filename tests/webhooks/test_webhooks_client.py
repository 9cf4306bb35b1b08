"""The webhook deliveries' HTTP/1.1 client against real receivers on loopback."""

from __future__ import annotations

from functools import partial

import pytest
import trio
import trio.testing
from wad_plugins.webhooks.client import SNIPPET, DeliveryError, PostClient
from webhook_receiver import Receiver

from wad.net.guard import Guard, parse_networks

LOOPBACK = parse_networks("127.0.0.0/8")


@pytest.fixture
async def receiver(nursery: trio.Nursery) -> Receiver:
    receiver = Receiver()
    await nursery.start(receiver.serve)
    return receiver


def client(guard: Guard | None = None) -> PostClient:
    return PostClient(guard or Guard(LOOPBACK), user_agent="wad-test")


async def test_keeps_one_connection_alive(receiver: Receiver) -> None:
    posts = client()
    for i in range(3):
        answer = await posts.post(
            receiver.url + "/hook?x=1",
            f'{{"n":{i}}}'.encode(),
            [("content-type", "application/json")],
        )
        assert answer.status == 200
    await posts.aclose()
    assert receiver.connections == 1 and posts.connections_opened == 1
    port = receiver.url.rsplit(":", 1)[1]
    assert [r.json["n"] for r in receiver.requests] == [0, 1, 2]
    first = receiver.requests[0]
    assert first.target == "/hook?x=1" and first.headers["host"] == f"127.0.0.1:{port}"
    assert first.headers["user-agent"] == "wad-test"


async def test_refused_before_connecting(receiver: Receiver) -> None:
    with pytest.raises(DeliveryError, match="refused: 127.0.0.1 is a loopback address"):
        await client(Guard()).post(receiver.url + "/hook", b"{}", [])
    assert receiver.connections == 0


async def test_redirect_is_an_answer_not_followed(receiver: Receiver) -> None:
    receiver.answer = lambda n, request: 302
    receiver.extra_headers = [("location", "/elsewhere")]
    answer = await client().post(receiver.url + "/hook", b"{}", [])
    assert (answer.status, answer.location) == (302, "/elsewhere")
    assert [r.target for r in receiver.requests] == ["/hook"]


async def test_connection_close_is_honoured(receiver: Receiver) -> None:
    receiver.extra_headers = [("connection", "close")]
    posts = client()
    for _ in range(2):
        assert (await posts.post(receiver.url + "/", b"{}", [])).status == 200
    assert receiver.connections == 2


async def serve_raw(nursery: trio.Nursery, answer: bytes) -> tuple[str, list[int]]:
    """A server that reads one request per connection, answers ``answer`` (which says
    keep-alive) and then closes: a receiver whose idle timeout beat the client."""
    seen: list[int] = []

    async def handle(stream: trio.SocketStream) -> None:
        seen.append(1)
        data = b""
        while b"\r\n\r\n" not in data:
            data += await stream.receive_some(65536)
        await stream.send_all(answer)
        await stream.aclose()

    listeners = await nursery.start(partial(trio.serve_tcp, host="127.0.0.1"), handle, 0)
    return f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}/hook", seen


async def test_stale_kept_connection_is_replaced(nursery: trio.Nursery) -> None:
    url, seen = await serve_raw(nursery, b"HTTP/1.1 204 No Content\r\n\r\n")
    posts = client()
    for _ in range(3):
        assert (await posts.post(url, b"{}", [])).status == 204
        await trio.testing.wait_all_tasks_blocked()  # the server has closed its side
    assert len(seen) == 3  # each post after the first found its kept connection closed
    assert any(posts._idle.values())  # it was kept (keep-alive answer), so reuse was tried


async def test_long_answer_read_only_in_part(nursery: trio.Nursery) -> None:
    body = b"x" * 300_000
    url, seen = await serve_raw(
        nursery, b"HTTP/1.1 500 Oops\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
    )
    posts = client()
    answer = await posts.post(url, b"{}", [])
    assert answer.status == 500 and answer.body == b"x" * SNIPPET
    assert posts._idle == {} or not any(posts._idle.values())  # not kept for reuse


async def test_nothing_listening_is_a_clear_error() -> None:
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DeliveryError, match=f"cannot connect to 127.0.0.1:{port}"):
        await client().post(f"http://127.0.0.1:{port}/", b"{}", [])
