"""The files of sends that are refused or fail are deleted; a sent message keeps its own.
A real daemon with the simulator; the session's media folder is looked at on disk."""

from __future__ import annotations

import base64
from pathlib import Path

import trio
import trio.testing
from conftest import Running, make_config, start_daemon

from wad.engines.simulator.engine import SimulatorEngine

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 64).decode()


def image(to: str = "15550002222", data: str = PNG) -> dict[str, object]:
    return {"to": to, "type": "image", "media": {"data": data, "mimetype": "image/png"}}


def files(wad: Running) -> list[str]:
    folder = wad.daemon.supervisor.folder("d") / "media"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


async def test_refused_and_failed_sends_leave_no_file(wad: Running) -> None:
    auth = {"Authorization": f"Bearer {await wad.connected_key('d')}"}
    send = "/api/sessions/d/messages"
    r = await wad.client.post(send, headers=auth, json=image(data="not base64!"))
    assert r.status_code == 400 and files(wad) == []
    # The engine refuses it after the file was saved: not on WhatsApp.
    r = await wad.client.post(send, headers=auth, json=image(to="15550000000"))
    assert r.status_code == 400 and files(wad) == []
    (failed,) = await wad.daemon.store.read(lambda q: q.list_messages("d", "out", None, 10))
    assert failed["status"] == "failed" and failed["hasMedia"] is False
    r = await wad.client.get(f"/api/sessions/d/messages/{failed['id']}/media", headers=auth)
    assert r.status_code == 404
    # A multipart upload refused for a field checked after it was saved.
    r = await wad.client.post(
        send,
        headers=auth,
        data={"to": "15550002222", "type": "image", "caption": "x" * 2000},
        files={"file": ("a.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png")},
    )
    assert r.status_code == 400 and files(wad) == []
    # A sent one keeps its file (it is served back).
    r = await wad.client.post(send, headers=auth, json=image())
    assert r.status_code == 200 and len(files(wad)) == 1


async def test_a_send_refused_by_the_pace_leaves_no_file(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    config = make_config(tmp_path)
    config.plugin_settings["ratelimit"] = {
        "send_interval": 3600,
        "send_queue": 1,
        "per_minute": 100_000,
    }
    wad = await start_daemon(nursery, config, SimulatorEngine())
    auth = {"Authorization": f"Bearer {await wad.connected_key('d')}"}
    send = "/api/sessions/d/messages"
    assert (await wad.client.post(send, headers=auth, json=image())).status_code == 200

    async def waits_its_turn() -> None:
        await wad.client.post(send, headers=auth, json=image())

    async with trio.open_nursery() as waiting:
        waiting.start_soon(waits_its_turn)
        await trio.testing.wait_all_tasks_blocked(cushion=0.05)  # it waits for its slot
        assert len(files(wad)) == 2  # the sent one, and the one waiting with its file
        r = await wad.client.post(send, headers=auth, json=image())
        assert r.status_code == 429
        assert len(files(wad)) == 2
        waiting.cancel_scope.cancel()
    await wad.close()
