"""Stored bytes served back: always a download, never active content on wad's origin.

A file's type and name come from whoever sent it (a WhatsApp contact, a key
holder): neonize passes the sender's mimetype through unchecked. Served as they
are, a ``text/html`` or ``image/svg+xml`` "document" would run its script on
the dashboard's origin with the admin's cookie. So every route that answers
with stored bytes answers through :func:`attachment`:

- ``Content-Disposition: attachment`` with a name made safe here (no path, no
  quote, no control or bidi character; RFC 6266 ``filename*`` for non-ASCII);
- the claimed type only when it is on a short list of types a browser shows
  without running anything (images other than SVG, audio, video), else
  ``application/octet-stream``;
- ``X-Content-Type-Options: nosniff`` and ``Content-Security-Policy:
  default-src 'none'; sandbox``, so that even a browser that renders the bytes
  gives them no script, no origin and nothing to load.
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from collections.abc import AsyncIterable
from urllib.parse import quote

from quart import Response

OCTET_STREAM = "application/octet-stream"

# Listed one by one, never by prefix: Chromium renders any type ending in "+xml"
# as an XML document (which may hold script), whatever its top-level type.
INLINE_SAFE = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "image/avif",
        "image/bmp",
        "image/heic",
        "image/heif",
        "audio/ogg",
        "audio/opus",
        "audio/mpeg",
        "audio/mp4",
        "audio/aac",
        "audio/amr",
        "audio/wav",
        "audio/webm",
        "audio/flac",
        "video/mp4",
        "video/3gpp",
        "video/webm",
        "video/ogg",
        "video/quicktime",
        "video/mpeg",
    }
)

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "private, no-cache",
}

MAX_NAME = 150  # characters kept of a file name (browsers and file systems differ)
# What RFC 5987 allows unescaped in filename*, besides letters and digits.
_ATTR_CHARS = "!#$&+-.^_`|~"
_EXTENSION = re.compile(r"\.[a-z0-9]{1,8}")


def content_type(claimed: str | None) -> str:
    """The type to answer with: the claimed one (without parameters) when it is
    inline-safe, else ``application/octet-stream``."""
    essence = (claimed or "").split(";", 1)[0].strip().lower()
    return essence if essence in INLINE_SAFE else OCTET_STREAM


def safe_name(name: str | None) -> str:
    """A file name with nothing a header or a file system could misread: the last
    path segment, without control, format (bidi overrides) or separator characters,
    without leading dots; empty when nothing is left."""
    if not name:
        return ""
    name = re.split(r"[/\\]", name)[-1]
    kept = "".join(
        c
        for c in unicodedata.normalize("NFC", name)
        if c == " " or unicodedata.category(c)[0] not in ("C", "Z")
    )
    kept = kept.strip().lstrip(".").strip()
    return kept[:MAX_NAME]


def fallback_name(stem: str, claimed: str | None) -> str:
    """A name for a file that came without one: ``stem`` and the claimed type's
    usual extension (``.bin`` when it has none)."""
    essence = (claimed or "").split(";", 1)[0].strip().lower()
    extension = mimetypes.guess_extension(essence) or ""
    if not _EXTENSION.fullmatch(extension):
        extension = ".bin"
    return (safe_name(stem) or "file") + extension


def content_disposition(name: str) -> str:
    """``attachment`` with an ASCII ``filename`` and, when the name is not plain
    ASCII, its UTF-8 form in ``filename*`` (RFC 6266 section 4.3)."""
    ascii_name = "".join(c if " " <= c < "\x7f" and c not in '"\\%' else "_" for c in name)
    value = f'attachment; filename="{ascii_name}"'
    if ascii_name != name:
        value += f"; filename*=UTF-8''{quote(name, safe=_ATTR_CHARS)}"
    return value


def attachment(
    chunks: AsyncIterable[bytes],
    size: int,
    claimed_type: str | None,
    file_name: str | None,
    stem: str,
) -> Response:
    """Stored bytes as a download (see the module's docstring); ``stem`` names a
    file that has no (usable) name of its own."""
    name = safe_name(file_name) or fallback_name(stem, claimed_type)
    headers = {
        **HEADERS,
        "Content-Length": str(size),
        "Content-Disposition": content_disposition(name),
    }
    return Response(chunks, mimetype=content_type(claimed_type), headers=headers)
