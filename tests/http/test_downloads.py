"""Stored bytes are served as downloads: safe names, inert types, strict headers."""

from __future__ import annotations

import base64

import pytest
from conftest import Running

from wad.http import downloads


@pytest.mark.parametrize(
    ("claimed", "served"),
    [
        ("image/png", "image/png"),
        ("IMAGE/JPEG; charset=x", "image/jpeg"),
        ("audio/ogg; codecs=opus", "audio/ogg"),
        ("video/mp4", "video/mp4"),
        ("image/svg+xml", "application/octet-stream"),
        ("text/html", "application/octet-stream"),
        ("application/xhtml+xml", "application/octet-stream"),
        ("video/x+xml", "application/octet-stream"),
        ("application/pdf", "application/octet-stream"),
        ("text/plain", "application/octet-stream"),
        ("", "application/octet-stream"),
        (None, "application/octet-stream"),
    ],
)
def test_only_inline_safe_types_keep_their_type(claimed: str | None, served: str) -> None:
    assert downloads.content_type(claimed) == served


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\evil.exe", "evil.exe"),
        ('a"; filename=evil.exe', 'a"; filename=evil.exe'),  # quoted below, never raw
        ("line\r\nSet-Cookie: x=1", "lineSet-Cookie: x=1"),
        ("\u202eexe.pdf", "exe.pdf"),  # a right-to-left override hides the real extension
        ("...hidden", "hidden"),
        ("\x00", ""),
        ("", ""),
        (None, ""),
        ("x" * 300, "x" * downloads.MAX_NAME),
    ],
)
def test_names_lose_what_could_be_misread(name: str | None, safe: str) -> None:
    assert downloads.safe_name(name) == safe


def test_disposition_is_an_attachment_with_an_rfc6266_name() -> None:
    assert downloads.content_disposition("report.pdf") == 'attachment; filename="report.pdf"'
    header = downloads.content_disposition('a"; filename=evil.exe')
    assert (
        header
        == "attachment; filename=\"a_; filename=evil.exe\"; filename*=UTF-8''a%22%3B%20filename%3Devil.exe"
    )
    header = downloads.content_disposition("façade 50%.pdf")
    assert header == (
        "attachment; filename=\"fa_ade 50_.pdf\"; filename*=UTF-8''fa%C3%A7ade%2050%25.pdf"
    )
    assert "\r" not in header and "\n" not in header


def test_a_file_without_a_name_gets_one_from_its_message() -> None:
    assert downloads.fallback_name("3EB0AA", "application/pdf") == "3EB0AA.pdf"
    assert downloads.fallback_name("3EB0AA", "x/unknown") == "3EB0AA.bin"
    assert downloads.fallback_name("../", None) == "file.bin"


async def test_the_media_route_answers_a_download(wad: Running) -> None:
    key = await wad.connected_key()
    name = 'Résumé"\u202e.html'
    r = await wad.client.post(
        "/api/simulator/sessions/dev1/incoming",
        headers=wad.admin,
        json={
            "from": "15550002222",
            "type": "document",
            "media": {
                "data": base64.b64encode(b"<script>alert(1)</script>").decode(),
                "mimetype": "text/html",
                "fileName": name,
            },
        },
    )
    assert r.status_code == 200, r.text
    auth = {"Authorization": f"Bearer {key}"}
    (message,) = (await wad.client.get("/api/sessions/dev1/messages", headers=auth)).json()[
        "messages"
    ]
    for headers in (auth, wad.admin):
        r = await wad.client.get(
            f"/api/sessions/dev1/messages/{message['id']}/media", headers=headers
        )
        assert r.status_code == 200 and r.content == b"<script>alert(1)</script>"
        assert r.headers["content-type"] == "application/octet-stream"
        assert r.headers["content-disposition"] == (
            "attachment; filename=\"R_sum__.html\"; filename*=UTF-8''R%C3%A9sum%C3%A9%22.html"
        )
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["content-security-policy"] == "default-src 'none'; sandbox"
