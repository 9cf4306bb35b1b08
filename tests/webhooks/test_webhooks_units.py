"""The webhook plugin's parts on their own: signatures, settings, its migrations."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import make_config
from standardwebhooks import Webhook
from wad_plugins.webhooks import migrations, signing
from wad_plugins.webhooks.settings import Settings, parse_schedule

from wad.config import ConfigError
from wad.store import Store


def test_signature_matches_standard_webhooks() -> None:
    secret = signing.new_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 24
    assert signing.new_secret() != secret
    body = json.dumps(
        {"id": "evt_1", "event": "message", "payload": {"text": "héllo"}}, ensure_ascii=False
    ).encode()
    headers = signing.headers(signing.secret_key(secret), "evt_1", 1_700_000_000, body)
    expected = Webhook(secret).sign(
        "evt_1", datetime.fromtimestamp(1_700_000_000, UTC), body.decode()
    )
    assert headers["webhook-signature"] == expected
    assert headers["webhook-id"] == "evt_1" and headers["webhook-timestamp"] == "1700000000"


def test_retry_schedule() -> None:
    assert parse_schedule("5s,5m,30m,2h,5h,10h") == (5, 300, 1800, 7200, 18000, 36000)
    assert parse_schedule(" 250ms , 1.5s, 2, 1d ") == (0.25, 1.5, 2, 86400)
    assert parse_schedule("") == () and parse_schedule(["1s", "2m"]) == (1, 120)
    for bad, message in (
        ("5x", "not a delay"),
        ("0s", "above 0"),
        ("8d", "at most 7 days"),
        (",".join(["1s"] * 21), "at most 20"),
    ):
        with pytest.raises(ValueError, match=message):
            parse_schedule(bad)


def test_settings_defaults_file_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (
        "ALLOW_NETWORKS",
        "RETRY_SCHEDULE",
        "TIMEOUT",
        "DISABLE_AFTER",
        "DISABLE_AFTER_TIME",
        "MAX_PENDING",
    ):
        monkeypatch.delenv(f"WAD_WEBHOOK_{name}", raising=False)
    config = make_config(tmp_path)
    defaults = Settings.load(config)
    assert defaults.retry_schedule == (5, 300, 1800, 7200, 18000, 36000)
    assert (
        defaults.allow_networks,
        defaults.timeout,
        defaults.concurrency,
        defaults.endpoint_concurrency,
        defaults.disable_after,
        defaults.disable_after_time,
        defaults.max_pending,
        defaults.log_keep,
    ) == ((), 10.0, 64, 16, 20, 6 * 3600, 10_000, 1000)
    config.plugin_settings["webhooks"] = {
        "allow_networks": ["127.0.0.0/8"],
        "timeout": 3,
        "retry_schedule": "1s",
    }
    from_file = Settings.load(config)
    assert [str(n) for n in from_file.allow_networks] == ["127.0.0.0/8"]
    assert from_file.timeout == 3.0 and from_file.retry_schedule == (1.0,)
    monkeypatch.setenv("WAD_WEBHOOK_ALLOW_NETWORKS", "10.0.0.0/8,::1/128")
    monkeypatch.setenv("WAD_WEBHOOK_RETRY_SCHEDULE", "1m,2m")
    from_env = Settings.load(config)  # the environment wins over the file
    assert [str(n) for n in from_env.allow_networks] == ["10.0.0.0/8", "::1/128"]
    assert from_env.retry_schedule == (60, 120)
    monkeypatch.setenv("WAD_WEBHOOK_RETRY_SCHEDULE", "soon")
    with pytest.raises(ConfigError, match="webhooks.retry_schedule"):
        Settings.load(config)
    monkeypatch.setenv("WAD_WEBHOOK_RETRY_SCHEDULE", "1s")
    monkeypatch.setenv("WAD_WEBHOOK_DISABLE_AFTER", "0")
    with pytest.raises(ConfigError, match="webhooks.disable_after"):
        Settings.load(config)
    monkeypatch.delenv("WAD_WEBHOOK_DISABLE_AFTER")
    monkeypatch.setenv("WAD_WEBHOOK_DISABLE_AFTER_TIME", "90m")
    monkeypatch.setenv("WAD_WEBHOOK_MAX_PENDING", "500")
    tuned = Settings.load(config)
    assert (tuned.disable_after_time, tuned.max_pending) == (5400, 500)
    for variable, bad in (("DISABLE_AFTER_TIME", "soon"), ("MAX_PENDING", "0")):
        monkeypatch.setenv(f"WAD_WEBHOOK_{variable}", bad)
        with pytest.raises(ConfigError, match=f"webhooks.{variable.lower()}"):
            Settings.load(config)
        monkeypatch.delenv(f"WAD_WEBHOOK_{variable}")


def test_plugin_migrations_apply_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "wad.db")
    n = len(migrations.MIGRATIONS)
    assert store.migrate_plugin("webhooks", migrations.MIGRATIONS) == n
    assert store.migrate_plugin("webhooks", migrations.MIGRATIONS) == n  # nothing to do again
    later = [*migrations.MIGRATIONS, "ALTER TABLE webhook_endpoints ADD COLUMN note TEXT"]
    assert store.migrate_plugin("webhooks", later) == n + 1
    store.close()
    store = Store(tmp_path / "wad.db")  # the version is kept in the database
    assert store.migrate_plugin("webhooks", later) == n + 1
    assert (
        store.connection.db.execute(
            "SELECT version FROM plugin_schema WHERE name = 'webhooks'"
        ).fetchone()[0]
        == n + 1
    )
    store.close()
