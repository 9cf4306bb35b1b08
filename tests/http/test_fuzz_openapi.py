"""Schemathesis against ``/openapi.json`` of a real daemon process, with real credentials:
no answer is a 5xx, every answer's status is documented, and every answer matches
its schema.

Each operation gets the credential it needs: the session's API key where only the
key may act (sending and acting on messages), the admin token everywhere else.
Path parameters named ``device_id`` point at a connected session for the
operations that do not end it, so the fuzzer reaches past "Session not found".
Streams (server-sent events) are left out: they never end.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from conftest import ADMIN_TOKEN, Process, spawn_daemon
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from wad.engines.simulator.engine import CREDENTIALS

DEVICE = "fuzz"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
MAX_EXAMPLES = 25
PEER = "15550002222"
# Operations only the session's own key may call.
KEY_ONLY = re.compile(
    r"^/api/(messages/send|sessions/\{device_id\}/(messages(/\{message_id\}"
    r"(/reaction|/read)?)?|presence|contacts/check))$"
)
# Operations that end or unlink the session: they get whatever deviceId is generated.
DESTRUCTIVE = re.compile(
    r"/(api-key|logout|restart|drop|unlink|replace|ban|silence|keepalive)$|"
    r"^/api/sessions/\{device_id\}$"
)


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Process, str]]:
    tmp = tmp_path_factory.mktemp("fuzz")
    folder = tmp / "state" / "sessions" / DEVICE
    folder.mkdir(parents=True)
    # Already paired with the simulated network: it connects without a QR.
    (folder / CREDENTIALS).write_text(
        '{"phoneNumber": "15550001111", "jid": "15550001111:7@s.whatsapp.net"}'
    )
    process = spawn_daemon(
        tmp,
        "--engine",
        "simulator",
        env={"WAD_SEND_INTERVAL": "0", "WAD_RATELIMIT_PER_MINUTE": "0"},
    )
    r = httpx.post(process.url + "/api/sessions", headers=ADMIN, json={"deviceId": DEVICE})
    assert r.status_code == 201
    key = httpx.put(process.url + f"/api/sessions/{DEVICE}/api-key", headers=ADMIN, json={}).json()[
        "apiKey"
    ]
    yield process, key
    process.stop()
    log = Path(process.log).read_text()
    assert "Traceback" not in log, log[-4000:]


def test_no_server_error_and_answers_match_their_schema(fuzzed) -> None:
    # Schemathesis's pytest plugin does not run on pytest 9: each operation's strategy
    # is driven by Hypothesis here instead, and every failure is collected.
    process, key = fuzzed
    api = schemathesis.openapi.from_url(process.url + "/openapi.json")
    failures: dict[str, str] = {}
    answered: Counter[tuple[str, int]] = Counter()
    tried = 0
    for result in api.exclude(path_regex=r"/events$").get_all_operations():
        operation = result.ok()
        tried += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case) -> None:
            answered[case.operation.label, call(case, process.url, key)] += 1

        try:
            check()
        except Exception as exc:  # one operation's failure must not hide the others'
            failures[operation.label] = f"{type(exc).__name__}: {exc}"[:2000]
    assert tried > 30
    # The fuzzer got past validation and authentication, not only 4xx answers.
    succeeded = {label for (label, status), _ in answered.items() if status < 300}
    assert len(succeeded) >= 16, sorted(answered.items())
    assert not failures, "\n\n".join(f"{k}: {v}" for k, v in failures.items())


def call(case, base_url: str, key: str) -> int:
    path = case.operation.path
    if "device_id" in (case.path_parameters or {}) and not DESTRUCTIVE.search(path):
        case.path_parameters["device_id"] = DEVICE
    if isinstance(case.body, dict):
        if "deviceId" in case.body and path == "/api/messages/send":
            case.body["deviceId"] = DEVICE
        # Half of the phone numbers valid (by the generated value's length), so that
        # requests also get past validation into the session and the engine.
        for name in ("number", "to", "from", "phoneNumber"):
            if name in case.body and len(str(case.body[name])) % 2 == 0:
                case.body[name] = PEER
        if isinstance(case.body.get("numbers"), list) and len(case.body["numbers"]) % 2:
            case.body["numbers"] = [PEER, "15550000000"]
        if isinstance(case.body.get("replyTo"), str) and len(case.body["replyTo"]) % 2:
            del case.body["replyTo"]
    headers = {"Authorization": f"Bearer {key}"} if KEY_ONLY.match(path) else ADMIN
    response = case.call(base_url=base_url, headers=headers, timeout=30)
    case.validate_response(
        response,
        checks=[
            not_a_server_error,
            status_code_conformance,
            response_schema_conformance,
            content_type_conformance,
        ],
    )
    return response.status_code
