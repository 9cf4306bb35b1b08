"""Signing secrets at rest: sealed in wad.db under a key in ``secrets.key`` (0600), so the
database files alone reveal none; plain secrets from before are sealed at start and
still sign; a database restored without its key disables what it cannot open."""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
import time
from pathlib import Path

import pytest
import trio
from standardwebhooks import Webhook
from test_webhooks import add_webhook, connected, start, webhooks
from wad_plugins.webhooks import migrations, signing
from wad_plugins.webhooks.sealing import KEY_FILE, SecretBox, Unreadable
from webhook_receiver import Receiver

from wad.config import ConfigError
from wad.engines.simulator.operations import SimulatorOperations
from wad.store import Queries, Store

PHONE = "15550002222"


def database_bytes(state: Path) -> bytes:
    """wad.db with its WAL and shared-memory files, as a copy of the folder would have."""
    return b"".join(p.read_bytes() for p in sorted(state.glob("wad.db*")))


def assert_nowhere(state: Path, secret: str) -> None:
    raw = database_bytes(state)
    key = signing.secret_key(secret)
    assert secret.encode() not in raw
    assert secret.removeprefix("whsec_").encode() not in raw
    assert key not in raw  # nor the HMAC key itself


async def test_no_secret_in_the_database_files(tmp_path: Path, nursery: trio.Nursery) -> None:
    receiver = Receiver()
    await nursery.start(receiver.serve)
    wad = await start(tmp_path, nursery)
    await connected(wad)
    hook = await add_webhook(wad, receiver.url, events=["message"])
    SimulatorOperations(wad.daemon.services).incoming("dev1", PHONE, "signed")
    with trio.fail_after(10):
        await receiver.wait_until(lambda: receiver.answered())
    Webhook(hook["secret"]).verify(receiver.requests[0].body, receiver.requests[0].headers)
    state = wad.daemon.config.state_dir
    assert (state / "wad.db-wal").exists()  # the WAL is checked too, not only wad.db
    assert_nowhere(state, hook["secret"])
    key_file = state / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert hook["secret"].encode() not in key_file.read_bytes()
    await wad.close()


async def old_database(state: Path, url: str) -> tuple[str, str]:
    """A wad.db as the plugin's first schema wrote it: plain secrets, a body per delivery,
    one pending delivery due now, and the secret of a deleted endpoint left in its free
    space. Returns the live secret and the deleted one."""
    state.mkdir(parents=True)
    store = Store(state / "wad.db")
    await store.run(lambda q: q.create_session("dev1"))
    store.migrate_plugin("webhooks", migrations.MIGRATIONS[:1])
    live, deleted = signing.new_secret(), signing.new_secret()
    stamp = "2026-01-01T00:00:00.000Z"
    body = json.dumps(
        {"id": "evt_old", "event": "message", "session": "dev1", "seq": 1, "timestamp": stamp}
        | {"payload": {"text": "from before"}}
    )
    rows = [("wh_" + "1" * 24, url, live)]  # then enough deleted ones to free whole pages
    rows += [(f"wh_{i:024x}", f"{url}/{'x' * 400}", deleted) for i in range(40)]

    def write(q: Queries) -> None:
        for endpoint_id, target, secret in rows:
            q.db.execute(
                "INSERT INTO webhook_endpoints (id, device_id, url, events, secret, created_at,"
                " updated_at) VALUES (?, 'dev1', ?, '[\"message\"]', ?, ?, ?)",
                (endpoint_id, target, secret, stamp, stamp),
            )
        q.db.execute(
            "INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, body, status,"
            " next_attempt_at, created_at, updated_at)"
            " VALUES (?, 'evt_old', 'message', ?, 'pending', ?, ?, ?)",
            ("wh_" + "1" * 24, body, time.time(), stamp, stamp),
        )

    await store.run(write)
    await store.run(
        lambda q: q.db.execute("DELETE FROM webhook_endpoints WHERE secret = ?", (deleted,))
    )
    store.close()
    raw = database_bytes(state)
    assert live.encode() in raw and deleted.encode() in raw  # the test means something
    return live, deleted


async def test_plain_secrets_from_before_are_sealed_and_still_sign(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    receiver = Receiver()
    await nursery.start(receiver.serve)
    state = tmp_path / "state"
    live, deleted = await old_database(state, receiver.url)
    wad = await start(tmp_path, nursery)
    for secret in (live, deleted):
        assert_nowhere(state, secret)
    with trio.fail_after(10):
        await receiver.wait_until(lambda: receiver.answered())
    (request,) = receiver.requests
    payload = Webhook(live).verify(request.body, request.headers)  # the old secret signs
    assert payload["payload"] == {"text": "from before"} and payload["id"] == "evt_old"
    (hook,) = await webhooks(wad).list_webhooks("dev1")
    assert hook["enabled"] and hook["failingSince"] is None
    await wad.close()


async def test_a_database_without_its_key_disables_what_it_cannot_open(
    tmp_path: Path, nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    async with trio.open_nursery() as first:
        wad = await start(tmp_path, first)
        await connected(wad)
        hook = await add_webhook(wad, "http://127.0.0.1:9/hook")
        await wad.close()
    (tmp_path / "state" / KEY_FILE).unlink()  # a backup of wad.db alone, restored
    wad = await start(tmp_path, nursery)
    base = f"/api/sessions/dev1/webhooks/{hook['id']}"
    webhook = (await wad.client.get(base, headers=wad.admin)).json()["webhook"]
    assert webhook["enabled"] is False
    assert webhook["disabledReason"].startswith("its signing secret cannot be decrypted with")
    assert any("1 webhooks disabled" in r.getMessage() for r in caplog.records)
    r = await wad.client.patch(base, headers=wad.admin, json={"enabled": True})
    assert r.status_code == 409 and "delete the webhook and add it again" in r.json()["error"]
    added = await add_webhook(wad, "http://127.0.0.1:9/again")  # under the new key
    assert added["secret"].startswith("whsec_")
    await wad.close()


def test_sealed_secrets_open_only_with_their_key_and_endpoint(tmp_path: Path) -> None:
    box = SecretBox.load(tmp_path / KEY_FILE)
    secret = signing.new_secret()
    sealed = box.seal("wh_a", secret)
    assert sealed.startswith("aesgcm1:") and secret not in sealed
    assert box.seal("wh_a", secret) != sealed  # a fresh nonce each time
    assert box.open("wh_a", sealed) == secret
    assert SecretBox.load(tmp_path / KEY_FILE).open("wh_a", sealed) == secret  # same key
    with pytest.raises(Unreadable):
        box.open("wh_b", sealed)  # copied onto another endpoint's row
    raw = bytearray(base64.urlsafe_b64decode(sealed.removeprefix("aesgcm1:")))
    raw[-1] ^= 1
    with pytest.raises(Unreadable):
        box.open("wh_a", "aesgcm1:" + base64.urlsafe_b64encode(bytes(raw)).decode())
    other = SecretBox.load(tmp_path / "other.key")
    assert not other.opens("wh_a", sealed)
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600


def test_key_file_kept_private_and_checked(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / KEY_FILE
    SecretBox.load(path)
    os.chmod(path, 0o644)
    with caplog.at_level(logging.WARNING):
        SecretBox.load(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "was readable by others" in caplog.text
    path.write_text("not a key\n")
    with pytest.raises(ConfigError, match="is not a key of wad's"):
        SecretBox.load(path)
