"""A Python client generated from the live document walks the seed flow.

``openapi-python-client`` (test extra) generates a package from ``/openapi.json`` of a
real daemon (simulator engine) into the test's folder, with ``--fail-on-warning``:
a response it cannot type, a duplicate model or an unknown content type fails
here. The test then imports it and uses nothing else to create a session, read its
QR code, have the virtual phone scan it, set the key, send, page through the
messages, resend idempotently, upload and download media, and get the expected
errors back as typed ``Error`` answers with their codes.
"""

from __future__ import annotations

import importlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from conftest import ADMIN_TOKEN, Process, spawn_daemon
from event_stream import SessionEvents

pytestmark = pytest.mark.slow

PACKAGE = "wad_walk_client"
CONFIG = f"""\
project_name_override: wad-walk-client
package_name_override: {PACKAGE}
# The media download answers in the file's own type (documented as */*).
content_type_overrides:
  "*/*": application/octet-stream
"""
DEVICE = "walk"
PEER = "15550002222"


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Process]:
    process = spawn_daemon(tmp_path, "--engine", "simulator", env={"WAD_SEND_INTERVAL": "0"})
    yield process
    process.stop()


def generate(url: str, folder: Path) -> dict[str, ModuleType]:
    """Generate the client from the live document; import the modules the walk uses."""
    document = folder / "openapi.json"
    document.write_bytes(httpx.get(url + "/openapi.json").content)
    (folder / "config.yaml").write_text(CONFIG)
    bin_dir = str(Path(sys.executable).parent)  # the generator formats with ruff from here
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(document),
            "--meta",
            "none",
            "--output-path",
            str(folder / PACKAGE),
            "--config",
            str(folder / "config.yaml"),
            "--fail-on-warning",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
    sys.path.insert(0, str(folder))
    names = [
        "",
        ".models",
        ".types",
        ".api.sessions.create_session",
        ".api.sessions.get_session_qr",
        ".api.sessions.set_api_key",
        ".api.sessions.list_sessions",
        ".api.simulator.simulator_scan",
        ".api.simulator.simulator_sent",
        ".api.messages.send_message",
        ".api.messages.list_messages",
        ".api.messages.download_media",
        ".api.events.list_session_events",
        ".api.system.get_health",
        ".api.chats.list_chats",
        ".api.contacts.block_contact",
        ".api.profile.update_profile",
        ".api.contacts_and_groups.create_group",
        ".api.contacts_and_groups.promote_group_participants",
        ".api.messages.send_poll",
        ".api.messages.get_poll_tally",
        ".api.simulator.simulator_contact_votes",
    ]
    return {
        name.rsplit(".", 1)[-1] or "client": importlib.import_module(PACKAGE + name)
        for name in names
    }


@pytest.fixture
def client(daemon: Process, tmp_path: Path) -> Iterator[dict[str, ModuleType]]:
    modules = generate(daemon.url, tmp_path)
    yield modules
    sys.path.remove(str(tmp_path))
    for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
        del sys.modules[name]


