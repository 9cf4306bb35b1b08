"""A bare quart-trio JSON endpoint on hypercorn, served as wad serves its app: the
yardstick of the send benchmark. ``python bare_app.py PORT``."""

from __future__ import annotations

import sys
import time

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from quart import request
from quart_trio import QuartTrio

app = QuartTrio("bare")


@app.post("/api/messages/send")
async def send():
    data = await request.get_json()
    return {
        "success": True,
        "status": "sent",
        "to": data.get("number"),
        "message": data.get("message"),
        "id": "3EB0BARE",
        "timestamp": int(time.time()),
    }


@app.get("/healthz")
async def healthz():
    return {"status": "ok"}


if __name__ == "__main__":
    config = Config()
    config.bind = [f"127.0.0.1:{sys.argv[1]}"]
    config.accesslog = None
    config.include_server_header = False
    trio.run(serve, app, config)
