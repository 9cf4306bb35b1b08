"""A webhook receiver for the fan-out benchmark, in a process of its own:
``python receiver.py`` prints its URL, answers 200 to every POST, and for each
``message`` event notes the delay from the time written in the message's text
(``t=<unix time>``) to its arrival. When stdin closes it prints the delays as JSON."""

from __future__ import annotations

import json
import sys
import time

import h11
import trio

delays: list[float] = []


async def handle(stream: trio.SocketStream) -> None:
    conn = h11.Connection(h11.SERVER)
    body = bytearray()
    try:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await stream.receive_some(65536)
                if not data:
                    return
                conn.receive_data(data)
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                arrived = time.time()
                payload = json.loads(body)
                text = payload.get("payload", {}).get("text", "")
                if payload.get("event") == "message" and text.startswith("t="):
                    delays.append(arrived - float(text[2:]))
                body.clear()
                out = conn.send(h11.Response(status_code=200, headers=[("content-length", "0")]))
                out += conn.send(h11.EndOfMessage())
                await stream.send_all(out)
                conn.start_next_cycle()
            elif isinstance(event, h11.ConnectionClosed):
                return
    except (trio.BrokenResourceError, h11.ProtocolError):
        return


async def main() -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    print(f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}/hook", flush=True)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, handle, listeners)
        await trio.to_thread.run_sync(sys.stdin.read, abandon_on_cancel=True)
        nursery.cancel_scope.cancel()
    print(json.dumps(delays), flush=True)


if __name__ == "__main__":
    trio.run(main)