def test_generated_client_walks_the_seed_flow(daemon: Process, client: dict[str, Any]) -> None:
    c, m = client, client["models"]
    admin = c["client"].AuthenticatedClient(base_url=daemon.url, token=ADMIN_TOKEN)
    anonymous = c["client"].Client(base_url=daemon.url)
    health = c["get_health"].sync(client=anonymous)
    assert isinstance(health, m.Health) and health.status == "ok"

    # Create, read the QR code, scan it with the virtual phone.
    with SessionEvents(daemon.url, DEVICE) as events:
        created = c["create_session"].sync(client=admin, body=m.CreateSession(device_id=DEVICE))
        assert isinstance(created, m.SessionCreated) and created.device_id == DEVICE
        events.wait_state("waiting_qr")
        qr = c["get_session_qr"].sync(DEVICE, client=admin)
        assert isinstance(qr, m.QrCode) and qr.qr_image.startswith("data:image/png;base64,")
        scanned = c["simulator_scan"].sync(
            DEVICE, client=admin, body=m.PhoneScan(phone_number="15550001111")
        )
        assert isinstance(scanned, m.Ok)
        events.wait_state("connected")

    # An expected conflict is a typed error, with its code.
    again = c["create_session"].sync_detailed(client=admin, body=m.CreateSession(device_id=DEVICE))
    assert again.status_code == 409 and isinstance(again.parsed, m.Error)
    assert again.parsed.code == m.ErrorCode.CONFLICT and again.parsed.success is False

    key = c["set_api_key"].sync(DEVICE, client=admin, body=m.SetApiKey())
    assert isinstance(key, m.ApiKeySet) and key.api_key.startswith("wad_")
    sender = c["client"].AuthenticatedClient(base_url=daemon.url, token=key.api_key)
    refused = c["list_sessions"].sync_detailed(client=sender)
    assert refused.status_code == 403 and refused.parsed.code == m.ErrorCode.FORBIDDEN

    # Send three texts, then page through them two at a time, newest first.
    sent_ids = []
    for n in range(3):
        sent = c["send_message"].sync(
            DEVICE, client=sender, body=m.SendMessage(to=PEER, text=f"walk {n}")
        )
        assert isinstance(sent, m.MessageSent) and sent.status == "sent"
        sent_ids.append(sent.id)
    first = c["list_messages"].sync(DEVICE, client=sender, limit=2)
    assert isinstance(first, m.MessagePage)
    assert [x.id for x in first.messages] == sent_ids[:0:-1]
    assert first.messages[0].created_at.tzinfo is not None  # parsed as date-time
    second = c["list_messages"].sync(
        DEVICE,
        client=sender,
        limit=2,
        before=first.next_before,
        direction=m.ListMessagesDirection.OUT,
    )
    assert [x.id for x in second.messages] == sent_ids[:1] and isinstance(
        second.next_before, type(None)
    )

    # The same Idempotency-Key: the first answer again, one message on the phone.
    body = m.SendMessage(to=PEER, text="your order shipped")
    one = c["send_message"].sync(DEVICE, client=sender, body=body, idempotency_key="order-42")
    two = c["send_message"].sync(DEVICE, client=sender, body=body, idempotency_key="order-42")
    assert isinstance(two, m.MessageSent) and two.id == one.id
    other = c["send_message"].sync_detailed(
        DEVICE,
        client=sender,
        body=m.SendMessage(to=PEER, text="another body"),
        idempotency_key="order-42",
    )
    assert other.status_code == 409 and isinstance(other.parsed, m.Error)
    assert "Idempotency-Key" in other.parsed.error

    # A multipart upload, and its file downloaded back byte for byte.
    picture = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    upload = m.SendUpload(
        type_=m.SendUploadType.IMAGE,
        to=PEER,
        file=c["types"].File(payload=io.BytesIO(picture), file_name="a.png", mime_type="image/png"),
        caption="a picture",
    )
    uploaded = c["send_message"].sync(DEVICE, client=sender, body=upload)
    assert isinstance(uploaded, m.MessageSent) and uploaded.type_ == "image"
    media = c["download_media"].sync(DEVICE, uploaded.id, client=sender)
    assert isinstance(media, c["types"].File) and media.payload.read() == picture

    received = c["simulator_sent"].sync(DEVICE, client=admin)
    texts = [x.additional_properties.get("text") for x in received.messages]
    assert texts.count("your order shipped") == 1 and "walk 2" in texts
    assert received.messages[-1].additional_properties["caption"] == "a picture"

    # The session's events, typed by the discriminated union.
    history = c["list_session_events"].sync(DEVICE, client=admin, types="session.status")
    assert history.events and all(isinstance(e, m.SessionStatusEvent) for e in history.events)
    assert history.events[0].payload.state == m.State.CONNECTED

    # Contacts and chats, profile (issue 18): typed pages and bodies.
    chats = c["list_chats"].sync(DEVICE, client=sender, limit=1)
    assert isinstance(chats, m.ChatPage) and chats.chats[0].jid == f"{PEER}@s.whatsapp.net"
    assert chats.chats[0].last_message.body == "a picture" and chats.next_cursor is None
    blocked = c["block_contact"].sync(DEVICE, client=sender, body=m.JidBody(jid=PEER))
    assert isinstance(blocked, m.Blocked) and blocked.jids == [f"{PEER}@s.whatsapp.net"]
    refused = c["send_message"].sync_detailed(
        DEVICE, client=sender, body=m.SendMessage(to=PEER, text="blocked")
    )
    assert refused.status_code == 409 and refused.parsed.code == m.ErrorCode.CONFLICT
    about = c["update_profile"].sync(DEVICE, client=sender, body=m.ProfileUpdate(about="walking"))
    assert isinstance(about, m.OwnProfile) and about.about == "walking"

    # A group, a promotion with its per-participant result, a poll and its tally.
    group = c["create_group"].sync(
        DEVICE, client=sender, body=m.CreateGroup(subject="Walkers", participants=[PEER])
    )
    assert isinstance(group, m.GroupCreated) and group.participants[0].status == 200
    promoted = c["promote_group_participants"].sync(
        DEVICE, group.group.id, client=sender, body=m.Participants(participants=[PEER])
    )
    assert isinstance(promoted, m.ParticipantsChanged) and promoted.results[0].status == 200
    poll = c["send_poll"].sync(
        DEVICE,
        client=sender,
        body=m.SendPoll(to=group.group.id, question="Walk again?", options=["Yes", "No"]),
    )
    assert isinstance(poll, m.MessageSent) and poll.type_ == "poll"
    with SessionEvents(daemon.url, DEVICE) as events:
        voted = c["simulator_contact_votes"].sync(
            DEVICE, client=admin, body=m.ContactVote(from_=PEER, message_id=poll.id, options=["No"])
        )
        assert isinstance(voted, m.Ok)
        events.wait_for("poll.vote")
    tally = c["get_poll_tally"].sync(DEVICE, poll.id, client=sender)
    assert isinstance(tally, m.PollTallyAnswer)
    assert [(o.name, o.votes) for o in tally.poll.options] == [("Yes", 0), ("No", 1)]
    assert tally.poll.votes[0].voter.phone == f"{PEER}@s.whatsapp.net"
